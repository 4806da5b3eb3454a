"""Plan summaries from real `terraform show -json` output (Terraform 1.11.4).

The fixtures and the `plan -detailed-exitcode` status terraform gave for each were captured by
tests/fixtures/tf/summary_capture.py; its docstring says what each plan contains.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from fixtures.tf.summary_capture import (
    FIXTURE_API_TOKEN,
    FIXTURE_API_TOKEN_ROTATED,
    FIXTURE_DB_PASSWORD,
    FIXTURE_DEPOSED_SECRET,
    FIXTURE_REFACTOR_SECRET,
)
from tfctl import errors
from tfctl.terraform.redact import REDACTED, sensitive_values_from_plan
from tfctl.terraform.summary import PlanSummary, load_plan_summary, read_plan, summarize_plan

PLANS = Path(__file__).resolve().parents[2] / "fixtures" / "plans"
PLAN_FILES = sorted(p.name for p in PLANS.glob("summary_*.json") if "exitcodes" not in p.name)
EXIT_CODES: dict[str, int] = json.loads((PLANS / "summary_exitcodes.json").read_text())
SECRETS = (
    FIXTURE_API_TOKEN,
    FIXTURE_API_TOKEN_ROTATED,
    FIXTURE_DB_PASSWORD,
    FIXTURE_REFACTOR_SECRET,
    FIXTURE_DEPOSED_SECRET,
)


def plan(name: str) -> dict[str, Any]:
    return json.loads((PLANS / name).read_text())


def summary(name: str) -> PlanSummary:
    return load_plan_summary(PLANS / name)


def by_address(s: PlanSummary) -> dict[str, Any]:
    return {r.address: r for r in s.resources}


# --- counts -----------------------------------------------------------------------------------

COUNTS = {
    #                            add chg des rep imp rd fgt mov
    "summary_create.json": (14, 0, 0, 0, 0, 1, 0, 0),
    "summary_targeted.json": (1, 0, 0, 0, 0, 0, 0, 0),
    "summary_no_changes.json": (0, 0, 0, 0, 0, 0, 0, 0),
    "summary_destroy.json": (0, 0, 14, 0, 0, 0, 0, 0),
    "summary_mixed.json": (1, 5, 2, 2, 0, 1, 0, 0),
    "summary_refresh_clean.json": (0, 0, 0, 0, 0, 0, 0, 0),
    "summary_refresh_drift.json": (0, 0, 0, 0, 0, 0, 0, 0),
    "summary_refactor.json": (0, 1, 0, 0, 1, 0, 1, 1),
    "summary_deposed.json": (0, 0, 1, 1, 0, 0, 0, 0),
    "summary_check_read.json": (0, 0, 0, 0, 0, 1, 0, 0),
}


def test_every_captured_plan_has_expected_counts() -> None:
    assert sorted(COUNTS) == PLAN_FILES


@pytest.mark.parametrize(("name", "counts"), COUNTS.items())
def test_counts(name: str, counts: tuple[int, ...]) -> None:
    s = summary(name)

    assert (s.add, s.change, s.destroy, s.replace, s.import_, s.read, s.forget, s.move) == counts


def test_a_replacement_counts_once_not_as_an_add_and_a_destroy() -> None:
    s = summary("summary_mixed.json")
    replaced = by_address(s)["terraform_data.replaced"]

    assert replaced.action == "replace"
    assert replaced.actions == ("delete", "create")
    assert replaced.replace_reason == "replace_because_cannot_update"
    assert replaced.replace_paths == (("triggers_replace",),)
    # terraform itself would say "Plan: 3 to add, 5 to change, 4 to destroy."
    assert (s.add, s.destroy, s.replace) == (1, 2, 2)


# --- has_changes: terraform's own verdict -----------------------------------------------------

NORMAL_PLANS = [n for n in PLAN_FILES if "refresh" not in n]


@pytest.mark.parametrize("name", NORMAL_PLANS)
def test_has_changes_matches_terraforms_detailed_exitcode(name: str) -> None:
    assert summary(name).has_changes is (EXIT_CODES[name] == 2)


def test_a_plan_whose_only_change_is_a_data_read_has_changes() -> None:
    # A check block's data source is re-read on every plan; terraform exits 2 for it.
    s = summary("summary_check_read.json")

    assert [(r.action, r.action_reason) for r in s.resources if r.action != "no-op"] == [
        ("read", "read_because_check_nested")
    ]
    assert s.has_changes
    assert EXIT_CODES["summary_check_read.json"] == 2


def test_a_moved_resource_alone_is_a_change() -> None:
    s = summary("summary_refactor.json")
    moved = by_address(s)["terraform_data.new_name"]

    assert (moved.action, moved.previous_address) == ("no-op", "terraform_data.old_name")
    assert s.has_changes


def test_refresh_only_plans_do_not_trust_terraforms_applyable_flag() -> None:
    # Nothing changed, yet Terraform 1.11 marks this refresh-only plan applyable at random (a
    # resource here has two sensitive attributes); the summary decides from the changes.
    s = summary("summary_refresh_clean.json")

    assert "resource_changes" not in plan("summary_refresh_clean.json")
    assert s.resources == ()
    assert all(o.action == "no-op" for o in s.outputs)
    assert not s.has_changes
    assert not s.has_drift


def test_refresh_only_plan_reports_drift() -> None:
    s = summary("summary_refresh_drift.json")

    assert s.resources == ()
    [drift] = s.drift
    assert (drift.address, drift.previous_address) == (
        "terraform_data.new_name",
        "terraform_data.old_name",
    )
    assert drift.action == "no-op"
    assert not s.has_drift  # a move alone is not an out-of-band change: terraform exits 0
    assert EXIT_CODES["summary_refresh_drift.json"] == 0


def test_an_object_changed_outside_terraform_is_drift() -> None:
    # terraform_data never drifts on refresh, so make the captured drift entry an update.
    doc = plan("summary_refresh_drift.json")
    doc["resource_drift"][0]["change"]["actions"] = ["update"]

    assert summarize_plan(doc).has_drift


# --- resources --------------------------------------------------------------------------------


def test_resources_carry_address_module_index_and_reason() -> None:
    resources = by_address(summary("summary_mixed.json"))

    worker = resources["terraform_data.worker[1]"]
    assert (worker.action, worker.index, worker.action_reason) == (
        "delete",
        1,
        "delete_because_count_index",
    )
    region = resources['terraform_data.region["us"]']
    assert (region.action, region.index, region.action_reason) == (
        "delete",
        "us",
        "delete_because_each_key",
    )
    assert resources['terraform_data.region["ap"]'].action == "create"
    db = resources['module.app["blue"].terraform_data.db["primary"]']
    assert (db.module_address, db.type, db.name, db.index, db.action) == (
        'module.app["blue"]',
        "terraform_data",
        "db",
        "primary",
        "update",
    )
    echo = resources["data.terraform_remote_state.echo"]
    assert (echo.mode, echo.action, echo.action_reason) == (
        "data",
        "read",
        "read_because_config_unknown",
    )
    assert echo.replace_reason is None


def test_import_and_forget_are_reported() -> None:
    resources = by_address(summary("summary_refactor.json"))

    adopted = resources["terraform_data.adopted"]
    assert (adopted.importing, adopted.action) == (True, "update")
    retired = resources["terraform_data.retired"]
    assert (retired.action, retired.action_reason) == (
        "forget",
        "delete_because_no_resource_config",
    )


# --- moves, imports and forgets: one refactoring per plan ---------------------------------------
# Hand-written after terraform's own test data (see tests/fixtures/plans/refactoring/README.md);
# tests/integration/terraform/test_refactoring_real.py makes the same plans with terraform.

REFACTORING = PLANS / "refactoring"
REFACTORINGS = {
    #                               chg imp mov fgt has_changes
    "moved_simple.json": (0, 0, 1, 0, True),
    "moved_implicit_count.json": (0, 0, 1, 0, True),
    "moved_with_update.json": (1, 0, 1, 0, True),
    "moved_with_drift.json": (2, 0, 1, 0, True),
    "moved_with_refresh_only.json": (0, 0, 0, 0, False),
    "import_only.json": (0, 1, 0, 0, True),
    "import_with_update.json": (1, 1, 0, 0, True),
    "forget_only.json": (0, 0, 0, 1, True),
}


def test_every_refactoring_plan_has_expectations() -> None:
    assert sorted(REFACTORINGS) == sorted(p.name for p in REFACTORING.glob("*.json"))


@pytest.mark.parametrize(("name", "expected"), REFACTORINGS.items())
def test_moves_imports_and_forgets_are_counted(name: str, expected: tuple[Any, ...]) -> None:
    s = load_plan_summary(REFACTORING / name)

    assert (s.change, s.import_, s.move, s.forget, s.has_changes) == expected
    assert (s.add, s.destroy, s.replace) == (0, 0, 0)  # nothing is created or destroyed
    assert s.to_json_dict()["move"] == s.move


@pytest.mark.parametrize("name", ["moved_simple.json", "import_only.json", "forget_only.json"])
def test_a_plan_whose_only_change_is_a_move_an_import_or_a_forget_has_changes(name: str) -> None:
    # terraform plan -detailed-exitcode exits 2 for each (checked with 1.11.4 in the
    # integration test); a plan without changes would never await approval.
    s = load_plan_summary(REFACTORING / name)

    assert [r.action for r in s.resources] in (["no-op"], ["forget"])
    assert s.has_changes


def test_a_move_found_by_refresh_only_is_neither_a_change_nor_drift() -> None:
    # terraform exits 0 for it (summary_refresh_drift.json is the captured case).
    s = load_plan_summary(REFACTORING / "moved_with_refresh_only.json")

    [drift] = s.drift
    assert drift.moved
    assert not s.has_changes
    assert not s.has_drift


def test_a_moved_object_changed_outside_terraform_is_drift_and_one_move() -> None:
    s = load_plan_summary(REFACTORING / "moved_with_drift.json")

    [drift] = s.drift
    assert (drift.previous_address, drift.address) == (
        "terraform_data.base_before",
        "terraform_data.base_after",
    )
    assert s.has_drift
    assert s.move == 1  # the drift entry is the same object, not a second move


def test_an_implicit_move_keeps_the_address_without_its_index() -> None:
    [moved] = load_plan_summary(REFACTORING / "moved_implicit_count.json").resources

    assert (moved.previous_address, moved.address, moved.index) == (
        "terraform_data.a",
        "terraform_data.a[0]",
        0,
    )
    assert moved.moved


def test_a_summary_stored_before_moves_were_counted_reads_back() -> None:
    data = summary("summary_refactor.json").to_json_dict()
    del data["move"]

    assert PlanSummary.from_json_dict(data).move == 0


def test_a_deposed_object_is_deleted_apart_from_the_replacement() -> None:
    s = summary("summary_deposed.json")
    [current] = [r for r in s.resources if r.deposed is None]
    [deposed] = [r for r in s.resources if r.deposed is not None]

    assert current.address == deposed.address == "terraform_data.blue_green"
    assert (current.action, current.actions) == ("replace", ("create", "delete"))
    assert current.replace_reason == "replace_because_tainted"
    assert deposed.action == "delete"


def test_addresses_with_awkward_keys_are_kept_verbatim() -> None:
    addresses = set(by_address(summary("summary_create.json")))

    assert 'terraform_data.odd_key["tmpl $${x} and %%{y}"]' in addresses
    assert 'terraform_data.odd_key["with \\"quotes\\" and \\\\ backslash"]' in addresses
    assert 'terraform_data.odd_key["zürich ☃ 🚀"]' in addresses


# --- outputs ----------------------------------------------------------------------------------


def outputs(name: str) -> dict[str, Any]:
    return {o.name: o for o in summary(name).outputs}


def test_sensitive_outputs_are_redacted_and_plain_ones_shown() -> None:
    out = outputs("summary_mixed.json")

    assert (out["api_token"].before, out["api_token"].after) == (REDACTED, REDACTED)
    assert out["api_token"].sensitive
    assert (out["database"].after, out["database"].sensitive) == (REDACTED, True)
    assert (out["greeting"].before, out["greeting"].after) == ("hello", "hi")
    assert not out["greeting"].sensitive
    assert out["upstream_region"].action == "no-op"


def test_outputs_known_only_after_apply_are_flagged() -> None:
    out = outputs("summary_create.json")

    assert out["worker_ids"].after_unknown
    assert out["worker_ids"].after == [None, None]
    assert not out["greeting"].after_unknown


def test_destroyed_sensitive_outputs_are_redacted_too() -> None:
    out = outputs("summary_destroy.json")

    assert (out["api_token"].action, out["api_token"].before) == ("delete", REDACTED)
    assert out["api_token"].after is None


def test_a_nested_sensitivity_mask_on_an_output_redacts_only_that_part() -> None:
    # Terraform refuses a root output with a sensitive part unless the whole output is
    # sensitive, so it writes `true`; a nested mask is still honoured if one ever arrives.
    doc = plan("summary_create.json")
    doc["output_changes"]["database"]["after_sensitive"] = {"password": True}

    [database] = [o for o in summarize_plan(doc).outputs if o.name == "database"]

    assert database.after == {"host": "db.internal", "user": "hello-blue", "password": REDACTED}
    assert database.sensitive


@pytest.mark.parametrize("name", PLAN_FILES)
def test_no_secret_survives_in_the_json_summary(name: str) -> None:
    text = json.dumps(summary(name).to_json_dict())

    assert not [secret for secret in SECRETS if secret in text]


def test_the_secret_free_summary_comes_from_plans_that_hold_secrets() -> None:
    raw = "".join((PLANS / name).read_text() for name in PLAN_FILES)

    assert all(secret in raw for secret in SECRETS)


# --- document shape, JSON, streaming ----------------------------------------------------------


def test_terraform_metadata_is_kept() -> None:
    s = summary("summary_targeted.json")

    assert (s.format_version, s.terraform_version) == ("1.2", "1.11.4")
    assert (s.applyable, s.complete, s.errored) == (True, False, False)


def test_json_dict_has_stable_field_names_and_round_trips() -> None:
    s = summary("summary_mixed.json")
    data = s.to_json_dict()

    assert list(data) == [
        "format_version",
        "terraform_version",
        "add",
        "change",
        "destroy",
        "replace",
        "import",
        "read",
        "forget",
        "move",
        "has_changes",
        "has_drift",
        "applyable",
        "complete",
        "errored",
        "resources",
        "drift",
        "outputs",
    ]
    assert list(data["resources"][0]) == [
        "address",
        "action",
        "actions",
        "type",
        "name",
        "mode",
        "module_address",
        "index",
        "previous_address",
        "deposed",
        "importing",
        "action_reason",
        "replace_paths",
    ]
    assert list(data["outputs"][0]) == [
        "name",
        "action",
        "actions",
        "sensitive",
        "before",
        "after",
        "after_unknown",
    ]
    assert PlanSummary.from_json_dict(json.loads(json.dumps(data))) == s


def test_absent_keys_give_an_empty_summary() -> None:
    s = summarize_plan({"format_version": "1.2", "planned_values": {}})

    assert (s.add, s.change, s.destroy, s.has_changes) == (0, 0, 0, False)
    assert (s.resources, s.drift, s.outputs) == ((), (), ())


@pytest.mark.parametrize("name", PLAN_FILES)
def test_streaming_load_equals_summarising_the_parsed_document(name: str) -> None:
    assert load_plan_summary(PLANS / name) == summarize_plan(plan(name))


@pytest.mark.parametrize("name", PLAN_FILES)
def test_read_plan_gives_the_summary_and_the_secrets_in_one_pass(name: str) -> None:
    summary_, secrets = read_plan(PLANS / name)

    assert summary_ == summarize_plan(plan(name))
    assert secrets == sensitive_values_from_plan(plan(name))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not terraform plan JSON"),
        (b"[]", "not terraform plan JSON"),
        (b'{"format_version":"1.2","planned_values":{}', "not terraform plan JSON"),
        (b'{"format_version":"1.2","planned_values":{"a":"b]}', "unterminated string"),
        (b'{"format_version":"1.2","planned_values":{}} x', "extra data"),
        (b'{"format_version":"1.0","values":{}}', "no planned_values"),
        (b'{"format_version":"2.0","planned_values":{}}', "format 1.x"),
        (b'{"format_version":"1.2","planned_values":{},"resource_changes":[{}]}', "no address"),
        (b'{"format_version":"1.2","planned_values":{},"x":"\xff"}', "not terraform plan JSON"),
    ],
)
def test_load_refuses_what_is_not_plan_json(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(content)

    with pytest.raises(errors.TerraformError, match=problem):
        load_plan_summary(path)


def test_unknown_terraform_actions_are_refused_not_miscounted() -> None:
    doc = plan("summary_create.json")
    doc["resource_changes"][0]["change"]["actions"] = ["teleport"]

    with pytest.raises(errors.TerraformError, match="teleport"):
        summarize_plan(doc)


def replace_all(doc: dict[str, Any]) -> None:
    """3,000 copies of a real replacement: the shape of a replace-all plan."""
    template = next(r for r in doc["resource_changes"] if r["address"] == "terraform_data.replaced")
    doc["resource_changes"] = [
        {**template, "address": f"terraform_data.r[{i}]", "index": i} for i in range(3000)
    ]


def huge_attribute(doc: dict[str, Any]) -> None:
    """One resource whose planned value is a list of 200,000 strings."""
    doc["planned_values"]["root_module"]["resources"][0]["values"]["input"] = [
        f"10.0.{i // 256}.{i % 256}" for i in range(200_000)
    ]


def measure(load: Any, path: Path) -> tuple[Any, int, int]:
    tracemalloc.start()
    try:
        result = load(path)
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, retained, peak


@pytest.mark.parametrize("grow", [replace_all, huge_attribute])
def test_loading_a_large_plan_peaks_under_three_times_its_size(tmp_path: Path, grow: Any) -> None:
    doc = plan("summary_mixed.json")
    grow(doc)
    path = tmp_path / "large.json"
    path.write_text(json.dumps(doc))
    size = path.stat().st_size
    expected = summarize_plan(doc)
    del doc

    summary_, retained, peak = measure(load_plan_summary, path)

    assert summary_ == expected
    assert size > 1_000_000
    assert peak < 3 * size
    assert retained < size  # the parsed document (4x its size) is not kept alive


def test_reading_a_large_plan_with_its_secrets_peaks_under_three_times_its_size(
    tmp_path: Path,
) -> None:
    doc = plan("summary_mixed.json")
    replace_all(doc)
    path = tmp_path / "large.json"
    path.write_text(json.dumps(doc))
    expected = summarize_plan(doc), sensitive_values_from_plan(doc)
    del doc

    result, _, peak = measure(read_plan, path)

    assert result == expected
    assert peak < 3 * path.stat().st_size
