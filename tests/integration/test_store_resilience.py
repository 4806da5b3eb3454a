"""A store that comes and goes: SQLite's write lock held longer than the busy timeout by
another process (a storm of many workers), PostgreSQL dropping every connection (a restart,
a failover to a new primary at the same URL). Sessions wait for the store; what they write
is written once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from filestack import files_workspace, push_files
from pg import PostgresServer
from tfctl.persistence import engine as engine_module
from tfctl.persistence import runs as run_store
from tfctl.persistence import store as ws_store
from tfctl.persistence.db import Store

DROP_THE_OTHERS = text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def a_run(store: Store, tmp_path: Path) -> str:
    push_files(store, tmp_path)
    files_workspace(store, "dev", tmp_path / "out")
    with store.write() as session:
        ws = ws_store.get_workspace(session=session, name="dev")
        run = run_store.create_run(session=session, workspace_id=ws.id, operation="plan",
                                   status="running", actor="a", host="h")  # fmt: skip
        return run.id


def test_sqlite_writers_wait_out_a_write_lock_held_past_their_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    holder = Store.open(url, auto_upgrade=True)
    run_id = a_run(holder, tmp_path)
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    impatient = Store.open(url, auto_upgrade=False)
    patient = Store.open(url, auto_upgrade=False, patience=30.0)
    failures: list[BaseException] = []

    def write(store: Store, first: int) -> None:
        try:
            for seq in range(first, first + 10):
                with store.write() as session:
                    run_store.append_logs(
                        session=session, run_id=run_id, lines=[(seq, "stdout", f"line {seq}")]
                    )
        except Exception as exc:
            failures.append(exc)

    with holder.write() as session:  # another process's long write transaction
        session.execute(text("UPDATE runs SET message = 'busy'"))
        writers = [threading.Thread(target=write, args=(patient, 1 + 10 * i)) for i in range(8)]
        for thread in writers:
            thread.start()
        time.sleep(1.5)  # well past the writers' 0.2 s busy timeout
        with (  # without patience: the error of a lock storm
            pytest.raises(OperationalError, match="database is locked"),
            impatient.write() as other,
        ):
            other.execute(text("UPDATE runs SET message = 'x'"))
    for thread in writers:
        thread.join(timeout=60)
    assert failures == []
    with patient.read() as session:
        seqs = [row.seq for row in run_store.read_logs(session=session, run_id=run_id)]
    assert seqs == list(range(1, 81))  # each line once
    for store in (holder, impatient, patient):
        store.engine.dispose()


def test_a_batch_written_twice_is_stored_once(store: Store, tmp_path: Path) -> None:
    """A retry after a lost acknowledgement (the first write did commit)."""
    run_id = a_run(store, tmp_path)
    lines = [(1, "stdout", "one"), (2, "stderr", "two")]
    for _ in range(2):
        with store.write() as session:
            run_store.append_logs(session=session, run_id=run_id, lines=lines)
    with store.read() as session:
        rows = run_store.read_logs(session=session, run_id=run_id)
    assert [(row.seq, row.stream, row.line) for row in rows] == lines


def test_postgres_dropping_every_connection_is_not_noticed_by_the_next_session(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    with pg_server.database() as url:
        dropped_under(url, tmp_path)


def dropped_under(store_url: str, tmp_path: Path) -> None:
    store = Store.open(store_url, auto_upgrade=True)
    a_run(store, tmp_path)
    with store.read() as session:  # the pool now holds an open connection
        session.execute(text("SELECT 1"))
    other = Store.open(store_url, auto_upgrade=False)
    with other.write() as session:  # a restart or failover drops them all
        session.execute(DROP_THE_OTHERS)
    with store.read() as session:
        assert session.execute(text("SELECT count(*) FROM runs")).scalar_one() == 1
    for each in (store, other):
        each.engine.dispose()
