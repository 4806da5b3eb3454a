"""Workers (separate `tfctl worker` processes) on SQLite and PostgreSQL, with real terraform."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clihelp import tfctl_bin
from filestack import files_workspace, push_files
from tfctl import errors
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import Operation, PlanMode, RunStatus
from tfctl.runs.service import RunService
from tfctl.runs.views import RunView, follow_logs, list_runs, show_run
from tfctl.state_versions import list_states

pytestmark = pytest.mark.terraform

SECRET = "worker-test-secret-4b1d8e"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", SECRET)


def workspace(store: Store, tmp_path: Path, name: str) -> Path:
    out = tmp_path / "out" / name
    out.mkdir(parents=True)
    files_workspace(store, name, out)
    return out


class Workers:
    """`tfctl worker` processes sharing the test's store."""

    def __init__(self, store_url: str, home: Path) -> None:
        self.env = {**os.environ, "TFCTL_DATABASE_URL": store_url, "TFCTL_HOME": str(home),
                    "TFCTL_HEARTBEAT_TIMEOUT": "3"}  # fmt: skip
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [tfctl_bin(), "worker", *args], env={**self.env, **env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def wait_all(self, timeout: float) -> None:
        for proc in self.procs:
            _, stderr = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, stderr[-3000:]

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture
def workers(store_url: str, isolated_env: Path) -> Iterator[Workers]:
    pool = Workers(store_url, isolated_env)
    yield pool
    pool.kill_all()


def test_many_workers_execute_every_run_exactly_once(
    store: Store, runtime: RunService, workers: Workers, tmp_path: Path
) -> None:
    push_files(store, tmp_path, names=["a"])
    names = ["w1", "w2", "w3"]
    for name in names:
        workspace(store, tmp_path, name)
    # create, destroy, create, destroy: every plan has changes, and each is applied
    for mode in [PlanMode.NORMAL, PlanMode.DESTROY] * 2:
        for name in names:
            runtime.enqueue(name, operation=Operation.PLAN, mode=mode, auto_apply=True,
                            confirm=name)  # fmt: skip
    for i in range(3):
        workers.start("--burst", "--name", f"worker-{i}")
    workers.wait_all(timeout=400)

    runs = list_runs(store, limit=500)
    plans = [r for r in runs if r.operation == "plan"]
    applies = [r for r in runs if r.operation == "apply"]
    assert len(plans) == 12
    assert sorted(r.status for r in plans) == ["applied"] * 12
    assert sorted(r.status for r in applies) == ["applied"] * 12
    assert {r.parent_run_id for r in applies} == {r.id for r in plans}
    for run in runs:
        lines = [line for _, line in follow_logs(store, run.id)]
        marker = "Apply complete!" if run.operation == "apply" else "Plan: "
        assert sum(marker in line for line in lines) == 1, (run.id, lines)
    assert {r.worker for r in runs} <= {"worker-0", "worker-1", "worker-2"}
    assert len({r.worker for r in runs}) >= 2  # the work was shared
    for name in names:
        assert_never_overlapping([r for r in runs if r.workspace == name])
        states = list_states(store, name)
        assert [s["resource_count"] for s in states][:4] == [0, 2, 0, 2]


def assert_never_overlapping(runs: list[RunView]) -> None:
    spans = sorted((r.started_at, r.finished_at, r.id) for r in runs)
    for (_, end, first), (start, _, second) in itertools.pairwise(spans):
        assert end is not None
        assert start is not None
        assert end <= start, f"{first} and {second} ran at the same time"


def test_queued_runs_wait_in_order_and_say_for_what(
    store: Store, runtime: RunService, tmp_path: Path
) -> None:
    from tfctl.runs.views import waiting_for

    push_files(store, tmp_path, names=["a"])
    workspace(store, tmp_path, "dev")
    first = runtime.enqueue("dev", operation=Operation.PLAN)
    second = runtime.enqueue("dev", operation=Operation.PLAN)
    assert first.status == RunStatus.QUEUED
    reasons = waiting_for(store, list_runs(store), heartbeat_timeout=30)
    assert "none is alive" in reasons[first.id]
    assert reasons[second.id] == f"run {first.id} (queued earlier for dev)"


def test_a_worker_killed_mid_apply_is_noticed_and_the_workspace_freed(
    store: Store, runtime: RunService, workers: Workers, tmp_path: Path
) -> None:
    push_files(store, tmp_path, names=["slow"], sleep_seconds=20)
    out = workspace(store, tmp_path, "dev")
    runtime.enqueue("dev", operation=Operation.PLAN, auto_apply=True)
    doomed = workers.start("--name", "doomed")
    apply = wait_for_provisioning(store)
    os.kill(doomed.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    doomed.communicate()

    # Any live worker reaps it; the run is never retried.
    survivor = workers.start("--name", "survivor")
    ended = wait_for_status(store, apply.id, {RunStatus.ERRORED}, timeout=30)
    assert time.monotonic() - killed_at < 3 + 10  # heartbeat timeout 3 s + a poll or two
    assert "worker doomed stopped heartbeating" in (ended.message or "")
    assert show_run(store, apply.parent_run_id or "").status == RunStatus.ERRORED
    assert not (out / "slow").exists()

    # The workspace is free again: a new run proceeds on the surviving worker.
    push_files(store, tmp_path, names=["fast"])
    fresh = runtime.enqueue("dev", operation=Operation.PLAN, auto_apply=True)
    done = wait_for_status(store, fresh.id, {RunStatus.APPLIED}, timeout=120)
    assert done.worker == "survivor"
    assert (out / "fast").exists()
    survivor.send_signal(signal.SIGTERM)
    survivor.communicate(timeout=30)


def test_sigterm_cancels_the_current_run_and_the_worker_exits(
    store: Store, runtime: RunService, workers: Workers, tmp_path: Path
) -> None:
    push_files(store, tmp_path, names=["slow"], sleep_seconds=30)
    workspace(store, tmp_path, "dev")
    runtime.enqueue("dev", operation=Operation.PLAN, auto_apply=True)
    proc = workers.start("--name", "stopping")
    apply = wait_for_provisioning(store)
    stopped = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert time.monotonic() - stopped < 20
    ended = show_run(store, apply.id)
    assert ended.status == RunStatus.CANCELLED
    assert "received SIGTERM" in (ended.message or "")
    assert list_states(store, "dev")[0]["run_id"] == apply.id  # the interrupted state is kept
    assert not list_runs(store, status=["running", "queued"])


def test_plan_on_one_worker_apply_on_another_with_a_different_work_dir(
    store: Store, runtime: RunService, workers: Workers, tmp_path: Path
) -> None:
    push_files(store, tmp_path, names=["a"])
    out = workspace(store, tmp_path, "dev")
    key = subprocess.run([tfctl_bin(), "worker", "keygen"], capture_output=True, text=True,
                         check=True).stdout.strip()  # fmt: skip
    plan = runtime.enqueue("dev", operation=Operation.PLAN)
    workers.start("--burst", "--name", "planner", TFCTL_WORK_DIR=str(tmp_path / "a"),
                  TFCTL_ARTIFACT_KEY=key)  # fmt: skip
    workers.wait_all(timeout=120)
    assert show_run(store, plan.id).status == RunStatus.AWAITING_APPROVAL

    apply = runtime.enqueue("dev", operation=Operation.APPLY, plan_run_id=plan.id)
    workers.procs.clear()
    workers.start("--burst", "--name", "applier", TFCTL_WORK_DIR=str(tmp_path / "b"),
                  TFCTL_ARTIFACT_KEY=key)  # fmt: skip
    workers.wait_all(timeout=120)
    ended = show_run(store, apply.id)
    assert ended.status == RunStatus.APPLIED, ended.message
    assert ended.worker == "applier"
    log = "\n".join(line for _, line in follow_logs(store, apply.id))
    assert f"restored plan {plan.id}" in log
    assert (tmp_path / "b" / plan.id / "work" / "tfplan.binary").exists()
    assert (out / "a").exists()
    assert SECRET.encode() not in dump_store_bytes(store)  # the shared plan is encrypted


def test_a_plan_with_secrets_is_not_shared_without_a_key(
    store: Store, runtime: RunService, workers: Workers, tmp_path: Path
) -> None:
    push_files(store, tmp_path, names=["a"])
    workspace(store, tmp_path, "dev")
    plan = runtime.enqueue("dev", operation=Operation.PLAN)
    workers.start("--burst", "--name", "planner", TFCTL_WORK_DIR=str(tmp_path / "a"))
    workers.wait_all(timeout=120)
    apply = runtime.enqueue("dev", operation=Operation.APPLY, plan_run_id=plan.id)
    workers.procs.clear()
    workers.start("--burst", "--name", "applier", TFCTL_WORK_DIR=str(tmp_path / "b"))
    workers.wait_all(timeout=120)
    ended = show_run(store, apply.id)
    assert ended.status == RunStatus.ERRORED
    assert "TFCTL_ARTIFACT_KEY" in (ended.message or "")
    assert SECRET.encode() not in dump_store_bytes(store)


def test_queue_and_wait_through_the_cli(
    store: Store, store_url: str, workers: Workers, tmp_path: Path, isolated_env: Path
) -> None:
    push_files(store, tmp_path, names=["a"])
    out = workspace(store, tmp_path, "dev")
    env = {**workers.env, "CI": "true"}
    queued = subprocess.run([tfctl_bin(), "plan", "dev", "--queue", "--json"],
                            capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    assert json.loads(queued.stdout)["status"] == "queued"
    assert "no worker has heartbeated recently" in queued.stderr

    workers.start("--name", "cli-worker")
    applied = subprocess.run(
        [tfctl_bin(), "apply", "dev", "--queue", "--wait", "--auto-approve", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    result = json.loads(applied.stdout)
    assert (result["operation"], result["status"]) == ("apply", "applied")
    assert "Apply complete!" in applied.stderr  # --wait streamed the worker's log
    assert (out / "a").exists()
    listed = subprocess.run([tfctl_bin(), "worker", "list", "--json"], capture_output=True,
                            text=True, env=env, check=True)  # fmt: skip
    assert [w["name"] for w in json.loads(listed.stdout)] == ["cli-worker"]


def wait_for_provisioning(store: Store, timeout: float = 90) -> RunView:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in list_runs(store, status=["running"]):
            lines = [line for _, line in follow_logs(store, run.id)]
            if run.operation == "apply" and any("Provisioning with" in x for x in lines):
                return run
        time.sleep(0.2)
    raise AssertionError("no apply started provisioning")


def wait_for_status(store: Store, run_id: str, statuses: set[str], timeout: float) -> RunView:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = show_run(store, run_id)
        if run.status in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} is {show_run(store, run_id).status}")


def dump_store_bytes(store: Store) -> bytes:
    from sqlmodel import SQLModel

    chunks = []
    with store.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                for value in row:
                    chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(chunks)


def test_in_process_refuses_while_a_worker_holds_the_workspace(
    store: Store, runtime: RunService, workers: Workers, tmp_path: Path
) -> None:
    push_files(store, tmp_path, names=["slow"], sleep_seconds=30)
    workspace(store, tmp_path, "dev")
    runtime.enqueue("dev", operation=Operation.PLAN, auto_apply=True)
    proc = workers.start("--name", "busy")
    apply = wait_for_provisioning(store)
    with pytest.raises(errors.WorkspaceBusy, match=f"run {apply.id}"):
        runtime.plan("dev")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


def test_halt_stops_a_worker_apply_within_seconds(
    store: Store, runtime: RunService, workers: Workers, tmp_path: Path
) -> None:
    from tfctl.runs.control import halt

    push_files(store, tmp_path, names=["slow"], sleep_seconds=30)
    out = workspace(store, tmp_path, "dev")
    runtime.enqueue("dev", operation=Operation.PLAN, auto_apply=True)
    proc = workers.start("--name", "halted-worker")
    apply = wait_for_provisioning(store)
    queued_behind = runtime.enqueue("dev", operation=Operation.PLAN)
    started = time.monotonic()
    report = halt(store, actor="oncall", reason="incident 7")
    assert {r.id for r in report.halted} == {apply.id, apply.parent_run_id, queued_behind.id}
    ended = wait_for_status(store, apply.id, {RunStatus.CANCELLED}, timeout=10)
    while ended.finished_at is None and time.monotonic() - started < 15:
        time.sleep(0.2)
        ended = show_run(store, apply.id)
    assert time.monotonic() - started < 15
    assert ended.halted
    assert (ended.halt_reason, ended.halted_by) == ("incident 7", "oncall")
    assert list_states(store, "dev")[0]["run_id"] == apply.id
    log = "\n".join(line for _, line in follow_logs(store, apply.id))
    assert "Interrupt received" in log
    assert not (out / "slow").exists()
    assert show_run(store, queued_behind.id).status == RunStatus.CANCELLED
    with pytest.raises(errors.RunRefused, match="halted by oncall"):
        runtime.apply("dev", plan_run_id=apply.parent_run_id)
    assert proc.poll() is None  # the worker itself goes on
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


def test_a_lock_left_by_a_halted_dead_process_is_released(
    store: Store, runtime: RunService, workers: Workers, tmp_path: Path
) -> None:
    from datetime import timedelta

    from sqlmodel import select

    from tfctl.persistence import runs as run_store
    from tfctl.persistence.models import Workspace
    from tfctl.persistence.types import utcnow

    push_files(store, tmp_path, names=["a"])
    out = workspace(store, tmp_path, "dev")
    long_ago = utcnow() - timedelta(minutes=10)
    with store.write() as session:  # a run halted after its process had died
        ws = session.exec(select(Workspace).where(Workspace.name == "dev")).one()
        dead = run_store.create_run(session=session, workspace_id=ws.id, operation="apply",
                                    status="cancelled", halted=True, actor="x", host="gone",
                                    started_at=long_ago, heartbeat_at=long_ago)  # fmt: skip
        run_store.acquire_workspace(session=session, workspace_id=ws.id, run_id=dead.id)
    queued = runtime.enqueue("dev", operation=Operation.PLAN, auto_apply=True)
    workers.start("--burst", "--name", "cleaner")
    workers.wait_all(timeout=120)
    assert show_run(store, queued.id).status == RunStatus.APPLIED
    assert (out / "a").exists()
    assert show_run(store, dead.id).finished_at is not None
