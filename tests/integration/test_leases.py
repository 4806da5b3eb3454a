"""Leases that fence, on a real store (SQLite and PostgreSQL).

A run's heartbeat is its lease. A process that cannot renew it stops terraform (SIGINT to the
group, state written) before the lease could expire, and records what happened once the store
answers again; nobody declares a run lost before its lease expired by the store's own clock;
a late writer (a fenced process coming back, a halted run finishing) never overwrites a status
someone else set. The outage here is injected (`Outage`: the store as one host sees it); the
chaos suite (tests/chaos) does the same with a real PostgreSQL stopped and a network cut.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from filestack import files_workspace, push_files
from procs import provisioner_sleeps, wait_until
from tfctl import errors
from tfctl.context import AppContext
from tfctl.persistence import runs as run_store
from tfctl.persistence import store as ws_store
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import RunStatus
from tfctl.persistence.models import Run, Workspace
from tfctl.persistence.types import utcnow
from tfctl.runs.control import halt
from tfctl.runs.guard import LOST_CONTACT
from tfctl.runs.ledger import Outcome, RunLedger, declare_lost
from tfctl.runs.service import RunService
from tfctl.runs.views import RunView, follow_logs, list_runs, show_run
from tfctl.settings import get_settings
from tfctl.state_versions import list_states

LEASE = 8.0  # TFCTL_HEARTBEAT_TIMEOUT: fenced after 4 s without a renewal


class Outage:
    """The test's store as one host sees it: while `down`, a session cannot start — it waits
    as long as the store's patience for this thread allows, then fails, as a real outage."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.down = False

    def read(self) -> AbstractContextManager[Session]:
        return self._open(self._store.read)

    def write(self) -> AbstractContextManager[Session]:
        return self._open(self._store.write)

    def reachable(self, *, patience: float) -> bool:
        return self._wait(patience)

    def __getattr__(self, name: str) -> Any:  # waiting(), patience, engine, url
        return getattr(self._store, name)

    def _open(
        self, opener: Callable[[], AbstractContextManager[Session]]
    ) -> AbstractContextManager[Session]:
        if not self._wait(self._store.patience):
            raise errors.StoreUnavailable("cannot reach the job store at test: connection refused")
        return opener()

    def _wait(self, patience: float) -> bool:
        deadline = time.monotonic() + patience
        while self.down:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFCTL_HEARTBEAT_TIMEOUT", str(LEASE))
    get_settings.cache_clear()


def add_workspace(store: Store, tmp_path: Path, name: str, **variables: Any) -> Path:
    out = tmp_path / f"out-{name}"
    out.mkdir()
    push_files(store, tmp_path, stack=f"files-{name}", **{"names": ["a"], **variables})
    files_workspace(store, name, out, stack=f"files-{name}")
    return out


def add_running_run(store: Store, workspace: str, **fields: Any) -> str:
    with store.write() as session:
        ws = ws_store.get_workspace(session=session, name=workspace)
        run = run_store.create_run(
            session=session, workspace_id=ws.id, operation="apply", status="running",
            actor="ci", host="runner-1", worker="w1", **fields,
        )  # fmt: skip
        run_store.acquire_workspace(session=session, workspace_id=ws.id, run_id=run.id)
        return run.id


def heartbeat_at(store: Store, run_id: str) -> datetime:
    with store.read() as session:
        run = run_store.get_run(session=session, run_id=run_id)
        beat = run.heartbeat_at or run.started_at
        assert beat is not None
        return beat


def holder(store: Store, workspace: str) -> str | None:
    with store.read() as session:
        return ws_store.get_workspace(session=session, name=workspace).locked_by_run_id


# --- fencing, with real terraform -------------------------------------------------------------


@pytest.mark.terraform
@pytest.mark.usefixtures("short_lease")
def test_an_apply_cut_off_from_the_store_stops_before_its_lease_expires_and_records_it_later(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")
    out = add_workspace(store, tmp_path, "slow", sleep_seconds=60)
    outage = Outage(store)
    runtime = RunService(AppContext(store=outage))  # type: ignore[arg-type]
    plan = runtime.plan("slow")
    ended: dict[str, BaseException] = {}
    thread = threading.Thread(target=lambda: _apply(runtime, "slow", ended))
    thread.start()
    child = wait_for_apply_creating(store, "slow")

    expires = heartbeat_at(store, child.id) + timedelta(seconds=LEASE)
    outage.down = True
    wait_until(lambda: not provisioner_sleeps(out), within=LEASE, what="terraform's group to stop")
    stopped = utcnow()
    assert stopped < expires, f"terraform ran {stopped - expires} past the lease"
    # another worker, which still reaches the store, may not declare it lost until then
    assert RunLedger(AppContext(store=store)).reap_lost() == []
    assert show_run(store, child.id).status == RunStatus.RUNNING
    assert holder(store, "slow") == child.id

    outage.down = False  # back before the lease expired: nothing else happened meanwhile
    thread.join(timeout=60)
    assert not thread.is_alive()
    error = ended.get("error")
    assert isinstance(error, errors.RunError), error
    assert str(error).startswith(LOST_CONTACT)

    run = show_run(store, child.id)
    assert run.status == RunStatus.ERRORED
    assert (run.message or "").startswith(LOST_CONTACT)
    assert run.finished_at is not None
    assert show_run(store, plan.id).status == RunStatus.ERRORED
    assert holder(store, "slow") is None
    states = list_states(store, "slow")
    assert states, "the state terraform wrote while stopping was not recorded"
    assert states[0]["run_id"] == child.id
    rows = list(follow_logs(store, child.id))
    lines = [text for _, text in rows]
    assert any("Interrupt received" in line for line in lines)  # written during the outage
    assert any(line.startswith(LOST_CONTACT) for line in lines)
    with store.read() as session:
        seqs = [r.seq for r in run_store.read_logs(session=session, run_id=child.id)]
    assert seqs == list(range(1, len(seqs) + 1))  # in order, each once

    # the process goes on: the workspace takes a new run at once
    assert runtime.plan("slow").status == RunStatus.AWAITING_APPROVAL


def _apply(runtime: RunService, workspace: str, ended: dict[str, BaseException]) -> None:
    try:
        runtime.apply(workspace)
    except BaseException as exc:
        ended["error"] = exc


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


# --- leases by the store's clock ----------------------------------------------------------------


def test_no_run_is_declared_lost_before_its_lease_expired_by_the_stores_clock(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, short_lease: None
) -> None:
    """A worker whose clock runs an hour ahead must not declare a live run lost: the lease is
    judged by the store's clock (on SQLite, the one host's clock all its processes share)."""
    add_workspace(store, tmp_path, "dev")
    ledger = RunLedger(AppContext(store=store))
    fresh = add_running_run(store, "dev")
    with store.write() as session:
        run_store.heartbeat(session=session, run_id=fresh, at=utcnow())
    if store.engine.dialect.name == "postgresql":
        ahead = utcnow() + timedelta(hours=1)
        monkeypatch.setattr("tfctl.runs.status.utcnow", lambda: ahead)
        monkeypatch.setattr("tfctl.runs.ledger.utcnow", lambda: ahead)
    assert ledger.reap_lost() == []
    assert show_run(store, fresh).status == RunStatus.RUNNING

    with store.write() as session:  # its last beat is now older than the lease
        run_store.heartbeat(
            session=session, run_id=fresh, at=utcnow() - timedelta(seconds=LEASE + 1)
        )
    assert ledger.reap_lost() == [fresh]
    assert show_run(store, fresh).status == RunStatus.ERRORED
    assert holder(store, "dev") is None


def test_the_heartbeat_is_stamped_by_the_stores_clock(store: Store, tmp_path: Path) -> None:
    from tfctl.runs.guard import RunGuard

    add_workspace(store, tmp_path, "dev")
    run_id = add_running_run(store, "dev", heartbeat_at=utcnow() - timedelta(days=1))
    ticks = iter([0.0, 10.0, 10.0, 10.0, 10.0])
    guard = RunGuard(store, run_id, heartbeat_interval=5.0, clock=lambda: next(ticks, 10.0))
    with store.read() as session:
        from tfctl.persistence.clock import store_now

        before = store_now(session)
    assert not guard.should_cancel()
    assert heartbeat_at(store, run_id) >= before
    guard.close()


# --- late writers ----------------------------------------------------------------------------


def run_row(store: Store, run_id: str) -> Run:
    with store.read() as session:
        row = session.get(Run, run_id)
        assert row is not None
        return row


def test_a_fenced_process_coming_back_overwrites_nothing_of_a_run_declared_lost(
    store: Store, tmp_path: Path
) -> None:
    add_workspace(store, tmp_path, "dev")
    run_id = add_running_run(store, "dev", heartbeat_at=utcnow() - timedelta(hours=1))
    with store.write() as session:  # another worker, after the lease expired
        assert declare_lost(session, run_store.get_run(session=session, run_id=run_id))
    lost = run_row(store, run_id)

    ledger = RunLedger(AppContext(store=store))
    returned = ledger.fail(run_id, Outcome(exit_code=1), errors.RunError(f"{LOST_CONTACT}: x"))
    assert isinstance(returned, errors.RunError)
    late = run_row(store, run_id)
    assert (late.status, late.message, late.finished_at) == (
        RunStatus.ERRORED, lost.message, lost.finished_at,
    )  # fmt: skip
    assert late.exit_code == 1  # what only the late process knew is added

    with pytest.raises(errors.RunError, match="was ended errored by another process"):
        ledger.finish(run_id, Outcome(exit_code=0), RunStatus.APPLIED)
    assert run_row(store, run_id).status == RunStatus.ERRORED


def test_a_halted_run_finishing_late_keeps_its_halt(store: Store, tmp_path: Path) -> None:
    add_workspace(store, tmp_path, "dev")
    run_id = add_running_run(store, "dev", heartbeat_at=utcnow())
    halt(store, actor="oncall", reason="incident 7")
    ledger = RunLedger(AppContext(store=store))

    with pytest.raises(errors.Cancelled, match="halted by oncall: incident 7"):
        ledger.finish(run_id, Outcome(exit_code=0), RunStatus.APPLIED)
    returned = ledger.fail(run_id, Outcome(exit_code=1), errors.TerraformCancelled())
    assert isinstance(returned, errors.Cancelled)
    row = run_row(store, run_id)
    assert (row.status, row.halted, row.halted_by, row.halt_reason, row.message) == (
        RunStatus.CANCELLED, True, "oncall", "incident 7", "halted by oncall: incident 7",
    )  # fmt: skip
    assert row.finished_at is not None  # set by its process once terraform stopped
    assert row.exit_code == 1


def test_an_older_state_is_never_recorded_over_a_newer_one(store: Store, tmp_path: Path) -> None:
    """What a fenced process finds when it comes back after another run applied."""
    from tfctl.runs.executor import RunExecutor, _Execution
    from tfctl.runs.guard import RunGuard
    from tfctl.runs.log import RunLogSink

    add_workspace(store, tmp_path, "dev")
    with store.read() as session:
        ws = session.get(Workspace, ws_store.get_workspace(session=session, name="dev").id)
        assert ws is not None
    late, newer = add_running_run(store, "dev"), add_running_run(store, "dev")
    with store.write() as session:
        run_store.record_state_version(
            session=session, workspace_id=ws.id, run_id=newer, serial=7, lineage="L",
            sha256="b" * 64, resource_count=1, resources=["x"], outputs={},
        )  # fmt: skip

    class Pulled:
        def state_pull(self, *_: Any, **__: Any) -> bytes:
            return b'{"version": 4, "serial": 5, "lineage": "L", "outputs": {}, "resources": []}'

    runner = RunExecutor(AppContext(store=store), RunLedger(AppContext(store=store)),
                         executor=Pulled())  # type: ignore[arg-type]  # fmt: skip
    sink = RunLogSink(store, late, tmp_path / "log")
    runner._snapshot_state(tmp_path, _Execution(late, ws.id, sink, RunGuard(store, late)))
    sink.close()
    assert [s["serial"] for s in list_states(store, "dev")] == [7]
    assert any("not recorded: run" in text for _, text in follow_logs(store, late))
