"""`halt`, the incident kill switch, with real terraform, on SQLite and on PostgreSQL.

Queued, awaiting and running runs become cancelled + halted in one go; finished runs and
other workspaces are left alone; a halted plan is never applied; a running apply's whole
terraform process group is interrupted, and its log and state are kept.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from filestack import files_workspace, push_files
from procs import processes, provisioner_sleeps, wait_until, writes_into
from tfctl import errors
from tfctl.context import AppContext
from tfctl.persistence import runs as run_store
from tfctl.persistence import store as ws_store
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import RunStatus
from tfctl.runs.control import halt
from tfctl.runs.service import RunService
from tfctl.runs.status import transition
from tfctl.runs.views import RunView, follow_logs, list_runs, show_run
from tfctl.state_versions import list_states

pytestmark = pytest.mark.terraform


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")


def add_workspace(store: Store, tmp_path: Path, name: str, **variables: Any) -> Path:
    """A stack `files-NAME` of the files module and a workspace NAME writing into a new dir."""
    out = tmp_path / f"out-{name}"
    out.mkdir()
    push_files(store, tmp_path, stack=f"files-{name}", **{"names": ["a"], **variables})
    files_workspace(store, name, out, stack=f"files-{name}")
    return out


def add_run(store: Store, workspace: str, status: RunStatus, **fields: Any) -> str:
    """A run row as the queue or a process elsewhere would have left it."""
    with store.write() as session:
        ws = ws_store.get_workspace(session=session, name=workspace)
        run = run_store.create_run(
            session=session, workspace_id=ws.id, operation="plan", status=status.value,
            actor="ci-bot", host="runner-7", **fields,
        )  # fmt: skip
        return run.id


def test_halt_stops_queued_awaiting_and_running_runs_and_reports_them(
    store: Store, runtime: RunService, tmp_path: Path
) -> None:
    add_workspace(store, tmp_path, "dev")
    applied_plan = runtime.plan("dev")
    runtime.apply("dev")  # finished runs stay as they are
    add_workspace(store, tmp_path, "web", content="changed")
    awaiting = runtime.plan("web")
    queued = add_run(store, "dev", RunStatus.QUEUED)
    running = add_run(store, "web", RunStatus.RUNNING)  # its process would stop terraform
    before = {r.id: r for r in list_runs(store)}

    report = halt(store, actor="oncall", reason="incident 42")

    assert sorted(r.id for r in report.halted) == sorted([awaiting.id, queued, running])
    by_id = {r.id: r for r in report.halted}
    assert by_id[queued].previous_status == "queued"
    assert by_id[queued].workspace == "dev"
    assert (by_id[queued].actor, by_id[queued].host) == ("ci-bot", "runner-7")
    assert by_id[running].previous_status == "running"
    assert by_id[awaiting.id].previous_status == "awaiting_approval"
    assert by_id[awaiting.id].operation == "plan"
    assert by_id[awaiting.id].plan_mode == "normal"
    assert (report.workspace, report.reason, report.halted_by) == (None, "incident 42", "oncall")
    for run_id in by_id:
        run = show_run(store, run_id)
        assert run.status == RunStatus.CANCELLED
        assert (run.halted, run.halt_reason, run.halted_by) == (True, "incident 42", "oncall")
        assert run.message == "halted by oncall: incident 42"
    assert show_run(store, queued).finished_at == report.at
    assert show_run(store, awaiting.id).finished_at == report.at
    # A running run ends when its terraform has stopped; its own process records that.
    assert show_run(store, running).finished_at is None
    for run in list_runs(store):
        if run.id not in by_id:
            assert run == before[run.id]
            assert not run.halted
    assert show_run(store, applied_plan.id).status == RunStatus.APPLIED


def test_halt_json_shape(store: Store, tmp_path: Path) -> None:
    add_workspace(store, tmp_path, "dev")
    queued = add_run(store, "dev", RunStatus.QUEUED, plan_mode="destroy")
    data = halt(store, actor="oncall").to_dict()
    assert set(data) == {"halted", "workspace", "reason", "halted_by", "at"}
    assert data["halted"] == [
        {"id": queued, "workspace": "dev", "operation": "plan", "plan_mode": "destroy",
         "previous_status": "queued", "actor": "ci-bot", "host": "runner-7"},
    ]  # fmt: skip
    assert (data["workspace"], data["reason"], data["halted_by"]) == (None, None, "oncall")
    assert data["at"].startswith("20")
    assert show_run(store, queued).message == "halted by oncall"


def test_halt_of_one_workspace_leaves_the_others_alone(
    store: Store, runtime: RunService, tmp_path: Path
) -> None:
    add_workspace(store, tmp_path, "dev")
    add_workspace(store, tmp_path, "prod")
    dev_plan, prod_plan = runtime.plan("dev"), runtime.plan("prod")
    dev_queued, prod_queued = (
        add_run(store, "dev", RunStatus.QUEUED),
        add_run(store, "prod", RunStatus.QUEUED),
    )

    report = halt(store, actor="oncall", workspace="dev", reason="dev is on fire")

    assert sorted(r.id for r in report.halted) == sorted([dev_plan.id, dev_queued])
    assert report.workspace == "dev"
    assert show_run(store, dev_plan.id).halted
    assert show_run(store, prod_plan.id).status == RunStatus.AWAITING_APPROVAL
    assert show_run(store, prod_queued).status == RunStatus.QUEUED
    assert not show_run(store, prod_queued).halted
    assert runtime.apply("prod").status == RunStatus.APPLIED


def test_halting_twice_is_harmless(store: Store, runtime: RunService, tmp_path: Path) -> None:
    add_workspace(store, tmp_path, "dev")
    plan = runtime.plan("dev")
    assert [r.id for r in halt(store, actor="alice", reason="first").halted] == [plan.id]
    first = show_run(store, plan.id)

    again = halt(store, actor="bob", reason="second")

    assert again.halted == ()
    assert show_run(store, plan.id) == first  # still halted by alice, for her reason
    assert halt(store, actor="bob", workspace="dev").halted == ()


def test_a_halted_plan_can_never_be_applied(
    store: Store, runtime: RunService, tmp_path: Path
) -> None:
    out = add_workspace(store, tmp_path, "dev")
    plan = runtime.plan("dev")
    halt(store, actor="oncall", reason="incident 42")
    with pytest.raises(errors.RunRefused, match="halted by oncall: incident 42") as refused:
        runtime.apply("dev", plan_run_id=plan.id)
    assert refused.value.exit_code == 2
    with pytest.raises(errors.RunRefused, match="halted by oncall"):
        runtime.apply("dev")  # the pending plan is the halted one
    assert list(out.iterdir()) == []
    assert [r.operation for r in list_runs(store)] == ["plan"]  # no apply run was opened


def test_halt_of_an_unknown_workspace_is_refused_and_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    add_workspace(store, tmp_path, "dev")
    queued = add_run(store, "dev", RunStatus.QUEUED)
    with pytest.raises(errors.WorkspaceNotFound, match="no workspace named 'prdo'") as refused:
        halt(store, actor="oncall", workspace="prdo")
    assert refused.value.exit_code == 2
    assert show_run(store, queued).status == RunStatus.QUEUED


def test_a_run_that_finishes_while_halting_keeps_its_outcome(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_workspace(store, tmp_path, "dev")
    finishing, queued = (
        add_run(store, "dev", RunStatus.RUNNING),
        add_run(store, "dev", RunStatus.QUEUED),
    )
    original = run_store.runs_in_status

    def runs_then_one_finishes(**kw: Any) -> Any:
        found = original(**kw)  # the halt has read `finishing` as running...
        moved = transition(session=kw["session"], run_id=finishing,
                                     to=RunStatus.ERRORED, message="terraform failed")  # fmt: skip
        assert moved  # ...and it ends before the halt's update reaches it
        return found

    monkeypatch.setattr(run_store, "runs_in_status", runs_then_one_finishes)
    report = halt(store, actor="oncall")

    assert [r.id for r in report.halted] == [queued]
    ended = show_run(store, finishing)
    assert (ended.status, ended.halted, ended.message) == ("errored", False, "terraform failed")


# --- a running apply -----------------------------------------------------------------------


def test_halt_interrupts_a_running_apply_and_keeps_its_log_and_state(
    store: Store, tmp_path: Path
) -> None:
    out = add_workspace(store, tmp_path, "slow", sleep_seconds=30)
    runtime = RunService(AppContext(store=store))
    plan = runtime.plan("slow")
    outcome: dict[str, BaseException] = {}

    def apply() -> None:
        try:
            runtime.apply("slow")
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=apply)
    thread.start()
    child = wait_for_apply_creating(store, "slow")
    assert provisioner_sleeps(out), "the provisioner's sleep should be running"

    halted_at = time.monotonic()
    report = halt(store, actor="oncall", reason="incident 42")
    assert sorted((r.id, r.previous_status) for r in report.halted) == sorted(
        [(child.id, "running"), (plan.id, "awaiting_approval")]
    )
    # SIGINT reaches the whole group: the provisioner's `sleep`, terraform's grandchild, dies.
    wait_until(lambda: not provisioner_sleeps(out), within=2.5, what="SIGINT to the group")
    sigint_latency = time.monotonic() - halted_at
    thread.join(timeout=30)
    assert not thread.is_alive()
    stopped_latency = time.monotonic() - halted_at
    print(f"halt → SIGINT {sigint_latency:.2f} s, → apply ended {stopped_latency:.2f} s")
    assert stopped_latency < 15

    error = outcome.get("error")
    assert isinstance(error, errors.Cancelled), error
    assert error.exit_code == 4
    assert f"run {child.id} was halted by oncall: incident 42" in str(error)
    wait_until(lambda: not run_processes(runtime, out), within=5, what="the group to be gone")

    ended = show_run(store, child.id)
    assert ended.status == RunStatus.CANCELLED
    assert (ended.halted, ended.halt_reason, ended.halted_by) == (True, "incident 42", "oncall")
    assert ended.finished_at is not None  # set by the apply's process once terraform stopped
    assert ended.exit_code is not None
    parent = show_run(store, plan.id)
    assert (parent.status, parent.halted) == (RunStatus.CANCELLED, True)
    states = list_states(store, "slow")
    assert states, "the state terraform wrote on its way out was not recorded"
    assert states[0]["run_id"] == child.id
    log = [line for _, line in follow_logs(store, child.id)]
    assert any("Provisioning with 'local-exec'" in line for line in log)
    assert any("Interrupt received" in line for line in log)
    assert not (out / "a").exists()
    with pytest.raises(errors.RunRefused, match="halted by oncall"):
        runtime.apply("slow", plan_run_id=plan.id)


def wait_for_apply_creating(store: Store, workspace: str) -> RunView:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = list_runs(store, workspace=workspace, limit=1)
        if runs and runs[0].operation == "apply":
            lines = [line for _, line in follow_logs(store, runs[0].id)]
            if any("Provisioning with 'local-exec'" in line for line in lines):
                return runs[0]
        time.sleep(0.2)
    raise AssertionError("the apply never started creating")


def run_processes(runtime: RunService, out: Path) -> list[int]:
    """Live processes of this test's runs: terraform (working in a run directory) and every
    provisioner child."""
    runs_dir = str(runtime.run_dir("x").parent)
    return [
        pid
        for pid, _, env in processes()
        if writes_into(env, out) or _cwd(pid).startswith(runs_dir + os.sep)
    ]


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""
