"""Where a run's output goes: its log files, the job store, and whoever is watching.

Each line is scrubbed of known secret values first, then appended to the run's
`stdout.log` / `stderr.log`, handed to the observer (the terminal), and batched into the
job store so another terminal or machine can follow the log while the run is going.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from tfctl.persistence.db import Store
    from tfctl.terraform.redact import SecretScrubber

LineObserver = Callable[[str, str], None]
FLUSH_INTERVAL = 0.5  # seconds between store writes while lines arrive
FLUSH_LINES = 500


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
    ) -> None:
        self._store, self._run_id, self._observer, self._clock = store, run_id, observer, clock
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._files: dict[str, IO[str]] = {
            name: (log_dir / f"{name}.log").open("a", encoding="utf-8")
            for name in ("stdout", "stderr")
        }
        self._scrubbers: list[SecretScrubber] = []
        self._pending: list[tuple[int, str, str]] = []
        self._seq = 0
        self._last_flush = clock()
        self._lock = threading.Lock()

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
            self._files["stdout" if stream == "tfctl" else stream].write(text + "\n")
            due = len(self._pending) >= FLUSH_LINES
            if due or self._clock() - self._last_flush >= FLUSH_INTERVAL:
                self._flush()
        if self._observer is not None:
            self._observer(stream, text)

    def note(self, text: str) -> None:
        """A line from tfctl itself (retries, phases), kept with terraform's output."""
        self("tfctl", text)

    def close(self) -> None:
        with self._lock:
            self._flush()
            for handle in self._files.values():
                handle.close()

    def _flush(self) -> None:
        if self._pending:
            from tfctl.persistence.runs import append_logs

            batch, self._pending = self._pending, []
            with self._store.write() as session:
                append_logs(session=session, run_id=self._run_id, lines=batch)
            for handle in self._files.values():
                handle.flush()
        self._last_flush = self._clock()
