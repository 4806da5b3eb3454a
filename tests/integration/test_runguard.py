"""`RunGuard` on a real store (SQLite and PostgreSQL), driven by an injected clock: it records
a heartbeat every heartbeat interval, sees a cancel or a halt from another terminal within one
poll, survives a store hiccup, and once told to stop keeps saying so without asking again.

The executor calls `should_cancel()` every POLL_INTERVAL; here the test calls it, moving the
fake clock instead of sleeping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from filestack import files_workspace, push_files
from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store as ws_store
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import RunStatus
from tfctl.persistence.types import utcnow
from tfctl.runs.control import cancel, halt
from tfctl.runs.guard import RunGuard
from tfctl.runs.views import show_run

POLL, BEAT = 0.25, 4.0  # exact in binary: the fake clock's sums carry no rounding
LONG_AGO = datetime(2020, 1, 1, tzinfo=utcnow().tzinfo)


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def to(self, elapsed: float) -> None:
        """Move to `elapsed` seconds after the guard was made."""
        self.now = 1000.0 + elapsed


class FlakyStore:
    """The test's store, unreachable while `down` is set (a network blip, a restart)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.down = False
        self.sessions = 0

    def read(self) -> AbstractContextManager[Session]:
        return self._open(self._store.read)

    def write(self) -> AbstractContextManager[Session]:
        return self._open(self._store.write)

    def _open(
        self, opener: Callable[[], AbstractContextManager[Session]]
    ) -> AbstractContextManager[Session]:
        self.sessions += 1
        if self.down:
            raise errors.StoreUnavailable("cannot reach the job store at sqlite:///x: down")
        return opener()


@pytest.fixture
def run_id(store: Store, tmp_path: Path) -> str:
    """A running run of workspace `dev` whose last heartbeat was long ago."""
    push_files(store, tmp_path)
    files_workspace(store, "dev", tmp_path / "out")
    with store.write() as session:
        ws = ws_store.get_workspace(session=session, name="dev")
        run = run_store.create_run(
            session=session, workspace_id=ws.id, operation="plan", status="running",
            actor="alice", host="laptop", started_at=LONG_AGO, heartbeat_at=LONG_AGO,
        )  # fmt: skip
        return run.id


@pytest.fixture
def elsewhere(store_url: str) -> Iterator[Store]:
    """The same store as another terminal or machine opens it: its own engine."""
    other = Store.open(store_url, auto_upgrade=False)
    yield other
    other.engine.dispose()


def guard_for(store: Store | FlakyStore, run_id: str, clock: Clock) -> RunGuard:
    return RunGuard(store, run_id, poll_interval=POLL, heartbeat_interval=BEAT, clock=clock)  # type: ignore[arg-type]


def last_beat(store: Store, run_id: str) -> datetime | None:
    with store.read() as session:
        return run_store.get_run(session=session, run_id=run_id).heartbeat_at


def forget_beat(store: Store, run_id: str) -> None:
    with store.write() as session:
        run_store.heartbeat(session=session, run_id=run_id, at=LONG_AGO)


def test_heartbeats_once_per_heartbeat_interval(store: Store, run_id: str) -> None:
    clock = Clock()
    guard = guard_for(store, run_id, clock)
    for elapsed in (0.25, 1.0, 2.5, 3.75):
        clock.to(elapsed)
        assert not guard.should_cancel()
        assert last_beat(store, run_id) == LONG_AGO, f"beat early, {elapsed} s in"

    clock.to(BEAT)
    before = utcnow()
    assert not guard.should_cancel()
    beat = last_beat(store, run_id)
    assert beat is not None
    assert before - timedelta(seconds=1) <= beat <= utcnow()

    forget_beat(store, run_id)  # to see whether the next poll writes again
    for elapsed in (4.25, 6.0, 7.75):
        clock.to(elapsed)
        assert not guard.should_cancel()
        assert last_beat(store, run_id) == LONG_AGO, f"beat twice in one interval ({elapsed} s)"
    clock.to(2 * BEAT)
    assert not guard.should_cancel()
    assert last_beat(store, run_id) != LONG_AGO


def test_a_guard_asked_often_reads_the_store_once_per_poll(store: Store, run_id: str) -> None:
    clock, flaky = Clock(), FlakyStore(store)
    guard = guard_for(flaky, run_id, clock)
    for step in range(1, 129):  # 128 questions over 1 s: four polls, not 128 reads
        clock.to(step / 128)
        guard.should_cancel()
    assert flaky.sessions == 4


def stop_by_cancel(other: Store, run_id: str) -> None:
    cancel(other, run_id, actor="bob")


def stop_by_halt(other: Store, run_id: str) -> None:
    assert halt(other, actor="oncall", workspace="dev", reason="incident 42").halted


@pytest.mark.parametrize("stop", [stop_by_cancel, stop_by_halt], ids=["cancel", "halt"])
def test_a_stop_from_another_terminal_is_seen_within_one_poll(
    store: Store, run_id: str, elsewhere: Store, stop: Callable[[Store, str], None]
) -> None:
    clock = Clock()
    guard = guard_for(store, run_id, clock)
    clock.to(POLL)
    assert not guard.should_cancel()

    stop(elsewhere, run_id)
    clock.to(2 * POLL)
    assert guard.should_cancel()


def test_once_stopped_it_stays_stopped_without_asking_the_store_again(
    store: Store, run_id: str, elsewhere: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock, flaky = Clock(), FlakyStore(store)
    guard = guard_for(flaky, run_id, clock)
    cancel(elsewhere, run_id, actor="bob")
    clock.to(POLL)
    assert guard.should_cancel()

    flaky.down, asked = True, flaky.sessions
    for elapsed in (0.5, BEAT, 60.0):  # terraform takes its time to stop: the answer holds
        clock.to(elapsed)
        assert guard.should_cancel()
    assert flaky.sessions == asked
    assert not caplog.records


def test_a_store_hiccup_is_logged_and_the_next_poll_catches_up(
    store: Store, run_id: str, elsewhere: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock, flaky = Clock(), FlakyStore(store)
    guard = guard_for(flaky, run_id, clock)
    cancel(elsewhere, run_id, actor="bob")
    flaky.down = True
    clock.to(BEAT)
    with caplog.at_level(logging.WARNING, logger="tfctl.runs.guard"):
        assert not guard.should_cancel()  # the apply goes on; nothing raised into it
    assert [r.getMessage() for r in caplog.records] == [
        f"could not reach the job store to check run {run_id}"
    ]

    flaky.down = False
    clock.to(BEAT + POLL)
    assert guard.should_cancel()


def test_the_heartbeat_missed_during_a_hiccup_is_written_at_the_next_poll(
    store: Store, run_id: str
) -> None:
    clock, flaky = Clock(), FlakyStore(store)
    guard = guard_for(flaky, run_id, clock)
    flaky.down = True
    clock.to(BEAT)
    assert not guard.should_cancel()
    assert last_beat(store, run_id) == LONG_AGO

    flaky.down = False
    clock.to(BEAT + POLL)
    assert not guard.should_cancel()
    assert last_beat(store, run_id) != LONG_AGO


def test_a_run_declared_lost_elsewhere_is_stopped(
    store: Store, run_id: str, elsewhere: Store
) -> None:
    """A guard that could not reach the store for longer than the heartbeat timeout comes
    back to find its run errored and its workspace released: terraform must stop, or two
    state-changing runs of one workspace overlap."""
    from tfctl.runs.ledger import declare_lost

    clock = Clock()
    guard = guard_for(store, run_id, clock)
    with elsewhere.write() as session:
        assert declare_lost(session, run_store.get_run(session=session, run_id=run_id))
    assert show_run(store, run_id).status == RunStatus.ERRORED
    clock.to(POLL)
    assert guard.should_cancel()
