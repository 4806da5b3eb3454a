"""How a run looks while it runs, on stderr.

In a terminal: a status line (operation, phase, elapsed time, resources done/total) with the
live log scrolling above it. Without one (CI, a pipe): plain timestamped lines, no colour,
no animation. Results (summaries, JSON) go to stdout elsewhere.
"""

from __future__ import annotations

import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from tfctl.runs import RunView

_DONE = re.compile(r": (Creation|Destruction|Modifications) complete after ")


def interactive() -> bool:
    """A person is watching: stderr is a terminal and this is not CI."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


def make_observer(*, quiet: bool = False) -> PlainObserver:
    """The observer for this terminal: live status line, or plain lines for machines."""
    if interactive() and not quiet:
        return TerminalObserver()
    return PlainObserver(quiet=quiet)


class PlainObserver:
    """Timestamped lines on stderr: `2026-01-01T10:00:00Z plan run-01... | line`."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.total = 0
        self.done = 0
        self._label = ""
        self._started = time.monotonic()

    def expect(self, total: int) -> None:
        """The number of resource operations the next apply will perform."""
        self.total, self.done = total, 0

    def started(self, run: RunView) -> None:
        self._label = f"{run.operation} {run.workspace} {run.id}"
        self._started = time.monotonic()
        self._emit(f"started by {run.actor} on {run.host}")

    def phase(self, name: str) -> None:
        self._emit(f"phase: {name}")

    def line(self, stream: str, text: str) -> None:
        if _DONE.search(text):
            self.done += 1
        self._emit(text if stream != "tfctl" else f"tfctl: {text}")

    def finished(self, run: RunView) -> None:
        self._emit(f"finished: {run.status} after {time.monotonic() - self._started:.1f}s")

    def _emit(self, text: str) -> None:
        if not self.quiet:
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            print(f"{stamp} {self._label} | {text}", file=sys.stderr, flush=True)


class TerminalObserver(PlainObserver):
    """A rich status line on stderr with the log printed above it."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console

        self.console: Console = Console(stderr=True, highlight=False)
        self._status: Status | None = None
        self._phase = "starting"

    def started(self, run: RunView) -> None:
        self._label = f"{run.operation} {run.workspace}"
        self._started = time.monotonic()
        self.console.print(f"[bold]{self._label}[/bold] [dim]{run.id}[/dim]")
        self._status = self.console.status(self._status_text())
        self._status.start()

    def phase(self, name: str) -> None:
        self._phase = name
        self._refresh()

    def line(self, stream: str, text: str) -> None:
        if _DONE.search(text):
            self.done += 1
        style = "red" if stream == "stderr" else ("cyan" if stream == "tfctl" else None)
        self.console.print(text, style=style, markup=False, highlight=False)
        self._refresh()

    def finished(self, run: RunView) -> None:
        self.stop()
        elapsed = time.monotonic() - self._started
        self.console.print(f"[bold]{self._label}[/bold]: {run.status} ({elapsed:.1f}s)")

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _refresh(self) -> None:
        if self._status is not None:
            self._status.update(self._status_text())

    def _status_text(self) -> str:
        elapsed = time.monotonic() - self._started
        progress = f" · {self.done}/{self.total} resources" if self.total else ""
        return f"{self._label} · {self._phase} · {elapsed:.0f}s{progress}"


def summary_lines(summary: dict[str, Any] | None) -> list[tuple[str, str, str | None]]:
    """`(action, address, style)` rows for the plan table: creates green, deletes red,
    replaces called out in magenta; drift listed after the changes."""
    if not summary:
        return []
    styles = {"create": "green", "delete": "red", "replace": "bold magenta", "update": "yellow"}
    rows = [
        (item["action"], item["address"], styles.get(item["action"]))
        for item in summary.get("resources", [])
        if item["action"] not in ("no-op", "read")
    ]
    rows += [(f"drift:{d['action']}", d["address"], "yellow") for d in summary.get("drift", [])]
    rows += [(f"output:{o['action']}", o["name"], None) for o in summary.get("outputs", [])
             if o["action"] != "no-op"]  # fmt: skip
    return rows


def counts_line(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "no summary"
    counts = summary
    words = ("add", "change", "destroy", "replace")
    parts = [f"{counts.get(word, 0)} to {word}" for word in words]
    return "Plan: " + ", ".join(parts) + "."


def print_summary(console: Console, summary: dict[str, Any] | None) -> None:
    """The plan table: one row per change, then the counts. Built as one styled text and
    printed once, so a 1,000-resource plan costs milliseconds, not a rich Table layout."""
    from rich.text import Text

    rows = summary_lines(summary)
    if rows:
        width = max(len(action) for action, _, _ in rows)
        text = Text(no_wrap=False, overflow="fold")
        for action, address, style in rows:
            text.append(action.ljust(width), style=style)
            text.append(f" {address}\n")
        text.rstrip()
        console.print(text, soft_wrap=True)
    console.print(counts_line(summary), markup=False)
