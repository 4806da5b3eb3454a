"""The policy gate with real terraform plans of `tests/fixtures/modules/files`, the real
in-process Rego engine, and the job store on SQLite and PostgreSQL: each enforcement level,
overrides, queued and auto-applied plans, broken policies, secrets, and no engine at all."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from filestack import FILES_MODULE, files_workspace, push_files
from tfctl import errors
from tfctl.context import AppContext
from tfctl.persistence import runs as run_store
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import Operation, RunStatus
from tfctl.policy.service import attach, detach, evaluate_policy, list_attachments
from tfctl.runs.service import RunService
from tfctl.runs.views import follow_logs, list_runs, show_run
from tfctl.stacks import push_spec_file
from tfctl.workspaces import create_workspace

pytestmark = pytest.mark.terraform

POLICIES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"
FORBIDDEN = POLICIES / "forbidden_content.rego"
SECRET = "policy-test-secret-5c2e91"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", SECRET)
    monkeypatch.setenv("TFCTL_ACTOR", "alice")


def workspace(store: Store, tmp_path: Path, out_dir: Path, **variables: Any) -> str:
    push_files(store, tmp_path, **{"names": ["a", "b"], "content": "forbidden", **variables})
    return files_workspace(store, "dev", out_dir)


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither engine: the regorus import fails and no opa is on PATH."""
    monkeypatch.setitem(sys.modules, "regorus", None)
    keep = [d for d in os.environ["PATH"].split(os.pathsep) if not Path(d, "opa").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(keep))
    assert shutil.which("opa") is None


def dump_store(store: Store) -> str:
    from sqlmodel import SQLModel

    with store.engine.connect() as connection:
        return "\n".join(
            repr(tuple(row))
            for table in SQLModel.metadata.sorted_tables
            for row in connection.execute(table.select())
        )


def log_of(store: Store, run_id: str) -> list[str]:
    return [line for _, line in follow_logs(store, run_id)]


def test_an_advisory_failure_is_reported_and_apply_goes_ahead(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir)
    attach(store, ws, str(FORBIDDEN), level="advisory", actor="alice")
    attach(store, ws, str(POLICIES / "warn_creates.rego"), level="hard_mandatory", actor="bob")
    plan = runtime.plan(ws)
    assert plan.status == RunStatus.AWAITING_APPROVAL
    results = plan.policy_results or {}
    assert (results["status"], results["engine"], results["blocking"]) == ("failed", "regorus",
                                                                           None)  # fmt: skip
    forbidden, warned = results["policies"]
    assert forbidden["level"] == "advisory"
    assert forbidden["passed"] is False
    assert len(forbidden["messages"]) == 2
    assert warned["passed"] is True  # warn rules never fail, even at hard_mandatory
    assert len(warned["warnings"]) == 3
    assert "policies: failed (2 checked by regorus" in "\n".join(log_of(store, plan.id))
    assert runtime.apply(ws).status == RunStatus.APPLIED
    assert sorted(p.name for p in out_dir.iterdir()) == ["a", "b"]


def test_a_hard_mandatory_failure_blocks_every_apply_with_exit_code_3(
    store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir)
    attach(store, ws, str(POLICIES / "conftest_v0"), level="hard_mandatory", actor="alice")
    runtime = RunService(AppContext(store=store))
    plan = runtime.plan(ws)
    assert plan.status == RunStatus.AWAITING_APPROVAL  # visible, reviewable, not applicable
    assert (plan.policy_results or {})["blocking"] == "hard_mandatory"
    for attempt in (
        lambda: runtime.apply(ws, override_reason="I insist"),
        lambda: runtime.enqueue(
            ws, operation=Operation.APPLY, plan_run_id=plan.id, override_reason="I insist"
        ),
    ):
        with pytest.raises(errors.PolicyBlocked, match="cannot be overridden") as raised:
            attempt()
        assert raised.value.exit_code == 3
        assert "conftest_v0 failed: module.stack.terraform_data.file" in str(raised.value)
    assert [r.id for r in list_runs(store, workspace=ws)] == [plan.id]  # no apply run
    assert show_run(store, plan.id).status == RunStatus.AWAITING_APPROVAL
    assert list(out_dir.iterdir()) == []


def test_a_soft_mandatory_failure_needs_an_override_that_is_recorded(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir)
    attached = attach(store, ws, str(FORBIDDEN), level="soft_mandatory", actor="alice")
    plan = runtime.plan(ws)
    with pytest.raises(errors.PolicyBlocked, match="--override-policy --reason TEXT"):
        runtime.apply(ws)
    applied = runtime.apply(ws, override_reason="approved in CAB-42")
    assert applied.status == RunStatus.APPLIED
    override = (applied.policy_results or {})["override"]
    assert override["actor"] == "alice"
    assert override["reason"] == "approved in CAB-42"
    assert override["plan_run_id"] == plan.id
    assert [p["attachment_id"] for p in override["policies"]] == [attached.id]
    assert any("policy override by alice" in line for line in log_of(store, applied.id))
    assert (out_dir / "a").read_text() == "forbidden\n"


def test_a_queued_apply_carries_its_override_to_the_worker(
    store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir)
    attach(store, ws, str(FORBIDDEN), level="soft_mandatory", actor="alice")
    plain = RunService(AppContext(store=store))
    plan = plain.plan(ws)
    with pytest.raises(errors.PolicyBlocked):
        plain.enqueue(ws, operation=Operation.APPLY)
    queued = plain.enqueue(ws, operation=Operation.APPLY, plan_run_id=plan.id,
                           override_reason="hotfix")  # fmt: skip
    assert (queued.policy_results or {})["override"]["reason"] == "hotfix"
    applied = run_as_worker(store, plain)
    assert applied.id == queued.id
    assert applied.status == RunStatus.APPLIED


def test_an_auto_apply_plan_blocked_by_policy_is_not_applied(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir)
    attach(store, ws, str(FORBIDDEN), level="soft_mandatory", actor="alice")
    queued = runtime.enqueue(ws, operation=Operation.PLAN, auto_apply=True)
    ended = run_as_worker(store, runtime)
    assert ended.id == queued.id
    assert ended.status == RunStatus.AWAITING_APPROVAL
    assert (ended.message or "").startswith("not applied automatically: plan ")
    assert "--override-policy" in (ended.message or "")
    assert len(list_runs(store, workspace=ws)) == 1
    assert list(out_dir.iterdir()) == []
    assert runtime.apply(ws, override_reason="ok").status == "applied"


def run_as_worker(store: Store, runtime: RunService) -> Any:
    """What `tfctl worker` does with the next queued run, in this process."""
    with store.write() as session:
        claimed = run_store.claim_next(session=session, worker="test-worker")
        assert claimed is not None
    return runtime.execute(claimed.id)


def test_a_policy_that_stops_compiling_fails_at_its_level_naming_the_line(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir, content="fine")
    policy = tmp_path / "mine.rego"
    policy.write_text(FORBIDDEN.read_text())
    attach(store, ws, str(policy), level="hard_mandatory", actor="alice")
    policy.write_text((POLICIES / "broken.rego").read_text())  # edited after attaching
    plan = runtime.plan(ws)
    (result,) = (plan.policy_results or {})["policies"]
    assert result["outcome"] == "errored"
    assert result["changed_since_attach"] is True
    assert result["messages"] == [
        f"compile error in {policy}, line 6, column 9: expecting `}}` while parsing set"
    ]
    with pytest.raises(errors.PolicyBlocked, match=f"{policy} failed: compile error"):
        runtime.apply(ws)


def test_policy_messages_never_carry_secrets_to_the_store(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir, content="fine")
    leaky = tmp_path / "leaky.rego"
    leaky.write_text(
        "package main\n\nimport rego.v1\n\ndeny contains msg if {\n"
        '\tsome rc in input.resource_changes\n\trc.name == "secret"\n'
        '\tmsg := sprintf("token is %s", [rc.change.after.input])\n}\n'
    )
    attach(store, ws, str(leaky), level="advisory", actor="alice")
    plan = runtime.plan(ws)
    assert (plan.policy_results or {})["policies"][0]["messages"] == ["token is (sensitive value)"]
    assert SECRET not in dump_store(store)
    assert not list(runtime.ctx.settings.home.rglob("plan.json"))  # read, then deleted


@pytest.mark.usefixtures("no_engine")
def test_without_an_engine_the_check_is_skipped_with_a_warning(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir)
    attach(store, ws, str(FORBIDDEN), level="hard_mandatory", actor="alice")
    plan = runtime.plan(ws)
    results = plan.policy_results or {}
    assert (results["status"], results["engine"], results["blocking"]) == ("skipped", None, None)
    assert "no Rego engine" in results["warning"]
    assert any("policies: SKIPPED" in line for line in log_of(store, plan.id))
    assert runtime.apply(ws).status == RunStatus.APPLIED  # dev and CI without an engine work


@pytest.mark.usefixtures("no_engine")
def test_requiring_an_engine_without_one_blocks_apply(
    store: Store, tmp_path: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tfctl.settings import get_settings

    monkeypatch.setenv("TFCTL_POLICY_REQUIRE_ENGINE", "1")
    get_settings.cache_clear()
    runtime = RunService(AppContext(store=store))
    ws = workspace(store, tmp_path, out_dir, content="fine")
    attach(store, ws, str(FORBIDDEN), level="advisory", actor="alice")
    plan = runtime.plan(ws)
    assert (plan.policy_results or {})["blocking"] == "engine_required"
    with pytest.raises(errors.PolicyBlocked, match="TFCTL_POLICY_REQUIRE_ENGINE") as raised:
        runtime.apply(ws, override_reason="no")
    assert raised.value.exit_code == 3
    assert list(out_dir.iterdir()) == []


def test_policy_test_evaluates_a_recorded_plan_without_attaching(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir)
    plan = runtime.plan(ws)
    assert plan.policy_results is None  # nothing attached, nothing checked
    report = evaluate_policy(runtime.policy_checker, str(POLICIES / "conftest_v0"),
                             lambda: runtime.saved_plan_json(plan))  # fmt: skip
    (result,) = report.results
    assert result.outcome == "failed"
    assert result.attachment_id is None
    assert len(result.messages) == 2
    assert list_attachments(store, ws) == []
    assert runtime.apply(ws).status == RunStatus.APPLIED  # the plan is untouched
    with pytest.raises(errors.InvalidInput, match="no such file"):
        evaluate_policy(runtime.policy_checker, str(tmp_path / "nope.rego"),
                        lambda: runtime.saved_plan_json(plan))  # fmt: skip


def test_attach_refuses_bad_input_and_detach_stops_checking(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir)
    (tmp_path / "empty").mkdir()
    refusals = {
        "no workspace named 'nope'": ("nope", str(FORBIDDEN), "advisory"),
        "unknown enforcement level": (ws, str(FORBIDDEN), "strict"),
        "no such file or directory": (ws, str(tmp_path / "missing.rego"), "advisory"),
        "no .rego files in this directory": (ws, str(tmp_path / "empty"), "advisory"),
        "not a .rego file": (ws, str(FILES_MODULE / "main.tf"), "advisory"),
    }
    for message, (name, policy, level) in refusals.items():
        with pytest.raises(errors.InvalidInput, match=message) as raised:
            attach(store, name, policy, level=level, actor="alice")
        assert raised.value.exit_code == 2
    attached = attach(store, ws, f"file://{FORBIDDEN}", level="hard_mandatory", actor="alice")
    assert attached.policy == str(FORBIDDEN)
    with pytest.raises(errors.AlreadyExists, match=f"already attached .* as {attached.id}"):
        attach(store, ws, str(FORBIDDEN), level="advisory", actor="alice")
    assert [a.id for a in list_attachments(store)] == [attached.id]
    assert detach(store, attached.id[:10]).id == attached.id
    assert runtime.plan(ws).policy_results is None
    with pytest.raises(errors.NotFound, match="no policy attachment"):
        detach(store, attached.id)


def test_a_thousand_resource_terraform_plan(tmp_path: Path) -> None:
    """`count = 1000` (the `files` fixture with 1,000 names takes terraform ~100 s to plan)."""
    module = tmp_path / "many"
    module.mkdir()
    (module / "main.tf").write_text(
        'variable "content" {\n  type    = string\n  default = "fine"\n}\n\n'
        'resource "terraform_data" "file" {\n  count = 1000\n'
        '  input = { content = var.content, path = "/srv/${count.index}" }\n}\n'
    )
    store = Store.open(f"sqlite:///{tmp_path / 'big.db'}", auto_upgrade=True)
    spec = {"name": "many", "kind": "generic", "module_source": str(module)}
    (tmp_path / "many.yaml").write_text(yaml.safe_dump(spec))
    push_spec_file(store, tmp_path / "many.yaml", author="test")
    create_workspace(store, "many", stack="many", backend="local", backend_config={},
                     variables={"content": "forbidden"})  # fmt: skip
    for name in ("forbidden_content.rego", "warn_creates.rego", "conftest_v0"):
        attach(store, "many", str(POLICIES / name), level="advisory", actor="alice")
    started = time.perf_counter()
    plan = RunService(AppContext(store=store)).plan("many")
    elapsed = time.perf_counter() - started
    forbidden, warned, conftest = (plan.policy_results or {})["policies"]
    assert len(forbidden["messages"]) == len(warned["warnings"]) == 1000
    assert len(conftest["messages"]) == len(conftest["warnings"]) == 1000
    each = ", ".join(f"{p['duration_ms']:.0f} ms" for p in (forbidden, warned, conftest))
    total = (plan.policy_results or {})["duration_ms"]
    print(f"\n1,000-resource terraform plan: {elapsed:.1f} s; policy check {total:.0f} ms ({each})")
    store.engine.dispose()
