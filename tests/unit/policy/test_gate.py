"""The apply gate over stored policy results: what blocks, what an override lets through, and
what the user is told."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tfctl import errors
from tfctl.policy.gate import blocked_by, enforce, override_record, refusal, report_lines


def policy(level: str, passed: bool | None, *messages: str, **extra: Any) -> dict[str, Any]:
    outcome = {True: "passed", False: "failed", None: "skipped"}[passed]
    return {"attachment_id": f"pol-{level}", "policy": f"/p/{level}.rego", "level": level,
            "outcome": outcome, "passed": passed, "messages": list(messages), "warnings": [],
            "changed_since_attach": False, **extra}  # fmt: skip


def results(*policies: dict[str, Any], engine: str | None = "regorus", **extra: Any) -> Any:
    status = "skipped" if engine is None else "passed"
    if engine and any(p["passed"] is False for p in policies):
        status = "failed"
    return {"status": status, "engine": engine, "duration_ms": 4.2, "engine_required": False,
            "warning": None if engine else "no Rego engine", "policies": list(policies),
            **extra}  # fmt: skip


def test_nothing_attached_or_all_passed_does_not_block() -> None:
    assert blocked_by(None, require_engine=True) is None
    assert blocked_by({"override": {}}, require_engine=True) is None
    assert blocked_by(results(policy("hard_mandatory", True)), require_engine=False) is None


def test_an_advisory_failure_never_blocks() -> None:
    assert blocked_by(results(policy("advisory", False, "no")), require_engine=False) is None


def test_a_hard_failure_blocks_before_a_soft_one_and_cannot_be_overridden() -> None:
    found = results(policy("soft_mandatory", False, "s"), policy("hard_mandatory", False, "h"))
    block = blocked_by(found, require_engine=False)
    assert block is not None
    assert block.kind == "hard_mandatory"
    assert not block.overridable
    with pytest.raises(errors.PolicyBlocked, match="cannot be overridden") as raised:
        enforce(found, plan_id="run-1", workspace="dev", override_reason="please",
                require_engine=False)  # fmt: skip
    assert raised.value.exit_code == 3
    assert "/p/hard_mandatory.rego failed: h" in str(raised.value)


def test_a_soft_failure_needs_an_override_reason() -> None:
    found = results(policy("soft_mandatory", False, "too big"), policy("advisory", False, "x"))
    with pytest.raises(errors.PolicyBlocked, match="--override-policy --reason") as raised:
        enforce(found, plan_id="run-1", workspace="dev", override_reason=None,
                require_engine=False)  # fmt: skip
    assert "tfctl apply dev --run run-1" in str(raised.value)
    block = enforce(found, plan_id="run-1", workspace="dev", override_reason="change window",
                    require_engine=False)  # fmt: skip
    assert block is not None
    assert [p["policy"] for p in block.policies] == ["/p/soft_mandatory.rego"]


@pytest.mark.parametrize("outcome", ["errored", "error"])  # "error": stored before 0.x
def test_a_policy_that_errored_fails_closed_at_the_mandatory_levels(outcome: str) -> None:
    for level in ("soft_mandatory", "hard_mandatory"):
        broken = policy(level, False, "evaluation error in /p/x.rego, line 3, column 1: ...")
        broken["outcome"] = outcome
        block = blocked_by(results(broken), require_engine=False)
        assert block is not None
        assert block.kind == level
        assert "      error: evaluation error in /p/x.rego" in report_lines(results(broken))[2]


def test_a_policy_that_errored_at_advisory_warns_and_does_not_block() -> None:
    broken = policy("advisory", False, "compile error in /p/x.rego, line 3, column 1: ...")
    broken["outcome"] = "errored"
    assert blocked_by(results(broken), require_engine=False) is None
    assert report_lines(results(broken))[-1] == (
        "warning: 1 policy could not be evaluated (errored): not checked; at soft or hard "
        "mandatory this blocks apply"
    )


def test_exceptions_are_shown_under_their_policy() -> None:
    excepted = policy("hard_mandatory", True, exceptions=["data.main.deny_x: excepted by ..."],
                      data_changed_since_attach=True)  # fmt: skip
    assert report_lines(results(excepted))[1:] == [
        "  PASSED   hard_mandatory  /p/hard_mandatory.rego (data changed since attach)",
        "      exception: data.main.deny_x: excepted by ...",
    ]


def test_a_skipped_check_blocks_only_when_an_engine_is_required() -> None:
    skipped = results(policy("hard_mandatory", None), engine=None)
    assert blocked_by(skipped, require_engine=False) is None
    block = blocked_by(skipped, require_engine=True)
    assert block is not None
    assert block.kind == "engine_required"
    assert not block.overridable
    recorded = dict(skipped, engine_required=True)  # required when the plan was made
    assert blocked_by(recorded, require_engine=False) is not None
    with pytest.raises(errors.PolicyBlocked, match="TFCTL_POLICY_REQUIRE_ENGINE"):
        enforce(recorded, plan_id="run-1", workspace="dev", override_reason="x",
                require_engine=False)  # fmt: skip


def test_a_refusal_is_one_line_with_a_few_messages() -> None:
    many = policy("hard_mandatory", False, *[f"line\nbreak {i}" for i in range(5)])
    block = blocked_by(results(many), require_engine=False)
    assert block is not None
    text = refusal(block, plan_id="run-1", workspace="dev")
    assert "\n" not in text
    assert "line break 0; line break 1; line break 2 (+2 more)" in text


def test_an_override_record_names_actor_reason_and_policies() -> None:
    block = blocked_by(results(policy("soft_mandatory", False, "m")), require_engine=False)
    assert block is not None
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    record = override_record(block, actor="alice", reason="hotfix", plan_id="run-1", at=at)
    assert record == {"override": {
        "actor": "alice", "reason": "hotfix", "at": "2026-01-02T03:04:05+00:00",
        "plan_run_id": "run-1",
        "policies": [{"attachment_id": "pol-soft_mandatory", "policy": "/p/soft_mandatory.rego",
                      "level": "soft_mandatory", "messages": ["m"]}],
    }}  # fmt: skip
    assert report_lines(record) == ["policy override by alice at 2026-01-02T03:04:05+00:00: hotfix"]


def test_report_lines_show_each_policy_its_messages_and_the_verdict() -> None:
    warned = policy("advisory", True, changed_since_attach=True)
    warned["warnings"] = ["careful"]
    lines = report_lines(results(policy("hard_mandatory", False, "denied"), warned))
    assert lines == [
        "policies: failed (2 checked by regorus in 4 ms)",
        "  FAILED   hard_mandatory  /p/hard_mandatory.rego",
        "      deny: denied",
        "  PASSED   advisory        /p/advisory.rego (changed since attach)",
        "      warn: careful",
        "apply blocked: a hard_mandatory policy failed (no override)",
    ]


def test_report_lines_say_when_nothing_was_checked() -> None:
    lines = report_lines(results(policy("advisory", None), engine=None))
    assert lines[0] == "policies: SKIPPED (1 attached): no Rego engine"
    assert report_lines(None) == []
