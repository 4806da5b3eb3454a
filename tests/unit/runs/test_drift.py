"""Drift assessments without I/O: durations, what counts as drift in a plan's summary, where
an assessment lands, exit codes, the schedule's spread, the unlocked plan, the webhook body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tfctl import errors, notify
from tfctl.persistence.kinds import RunStatus
from tfctl.runs.drift import (
    Assessment,
    Differences,
    exit_code,
    first_offset,
    landing,
    parse_duration,
)
from tfctl.terraform.commands import PlanOptions, plan_argv
from tfctl.terraform.summary import summarize_plan


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("600", 600), ("2.5s", 2.5),
     (" 2m ", 120)],
)  # fmt: skip
def test_durations_read_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "5x", "1.5h", "nan", "inf", "-5", "h", "1d"])
def test_a_bad_duration_is_refused_naming_the_option_and_value(text: str) -> None:
    with pytest.raises(errors.InvalidInput) as refused:
        parse_duration(text)
    assert refused.value.message.startswith(f"--assess-every {text!r}: expected a duration")


def change(address: str, actions: list[str], **extra: Any) -> dict[str, Any]:
    """One entry of `show -json`'s resource_changes / resource_drift."""
    kind, name = address.split(".")[-2:]
    return {"address": address, "mode": "managed", "type": kind, "name": name,
            "change": {"actions": actions, "before": {}, "after": {}}, **extra}  # fmt: skip


def summary(
    changes: list[dict[str, Any]] = [],  # noqa: B006 - read only
    drift: list[dict[str, Any]] = [],  # noqa: B006
    outputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    doc = {"format_version": "1.2", "planned_values": {}, "resource_changes": changes,
           "resource_drift": drift, "output_changes": outputs or {}}  # fmt: skip
    return summarize_plan(doc).to_json_dict()


def test_changes_outside_and_changes_to_make_are_told_apart() -> None:
    found = Differences.of(summary(
        changes=[change("terraform_data.a", ["update"]), change("terraform_data.b", ["no-op"]),
                 change("terraform_data.c", ["delete", "create"])],
        drift=[change("terraform_data.a", ["update"])],
        outputs={"paths": {"actions": ["update"], "before": 1, "after": 2}},
    ))  # fmt: skip
    assert found.changed_outside == ({"address": "terraform_data.a", "action": "update"},)
    assert found.would_change == (
        {"address": "terraform_data.a", "action": "update"},
        {"address": "terraform_data.c", "action": "replace"},
    )
    assert found.outputs == ("paths",)
    assert found.counts() == {"changed_outside": 1, "would_change": 2, "outputs": 1}


def test_a_move_is_a_change_to_make_but_not_drift() -> None:
    moved = change("terraform_data.new", ["no-op"], previous_address="terraform_data.old")
    found = Differences.of(summary(changes=[moved], drift=[moved]))
    assert found.changed_outside == ()
    assert found.would_change == ({"address": "terraform_data.new", "action": "move"},)


def test_nothing_to_do_is_no_difference() -> None:
    assert not Differences.of(summary(changes=[change("terraform_data.a", ["no-op"])]))
    assert not Differences.of(None)


def test_the_same_drift_has_the_same_fingerprint_whatever_the_order() -> None:
    a, b = change("terraform_data.a", ["update"]), change("terraform_data.b", ["create"])
    first = Differences.of(summary(changes=[a, b]))
    assert first.fingerprint() == Differences.of(summary(changes=[b, a])).fingerprint()
    other = Differences.of(summary(changes=[a, change("terraform_data.b", ["delete"])]))
    assert other.fingerprint() != first.fingerprint()
    outside = Differences.of(summary(drift=[a, b]))
    assert outside.fingerprint() != first.fingerprint()


def test_an_assessment_lands_in_sync_drifted_or_void() -> None:
    assert landing(summary(), None) == (RunStatus.NO_CHANGES, None)
    drifted = summary(changes=[change("terraform_data.a", ["create"])])
    assert landing(drifted, None) == (RunStatus.DRIFTED, None)
    status, message = landing(drifted, "apply run-1 was running")
    assert status is RunStatus.SUPERSEDED
    assert (
        message == "superseded: apply run-1 was running while it was assessed; its result is void"
    )


@pytest.mark.parametrize(
    ("results", "code"),
    [(["in_sync", "skipped", "queued"], 0), (["in_sync", "drifted"], 2),
     (["drifted", "failed", "in_sync"], 1), ([], 0)],
)  # fmt: skip
def test_drift_check_exit_codes(results: list[str], code: int) -> None:
    assert exit_code(Assessment(f"w{i}", r) for i, r in enumerate(results)) == code


def test_first_assessments_spread_over_the_interval() -> None:
    offsets = [first_offset(f"ws-{i:04d}", 600).total_seconds() for i in range(200)]
    assert all(0 <= o < 600 for o in offsets)
    assert len({int(o // 60) for o in offsets}) == 10  # every tenth of the interval has some
    assert first_offset("ws-0001", 600) == first_offset("ws-0001", 600)  # stable per workspace


def test_an_assessment_plans_without_taking_the_state_lock() -> None:
    argv = plan_argv("terraform", PlanOptions(out="p", detailed_exitcode=True, lock=False))
    assert argv == ["terraform", "plan", "-input=false", "-no-color", "-detailed-exitcode",
                    "-lock=false", "-out=p"]  # fmt: skip
    assert "-lock=false" not in plan_argv("terraform", PlanOptions(out="p"))
    with pytest.raises(ValueError, match="lock_timeout"):
        PlanOptions(lock=False, lock_timeout=5)


def test_a_webhook_body_names_what_happened_and_links_it() -> None:
    headline = "workspace prod drifted: 1 changed outside tfctl"
    notice = notify.Notice("drift", headline, "prod", "run-01abc", {"changed_outside": 1},
                           {"resources": {"x": []}})  # fmt: skip
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = notify.body(notice, public_url="https://tfctl.example.com/", at=at)
    assert body == {
        "event": "drift",
        "workspace": "prod",
        "run_id": "run-01abc",
        "summary": {"changed_outside": 1},
        "url": "https://tfctl.example.com/infra/terraform/runs/run-01abc",
        "text": "tfctl: workspace prod drifted: 1 changed outside tfctl "
        "https://tfctl.example.com/infra/terraform/runs/run-01abc",
        "at": "2026-01-02T03:04:05+00:00",
        "resources": {"x": []},
    }
    plain = notify.body(notice, public_url=None, at=at)
    assert (plain["url"], plain["text"]) == (None, "tfctl: workspace prod drifted: 1 changed "
                                                   "outside tfctl")  # fmt: skip


def test_a_webhook_url_is_shown_without_its_secret_path() -> None:
    assert notify.masked("https://hooks.slack.com/services/T0/B0/s3cr3t") == (
        "https://hooks.slack.com/…"
    )
    assert notify.masked("http://127.0.0.1:8080/x?token=s3cr3t") == "http://127.0.0.1:8080/…"
