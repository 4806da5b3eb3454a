"""Where a run's output goes: its log files, the job store, and whoever is watching.

Each line is scrubbed of known secret values first, then appended to the run's
`stdout.log` / `stderr.log`, handed to the observer (the terminal), and batched into the
job store so another terminal or machine can follow the log while the run is going.

The store is written by a flusher thread, never by the thread that reads terraform's
pipes: a store that hangs (a host cut off from it) must not stall terraform's output, or
terraform could not even print its way through a graceful stop. A batch leaves the pending
list only once the store has it; a failed write keeps it, in order, for the next flush,
and rows are inserted at most once per line number, so an outage shorter than the run
loses no line and duplicates none.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tfctl.threads import block_signals

if TYPE_CHECKING:
    from tfctl.persistence.db import Store
    from tfctl.terraform.redact import SecretScrubber

LineObserver = Callable[[str, str], None]
FLUSH_INTERVAL = 0.5  # seconds between store writes while lines arrive
FLUSH_LINES = 500
#: How long a line waits for the flush it started (the store answers in milliseconds; a
#: store that does not is left to the flusher thread, and the lines keep coming).
FLUSH_WAIT = 1.0
#: After a failed write, the next attempt waits this long, doubling up to RETRY_MAX.
RETRY_FIRST, RETRY_MAX = 0.5, 5.0
log = logging.getLogger(__name__)


class RunLogSink:
    """A line sink for one run. Thread-safe; `close()` flushes what is left."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        log_dir: Path,
        *,
        observer: LineObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
        idle_flush: bool = True,
    ) -> None:
        """`idle_flush`: lines that wait while terraform is quiet (a long provisioner) are
        written after `FLUSH_INTERVAL` anyway, by the flusher thread's own timer."""
        self._store, self._run_id, self._observer, self._clock = store, run_id, observer, clock
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_dir = log_dir
        self._files: dict[str, IO[str]] = {
            name: (log_dir / f"{name}.log").open("a", encoding="utf-8")
            for name in ("stdout", "stderr")
        }
        self._scrubbers: list[SecretScrubber] = []
        self._pending: list[tuple[int, str, str]] = []  # not in the store yet, in order
        self.file_error: OSError | None = None  # the log files could not be written
        self._seq = 0
        self._last_flush = clock()
        self._retry_at: float | None = None  # set while the store is failing
        self._retry_delay = RETRY_FIRST
        self._lock = threading.Lock()
        self._flusher = _Flusher(self._write_pending, name=f"tfctl-log-{run_id}",
                                 idle=self._write_if_due if idle_flush else None)  # fmt: skip

    @property
    def unsent(self) -> int:
        """Lines not in the store yet (they are in the log files)."""
        with self._lock:
            return len(self._pending)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Scrub these values from every later line."""
        from tfctl.terraform.redact import SecretScrubber

        scrubber = SecretScrubber(secrets)
        if len(scrubber):
            with self._lock:
                self._scrubbers.append(scrubber)

    def scrub(self, text: str) -> str:
        for scrubber in self._scrubbers:
            text = scrubber.scrub(text)
        return text

    def __call__(self, stream: str, line: str) -> None:
        """Take one line of `stream` ("stdout", "stderr", or "tfctl" for tfctl's own notes)."""
        with self._lock:
            text = self.scrub(line.rstrip("\n"))
            self._seq += 1
            self._pending.append((self._seq, stream, text))
            self._to_file("stdout" if stream == "tfctl" else stream, text)
            due = self._flush_due()
        if due:
            self._flusher.request(wait=FLUSH_WAIT)
        else:
            self._flusher.start()  # its timer writes what waits while terraform is quiet
        if self._observer is not None:
            self._observer(stream, text)

    def note(self, text: str) -> None:
        """A line from tfctl itself (retries, phases), kept with terraform's output."""
        self("tfctl", text)

    def flush(self, *, patience: float = 0.0) -> bool:
        """Write every pending line to the store now, retrying for up to `patience` seconds
        while it fails; True when the store has them all."""
        deadline = time.monotonic() + patience
        while True:
            self._flusher.request(wait=max(FLUSH_WAIT, patience))
            if not self.unsent or time.monotonic() >= deadline:
                return not self.unsent
            time.sleep(min(RETRY_MAX, max(0.0, deadline - time.monotonic()), self._retry_delay))

    def close(self, *, patience: float = 0.0) -> bool:
        """Flush what is left (retrying for up to `patience` seconds) and close the files.
        Lines the store did not take are still in the log files: that is logged, not raised,
        so closing never hides why a run ended."""
        flushed = self.flush(patience=patience)
        self._flusher.stop()
        with self._lock:
            for handle in self._files.values():
                with contextlib.suppress(OSError):  # a full disk: said when it happened
                    handle.close()
            left = len(self._pending)
        if not flushed:
            log.warning(
                "%d log line(s) of run %s could not be written to the job store; they are "
                "in %s", left, self._run_id, self.log_dir,
            )  # fmt: skip
        return flushed

    def _to_file(self, name: str, text: str) -> None:
        if self.file_error is not None:
            return
        try:
            self._files[name].write(text + "\n")
        except OSError as exc:
            self._file_failed(name, exc)

    def _file_failed(self, name: str, exc: OSError) -> None:
        """A log file cannot be written (e.g. the disk is full): the lines still go to the
        store and the terminal; saying so is the first line the file did not get."""
        self.file_error = exc
        self._seq += 1
        note = (f"cannot write {self.log_dir / name}.log any more: {exc}; the log goes on "
                "in the job store")  # fmt: skip
        self._pending.append((self._seq, "tfctl", note))
        log.warning("%s", note)

    def _flush_due(self) -> bool:
        now = self._clock()
        if self._retry_at is not None:
            return now >= self._retry_at
        return len(self._pending) >= FLUSH_LINES or now - self._last_flush >= FLUSH_INTERVAL

    def _write_pending(self) -> None:
        """On the flusher thread: store the pending lines, oldest first, and drop them from
        the pending list only once the store has them."""
        from tfctl.persistence.runs import append_logs

        with self._lock:
            batch = list(self._pending)
            for name, handle in self._files.items():
                if not handle.closed and self.file_error is None:
                    try:
                        handle.flush()
                    except OSError as exc:
                        self._file_failed(name, exc)
        try:
            if batch:
                with self._store.write() as session:
                    append_logs(session=session, run_id=self._run_id, lines=batch)
        except Exception as exc:
            self._failed(exc)
            return
        with self._lock:
            del self._pending[: len(batch)]
            if self._retry_at is not None:
                log.warning("the job store took the log of run %s again", self._run_id)
            self._retry_at, self._retry_delay = None, RETRY_FIRST
            self._last_flush = self._clock()

    def _write_if_due(self) -> None:
        with self._lock:
            due = bool(self._pending) and self._flush_due()
        if due:
            self._write_pending()

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            first = self._retry_at is None
            if not first:
                self._retry_delay = min(RETRY_MAX, self._retry_delay * 2)
            self._retry_at = self._clock() + self._retry_delay
            self._last_flush = self._clock()
            waiting = len(self._pending)
        if first:  # once per outage; the lines wait, in order, in memory and in the files
            log.warning("could not write the log of run %s to the job store (%s); %d line(s) "
                        "wait for it", self._run_id, exc, waiting)  # fmt: skip


class _Flusher:
    """One daemon thread that runs `write` when asked, one request at a time, and `idle`
    every FLUSH_INTERVAL while nobody asks. A caller may wait a bounded time for the write
    it asked for; it never waits on a hung store."""

    def __init__(
        self, write: Callable[[], None], *, name: str, idle: Callable[[], None] | None = None
    ) -> None:
        self._write, self._name, self._idle = write, name, idle
        self._cond = threading.Condition()
        self._asked = self._done = 0
        self._stopped = False
        self._thread: threading.Thread | None = None

    def request(self, *, wait: float) -> bool:
        """Ask for a write and wait up to `wait` seconds for it; True if it happened."""
        with self._cond:
            if self._stopped:
                return False
            self._start()
            self._asked += 1
            ticket = self._asked
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._done >= ticket, timeout=wait)

    def start(self) -> None:
        with self._cond:
            if not self._stopped:
                self._start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        block_signals()  # Ctrl-C goes to the main thread (tfctl/threads.py)
        timeout = FLUSH_INTERVAL if self._idle is not None else None
        while True:
            with self._cond:
                asked = self._cond.wait_for(
                    lambda: self._stopped or self._asked > self._done, timeout=timeout
                )
                if self._stopped and self._asked <= self._done:
                    return
                serving = self._asked
            work = self._write if asked else self._idle
            try:
                if work is not None:
                    work()
            except Exception:  # never lose the thread: the next request retries
                log.exception("writing a run's log to the job store failed")
            with self._cond:
                self._done = serving
                self._cond.notify_all()
