"""The run lifecycle with real terraform, on SQLite and on PostgreSQL.

plan → awaiting approval → apply exactly that plan → state version; superseded, discarded,
tampered and stale plans refused; one state-changing run per workspace; cancellation.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from filestack import files_workspace, push_files
from tfctl import errors
from tfctl.context import AppContext
from tfctl.persistence import runs as run_store
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import PlanMode, RunStatus
from tfctl.persistence.models import RunLog, Workspace
from tfctl.persistence.types import utcnow
from tfctl.runs.control import cancel, discard
from tfctl.runs.service import RunService
from tfctl.runs.views import follow_logs, list_runs, show_run
from tfctl.state_versions import list_states, show_state

pytestmark = pytest.mark.terraform


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")


@pytest.fixture
def workspace(store: Store, tmp_path: Path, out_dir: Path) -> str:
    push_files(store, tmp_path, names=["a", "b"])
    files_workspace(store, "dev", out_dir)
    return "dev"


def test_plan_waits_for_approval_then_apply_applies_it_and_records_state(
    runtime: RunService, workspace: str, out_dir: Path, store: Store
) -> None:
    plan = runtime.plan(workspace)
    assert plan.status == RunStatus.AWAITING_APPROVAL
    assert plan.has_changes
    assert plan.summary is not None
    assert plan.summary["add"] == 3
    assert len(plan.plan_sha256 or "") == 64
    assert plan.terraform_version == "1.11.4"
    assert list(out_dir.iterdir()) == []  # nothing happens before approval

    applied = runtime.apply(workspace)
    assert applied.status == RunStatus.APPLIED
    assert applied.parent_run_id == plan.id
    assert show_run(store, plan.id).status == RunStatus.APPLIED
    assert sorted(p.name for p in out_dir.iterdir()) == ["a", "b"]
    assert (out_dir / "a").read_text() == "hello\n"

    state = show_state(store, workspace)
    assert state["run_id"] == applied.id
    assert state["resource_count"] == 3
    assert 'module.stack.terraform_data.file["a"]' in state["resources"]
    assert state["outputs"]["paths"]["value"] == [str(out_dir / "a"), str(out_dir / "b")]
    assert state["outputs"]["token"] == {"value": "(sensitive value)", "type": "string",
                                         "sensitive": True}  # fmt: skip

    again = runtime.plan(workspace)
    assert again.status == RunStatus.NO_CHANGES
    assert not again.has_changes


def test_logs_are_in_the_store_and_in_files(
    runtime: RunService, workspace: str, store: Store
) -> None:
    plan = runtime.plan(workspace)
    lines = [line for _, line in follow_logs(store, plan.id)]
    assert any("Plan: 3 to add" in line for line in lines)
    stdout_file = runtime.run_dir(plan.id) / "stdout.log"
    assert "Plan: 3 to add" in stdout_file.read_text()
    with store.read() as session:
        seqs = [r.seq for r in session.exec(select(RunLog).where(RunLog.run_id == plan.id))]
    assert seqs == list(range(1, len(seqs) + 1))  # ordered, nothing lost


def test_a_newer_plan_supersedes_and_the_older_is_refused(
    runtime: RunService, workspace: str, store: Store, out_dir: Path
) -> None:
    older = runtime.plan(workspace)
    newer = runtime.plan(workspace)
    assert show_run(store, older.id).status == RunStatus.SUPERSEDED
    with pytest.raises(errors.RunRefused, match="a newer plan of dev replaced it"):
        runtime.apply(workspace, plan_run_id=older.id)
    assert list(out_dir.iterdir()) == []
    assert runtime.apply(workspace, plan_run_id=newer.id).status == RunStatus.APPLIED


def test_a_discarded_plan_cannot_be_applied(
    runtime: RunService, workspace: str, store: Store
) -> None:
    plan = runtime.plan(workspace)
    assert discard(store, plan.id, actor="reviewer").status == RunStatus.DISCARDED
    with pytest.raises(errors.RunRefused, match="discarded"):
        runtime.apply(workspace, plan_run_id=plan.id)
    with pytest.raises(errors.RunRefused, match="awaiting plans"):
        discard(store, plan.id, actor="reviewer")


def test_a_tampered_plan_file_is_refused(
    runtime: RunService, workspace: str, store: Store, out_dir: Path
) -> None:
    plan = runtime.plan(workspace)
    plan_file = runtime.run_dir(plan.id) / "work" / "tfplan.binary"
    plan_file.write_bytes(plan_file.read_bytes() + b"\0")
    with pytest.raises(errors.RunRefused, match="changed after it was planned"):
        runtime.apply(workspace)
    assert list(out_dir.iterdir()) == []
    assert show_run(store, plan.id).status == RunStatus.ERRORED  # never applicable again


def test_a_stale_plan_is_refused_by_terraform(
    runtime: RunService, workspace: str, store: Store, tmp_path: Path
) -> None:
    plan = runtime.plan(workspace)
    # Someone changes the state behind tfctl's back (same backend, another operation).
    work = runtime.run_dir(plan.id) / "work"
    executor = runtime.executor
    from tfctl.terraform.commands import ApplyOptions

    executor.apply(work, ApplyOptions(auto_approve=True))
    with pytest.raises(errors.StalePlan, match="changed by another operation"):
        runtime.apply(workspace)
    child = list_runs(store, workspace=workspace, limit=1)[0]
    assert child.operation == "apply"
    assert child.status == RunStatus.ERRORED
    assert show_run(store, plan.id).status == RunStatus.ERRORED


def test_one_state_changing_run_per_workspace(
    runtime: RunService, workspace: str, store: Store
) -> None:
    with store.write() as session:
        ws = session.exec(select(Workspace).where(Workspace.name == workspace)).one()
        holder = run_store.create_run(
            session=session, workspace_id=ws.id, operation="plan", status="running",
            actor="alice", host="laptop", started_at=utcnow(), heartbeat_at=utcnow(),
        )  # fmt: skip
        assert (
            run_store.acquire_workspace(session=session, workspace_id=ws.id, run_id=holder.id)
            is None
        )
    with pytest.raises(errors.WorkspaceBusy, match=f"run {holder.id}.*alice on laptop"):
        runtime.plan(workspace)
    assert len(list_runs(store, workspace=workspace)) == 1  # the refused run left no row

    # The holder's process dies: no heartbeat for longer than the stale limit.
    with store.write() as session:
        run_store.heartbeat(session=session, run_id=holder.id, at=utcnow() - timedelta(minutes=5))
    assert runtime.plan(workspace).status == RunStatus.AWAITING_APPROVAL
    stale = show_run(store, holder.id)
    assert stale.status == RunStatus.ERRORED
    assert "stopped heartbeating" in (stale.message or "")


def test_cancel_interrupts_a_running_apply_and_keeps_the_state(
    store: Store, tmp_path: Path, out_dir: Path
) -> None:
    push_files(store, tmp_path, names=["slow"], sleep_seconds=30)
    files_workspace(store, "slow", out_dir)
    runtime = RunService(AppContext(store=store))
    runtime.plan("slow")
    outcome: dict[str, BaseException] = {}

    def apply() -> None:
        try:
            runtime.apply("slow")
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=apply)
    thread.start()
    child = wait_for_apply_creating(store, "slow")
    started = time.monotonic()
    cancel(store, child.id, actor="oncall")
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert time.monotonic() - started < 15
    assert isinstance(outcome.get("error"), errors.Cancelled)
    assert outcome["error"].exit_code == 4
    ended = show_run(store, child.id)
    assert ended.status == RunStatus.CANCELLED
    assert ended.finished_at is not None
    assert show_run(store, ended.parent_run_id or "").status == RunStatus.CANCELLED
    # terraform stopped gracefully and wrote state; tfctl recorded it
    states = list_states(store, "slow")
    assert states
    assert states[0]["run_id"] == child.id
    assert not (out_dir / "slow").exists()


def wait_for_apply_creating(store: Store, workspace: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = list_runs(store, workspace=workspace, limit=1)
        if runs and runs[0].operation == "apply":
            lines = [line for _, line in follow_logs(store, runs[0].id)]
            if any("Provisioning with 'local-exec'" in line for line in lines):
                return runs[0]
        time.sleep(0.2)
    raise AssertionError("the apply never started creating")


def test_destroy_plan_and_apply_remove_everything(
    runtime: RunService, workspace: str, store: Store, out_dir: Path
) -> None:
    runtime.plan(workspace)
    runtime.apply(workspace)
    plan = runtime.plan(workspace, mode=PlanMode.DESTROY)
    assert plan.plan_mode == "destroy"
    assert plan.summary is not None
    assert plan.summary["destroy"] == 3
    runtime.apply(workspace, confirm=workspace)
    assert list(out_dir.iterdir()) == []
    assert show_state(store, workspace)["resource_count"] == 0


def test_refresh_only_with_nothing_drifted_has_no_changes(
    runtime: RunService, workspace: str
) -> None:
    runtime.plan(workspace)
    runtime.apply(workspace)
    refresh = runtime.plan(workspace, mode=PlanMode.REFRESH_ONLY)
    assert refresh.status == RunStatus.NO_CHANGES
    assert refresh.plan_mode == "refresh-only"


def test_refresh_with_changes_waits_for_approval_and_records_state(
    runtime: RunService, workspace: str, store: Store, tmp_path: Path
) -> None:
    runtime.plan(workspace)
    runtime.apply(workspace)
    push_files(store, tmp_path, names=["a", "b"], content="changed")  # the outputs now differ
    refresh = runtime.plan(workspace, mode=PlanMode.REFRESH_ONLY)
    assert refresh.status == RunStatus.AWAITING_APPROVAL
    assert refresh.summary is not None
    changed = [o["name"] for o in refresh.summary["outputs"] if o["action"] != "no-op"]
    assert changed == ["content"]
    assert refresh.summary["change"] == 0  # refresh-only never changes resources
    before = len(list_states(store, workspace))
    applied = runtime.apply(workspace)
    assert applied.plan_mode == "refresh-only"
    assert len(list_states(store, workspace)) == before + 1
    assert show_state(store, workspace)["outputs"]["content"]["value"] == "changed"


def test_labels_are_recorded(runtime: RunService, workspace: str) -> None:
    from tfctl.runs.ledger import Labels

    plan = runtime.plan(workspace, labels=Labels(experiment_id="exp-7", test_id="t-1"))
    assert (plan.experiment_id, plan.test_id) == ("exp-7", "t-1")
    assert plan.actor
    assert plan.host


def test_a_sensitive_value_never_reaches_the_store_or_logs(
    store: Store, tmp_path: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tfctl-test-secret-7f3a9c"
    monkeypatch.setenv("TF_VAR_token", secret)
    push_files(store, tmp_path, names=["a"])
    files_workspace(store, "sec", out_dir)
    runtime = RunService(AppContext(store=store))
    runtime.plan("sec")
    runtime.apply("sec")
    runtime.plan("sec", mode=PlanMode.DESTROY)
    runtime.apply("sec", confirm="sec")
    # The secret really went through terraform (into the backend's state, which is its job)...
    assert secret in runtime.state_path("sec").with_suffix(".tfstate.backup").read_text()
    # ...but nowhere tfctl writes.
    assert secret not in dump_store(store)
    for log in runtime.ctx.settings.home.rglob("*.log"):
        assert secret not in log.read_text()
    assert not list(runtime.ctx.settings.home.rglob("plan.json"))


def dump_store(store: Store) -> str:
    from sqlmodel import SQLModel

    chunks = []
    with store.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                chunks.append(json.dumps([str(v) for v in row]))
    assert len(chunks) > 10
    return "\n".join(chunks)


@pytest.fixture(autouse=True)
def _no_leftover_processes(tmp_path: Path) -> Iterator[None]:
    yield
    leftovers = [p for p in Path("/proc").glob("[0-9]*") if _is_our_sleep(p, tmp_path)]
    assert not leftovers, "a provisioner outlived its run"


def _is_our_sleep(proc: Path, tmp_path: Path) -> bool:
    """A provisioner `sleep` started by this test (its FILE points into tmp_path)."""
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
        environ = (proc / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
    ours = any(v.startswith(b"FILE=" + str(tmp_path).encode()) for v in environ)
    return argv[:1] == [b"sleep"] and ours
