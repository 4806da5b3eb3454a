"""`RunLogSink` on a real store (SQLite and PostgreSQL), driven by an injected clock: every
line reaches the run's log files, the store (in order, numbered) and the watching terminal;
lines are written to the store in batches, by time or by count; known secrets never reach
any of them; `close()` leaves nothing behind."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlmodel import Session

from filestack import files_workspace, push_files
from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store as ws_store
from tfctl.persistence.db import Store
from tfctl.runs.log import FLUSH_INTERVAL, FLUSH_LINES, RunLogSink
from tfctl.runs.views import follow_logs
from tfctl.terraform.redact import REDACTED

SECRET = "hunter2-7f3a9c"


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FlakyStore:
    """The test's store, whose next `fail_writes` write sessions cannot be opened."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.fail_writes = 0

    def read(self) -> AbstractContextManager[Session]:
        return self._store.read()

    def write(self) -> AbstractContextManager[Session]:
        if self.fail_writes:
            self.fail_writes -= 1
            raise errors.StoreUnavailable("cannot reach the job store at sqlite:///x: down")
        return self._store.write()


@pytest.fixture
def run_id(store: Store, tmp_path: Path) -> str:
    push_files(store, tmp_path)
    files_workspace(store, "dev", tmp_path / "out")
    with store.write() as session:
        ws = ws_store.get_workspace(session=session, name="dev")
        run = run_store.create_run(
            session=session, workspace_id=ws.id, operation="plan", status="running",
            actor="alice", host="laptop",
        )  # fmt: skip
        return run.id


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs" / "run-x"


def stored(store: Store, run_id: str) -> list[tuple[int, str, str]]:
    with store.read() as session:
        rows = run_store.read_logs(session=session, run_id=run_id)
    return [(row.seq, row.stream, row.line) for row in rows]


def file_lines(log_dir: Path, name: str) -> list[str]:
    path = log_dir / f"{name}.log"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def sink_for(
    store: Store | FlakyStore,
    run_id: str,
    log_dir: Path,
    clock: Clock,
    observer: Callable[[str, str], None] | None = None,
) -> RunLogSink:
    # the fake clock decides every flush: no timer of the flusher thread's own
    return RunLogSink(store, run_id, log_dir, observer=observer, clock=clock, idle_flush=False)  # type: ignore[arg-type]


def test_lines_reach_files_store_and_observer_in_order(
    store: Store, run_id: str, log_dir: Path
) -> None:
    seen: list[tuple[str, str]] = []
    sink = sink_for(store, run_id, log_dir, Clock(), observer=lambda s, t: seen.append((s, t)))
    sent = [("stdout", "Initializing...\n"), ("stderr", "Warning: deprecated\n"),
            ("stdout", "Plan: 1 to add"), ("stderr", "  on main.tf line 3:\n"),
            ("stdout", "")]  # fmt: skip
    sink.note("rendered stack files version 1")
    for stream, line in sent:
        sink(stream, line)
    sink.close()

    expected = [("tfctl", "rendered stack files version 1")] + [
        (stream, line.rstrip("\n")) for stream, line in sent
    ]
    assert stored(store, run_id) == [(i, s, t) for i, (s, t) in enumerate(expected, start=1)]
    assert seen == expected
    # tfctl's own notes are kept with terraform's stdout, where they happened
    assert file_lines(log_dir, "stdout") == [t for s, t in expected if s != "stderr"]
    assert file_lines(log_dir, "stderr") == [t for s, t in expected if s == "stderr"]
    assert list(follow_logs(store, run_id)) == expected  # what `tfctl runs logs` prints


def test_a_batch_reaches_the_store_once_the_flush_interval_has_passed(
    store: Store, run_id: str, log_dir: Path
) -> None:
    clock = Clock()
    sink = sink_for(store, run_id, log_dir, clock)
    sink("stdout", "one")
    clock.advance(FLUSH_INTERVAL / 2)
    sink("stdout", "two")
    assert stored(store, run_id) == []  # still batching

    clock.advance(FLUSH_INTERVAL / 2)
    sink("stderr", "three")
    assert stored(store, run_id) == [(1, "stdout", "one"), (2, "stdout", "two"),
                                     (3, "stderr", "three")]  # fmt: skip
    # the files are flushed with the store: another terminal tailing them sees the same
    assert file_lines(log_dir, "stdout") == ["one", "two"]
    assert file_lines(log_dir, "stderr") == ["three"]

    sink("stdout", "four")  # a new batch starts with the flush
    assert len(stored(store, run_id)) == 3
    clock.advance(FLUSH_INTERVAL)
    sink("stdout", "five")
    assert [seq for seq, _, _ in stored(store, run_id)] == [1, 2, 3, 4, 5]
    sink.close()


def test_a_full_batch_reaches_the_store_without_waiting(
    store: Store, run_id: str, log_dir: Path
) -> None:
    sink = sink_for(store, run_id, log_dir, Clock())  # the clock never moves
    for i in range(1, FLUSH_LINES):
        sink("stdout", f"line {i}")
    assert stored(store, run_id) == []

    sink("stdout", f"line {FLUSH_LINES}")
    rows = stored(store, run_id)
    assert [seq for seq, _, _ in rows] == list(range(1, FLUSH_LINES + 1))
    assert [line for _, _, line in rows] == [f"line {i}" for i in range(1, FLUSH_LINES + 1)]
    sink.close()


def test_close_flushes_what_is_left_and_closes_the_files(
    store: Store, run_id: str, log_dir: Path
) -> None:
    sink = sink_for(store, run_id, log_dir, Clock())
    for i in range(3):
        sink("stdout" if i % 2 == 0 else "stderr", f"line {i}")
    assert stored(store, run_id) == []
    sink.close()
    assert stored(store, run_id) == [(1, "stdout", "line 0"), (2, "stderr", "line 1"),
                                     (3, "stdout", "line 2")]  # fmt: skip
    assert file_lines(log_dir, "stdout") == ["line 0", "line 2"]
    assert file_lines(log_dir, "stderr") == ["line 1"]


def test_a_run_with_no_output_leaves_empty_files_and_no_rows(
    store: Store, run_id: str, log_dir: Path
) -> None:
    sink_for(store, run_id, log_dir, Clock()).close()
    assert stored(store, run_id) == []
    assert (log_dir / "stdout.log").read_text() == ""
    assert (log_dir / "stderr.log").read_text() == ""
    assert log_dir.stat().st_mode & 0o777 == 0o700  # a run's logs are its owner's


def test_secrets_never_reach_files_store_or_observer(
    store: Store, run_id: str, log_dir: Path
) -> None:
    seen: list[str] = []
    clock = Clock()
    sink = sink_for(store, run_id, log_dir, clock, observer=lambda _, text: seen.append(text))
    sink.add_secrets([SECRET, "ab", ""])  # too short to scrub: ignored, not an error
    sink("stdout", f'  + input = "{SECRET}"')
    sink("stderr", f"Error: token {SECRET} rejected; token={SECRET}")
    sink.note(f"retrying with {SECRET}")
    clock.advance(FLUSH_INTERVAL)
    sink("stdout", f'{{"token":"{SECRET}"}}')
    sink.close()

    texts = {
        "store": [line for _, _, line in stored(store, run_id)],
        "stdout.log": file_lines(log_dir, "stdout"),
        "stderr.log": file_lines(log_dir, "stderr"),
        "observer": seen,
    }
    for where, lines in texts.items():
        assert lines, where
        assert not any(SECRET in line for line in lines), where
        assert all(REDACTED in line for line in lines), (where, lines)
    assert texts["store"][1] == f"Error: token {REDACTED} rejected; token={REDACTED}"
    assert SECRET.encode() not in (log_dir / "stdout.log").read_bytes()


def test_secrets_added_later_are_scrubbed_from_later_lines(
    store: Store, run_id: str, log_dir: Path
) -> None:
    """The runtime learns a plan's sensitive values from the plan, then adds them."""
    sink = sink_for(store, run_id, log_dir, Clock())
    sink.add_secrets(["first-secret"])
    sink("stdout", "first-secret")
    sink.add_secrets([SECRET])
    sink("stdout", f"first-secret {SECRET}")
    assert sink.scrub(f"x{SECRET}x") == f"x{REDACTED}x"
    sink.close()
    assert [line for _, _, line in stored(store, run_id)] == [REDACTED, f"{REDACTED} {REDACTED}"]


def test_lines_from_both_pipes_at_once_are_numbered_without_gaps(
    store: Store, run_id: str, log_dir: Path
) -> None:
    """The executor feeds stdout and stderr from two reader threads."""
    clock = Clock()
    sink = sink_for(store, run_id, log_dir, clock)
    count = 600

    def feed(stream: str) -> None:
        for i in range(count):
            sink(stream, f"{stream} {i}")
            if i % 50 == 0:
                clock.advance(FLUSH_INTERVAL)  # some flushes by time, some by size

    threads = [threading.Thread(target=feed, args=(name,)) for name in ("stdout", "stderr")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    sink.close()

    rows = stored(store, run_id)
    assert [seq for seq, _, _ in rows] == list(range(1, 2 * count + 1))
    for stream in ("stdout", "stderr"):
        in_store = [line for _, s, line in rows if s == stream]
        assert in_store == [f"{stream} {i}" for i in range(count)]
        assert file_lines(log_dir, stream) == in_store


def test_a_failed_store_write_loses_no_line(store: Store, run_id: str, log_dir: Path) -> None:
    clock, flaky = Clock(), FlakyStore(store)
    sink = sink_for(flaky, run_id, log_dir, clock)
    sink("stdout", "one")
    flaky.fail_writes = 1
    clock.advance(FLUSH_INTERVAL)
    with contextlib.suppress(errors.StoreUnavailable):  # raising or not is the caller's affair
        sink("stdout", "two")
    sink("stdout", "three")
    sink.close()
    assert stored(store, run_id) == [(1, "stdout", "one"), (2, "stdout", "two"),
                                     (3, "stdout", "three")]  # fmt: skip


def test_a_line_before_a_quiet_spell_reaches_the_store_without_waiting_for_the_next(
    store: Store, run_id: str, log_dir: Path
) -> None:
    """A provisioner that runs for minutes prints nothing meanwhile: what it printed first is
    followed from other terminals within about a flush interval, not when it ends."""
    import time

    sink = RunLogSink(store, run_id, log_dir)  # the real clock: the flusher's timer runs
    sink("stdout", "terraform_data.file[\"a\"]: Provisioning with 'local-exec'...")
    deadline = time.monotonic() + 10 * FLUSH_INTERVAL
    while not stored(store, run_id) and time.monotonic() < deadline:
        time.sleep(FLUSH_INTERVAL / 5)
    assert [line for _, _, line in stored(store, run_id)] == [
        "terraform_data.file[\"a\"]: Provisioning with 'local-exec'..."
    ]
    sink.close()
