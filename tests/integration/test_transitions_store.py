"""`persistence.runs.transition` on a real store (SQLite and PostgreSQL): it moves a run row
exactly when the transition table allows it, changes nothing otherwise, and two sessions
racing to end one run never both win."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

from filestack import files_workspace, push_files
from tfctl.persistence import runs as run_store
from tfctl.persistence import store as ws_store
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import RunStatus
from tfctl.persistence.models import Run
from tfctl.persistence.types import utcnow
from tfctl.runs.status import TERMINAL, can_move, transition

PAIRS = list(itertools.product(RunStatus, repeat=2))


def add_workspace(store: Store, tmp_path: Path) -> str:
    push_files(store, tmp_path)
    files_workspace(store, "dev", tmp_path / "out")
    with store.read() as session:
        return ws_store.get_workspace(session=session, name="dev").id


def add_run(store: Store, workspace_id: str, status: RunStatus) -> str:
    with store.write() as session:
        run = run_store.create_run(
            session=session, workspace_id=workspace_id, operation="plan", status=status.value,
            actor="alice", host="laptop", message=f"was {status}",
        )  # fmt: skip
        return run.id


def row(store: Store, run_id: str) -> dict[str, Any]:
    with store.read() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run.model_dump()


def test_every_pair_moves_exactly_when_the_table_allows_it(store: Store, tmp_path: Path) -> None:
    workspace_id = add_workspace(store, tmp_path)
    runs = {(a, b): add_run(store, workspace_id, a) for a, b in PAIRS}
    before = {pair: row(store, run_id) for pair, run_id in runs.items()}
    finished = utcnow()

    wrong = []
    for (source, target), run_id in runs.items():
        with store.write() as session:
            moved = transition(
                session=session, run_id=run_id, to=target,
                message=f"{source} -> {target}", finished_at=finished,
            )  # fmt: skip
        if moved is not can_move(source, target):
            wrong.append(f"{source} -> {target}: transition returned {moved}")

    # checked after every transition ran: each one touched its own row and no other
    for (source, target), run_id in runs.items():
        after = row(store, run_id)
        if can_move(source, target):
            expected = {**before[(source, target)], "status": target.value,
                        "message": f"{source} -> {target}", "finished_at": finished}  # fmt: skip
        else:
            expected = before[(source, target)]
        if after != expected:
            wrong.append(f"{source} -> {target}: row is {after}, expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_a_final_run_stays_final_whatever_is_asked(store: Store, tmp_path: Path) -> None:
    workspace_id = add_workspace(store, tmp_path)
    for final in TERMINAL:
        run_id = add_run(store, workspace_id, final)
        for target in RunStatus:
            with store.write() as session:
                assert not transition(session=session, run_id=run_id, to=target)
        assert row(store, run_id)["status"] == final.value


def test_a_path_through_the_lifecycle_ends_where_the_table_says(
    store: Store, tmp_path: Path
) -> None:
    run_id = add_run(store, add_workspace(store, tmp_path), RunStatus.QUEUED)
    path = [RunStatus.RUNNING, RunStatus.AWAITING_APPROVAL, RunStatus.APPLIED]
    for target in path:
        with store.write() as session:
            assert transition(session=session, run_id=run_id, to=target)
    assert row(store, run_id)["status"] == RunStatus.APPLIED


def test_an_unknown_run_is_not_moved(store: Store) -> None:
    with store.write() as session:
        assert not transition(session=session, run_id="run-nope", to=RunStatus.RUNNING)


def race(store: Store, run_id: str, targets: tuple[RunStatus, RunStatus]) -> list[bool]:
    """Both sessions transition `run_id` at the same moment; returns who moved it."""
    start = threading.Barrier(len(targets))
    results: list[bool] = [False] * len(targets)

    def end(index: int, target: RunStatus) -> None:
        start.wait(timeout=30)
        with store.write() as session:
            results[index] = transition(session=session, run_id=run_id, to=target,
                                                  message=f"ended {target}")  # fmt: skip

    threads = [threading.Thread(target=end, args=pair) for pair in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_two_sessions_ending_one_run_differently_exactly_one_wins(
    store: Store, tmp_path: Path
) -> None:
    """E.g. terraform finishing while `runs cancel` or a lost-run sweep ends it elsewhere."""
    workspace_id = add_workspace(store, tmp_path)
    ends = [(RunStatus.APPLIED, RunStatus.CANCELLED), (RunStatus.ERRORED, RunStatus.CANCELLED),
            (RunStatus.NO_CHANGES, RunStatus.ERRORED)]  # fmt: skip
    for targets in ends * 4:
        run_id = add_run(store, workspace_id, RunStatus.RUNNING)
        results = race(store, run_id, targets)
        assert results.count(True) == 1, (targets, results)
        winner = targets[results.index(True)]
        assert row(store, run_id)["status"] == winner
        assert row(store, run_id)["message"] == f"ended {winner}"


def test_a_transition_waiting_on_an_uncommitted_one_loses(store: Store, tmp_path: Path) -> None:
    """The second session's update runs while the first holds the row (PostgreSQL) or the
    write lock (SQLite), and is decided by the committed status, not the one it first saw."""
    run_id = add_run(store, add_workspace(store, tmp_path), RunStatus.RUNNING)
    first_moved = threading.Event()
    second: list[bool] = []

    def cancel() -> None:
        first_moved.wait(timeout=30)
        with store.write() as session:
            second.append(transition(session=session, run_id=run_id, to=RunStatus.CANCELLED))

    thread = threading.Thread(target=cancel)
    thread.start()
    with store.write() as session:
        assert transition(session=session, run_id=run_id, to=RunStatus.APPLIED)
        first_moved.set()
        time.sleep(0.2)  # the cancel is now waiting for this transaction
        assert not second
    thread.join(timeout=60)
    assert second == [False]
    assert row(store, run_id)["status"] == RunStatus.APPLIED
