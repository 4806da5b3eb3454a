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
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status
    from rich.text import Text

    from tfctl.runs.views import RunView

_DONE = re.compile(r": (Creation|Destruction|Modifications) complete after ")
Clock = Callable[[], float]


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

    def __init__(self, *, quiet: bool = False, clock: Clock = time.monotonic) -> None:
        self.quiet = quiet
        self.total = 0
        self.done = 0
        self._label = ""
        self._clock = clock
        self._started = clock()

    def expect(self, total: int) -> None:
        """The number of resource operations the next apply will perform."""
        self.total, self.done = total, 0

    def started(self, run: RunView) -> None:
        self._label = f"{run.action} {run.workspace} {run.id}"
        self._started = self._clock()
        self._emit(f"started by {run.actor} on {run.host}")

    def phase(self, name: str) -> None:
        self._emit(f"phase: {name}")

    def line(self, stream: str, text: str) -> None:
        if _DONE.search(text):
            self.done += 1
        self._emit(text if stream != "tfctl" else f"tfctl: {text}")

    def finished(self, run: RunView) -> None:
        self._emit(f"finished: {run.status} after {self._clock() - self._started:.1f}s")

    def _emit(self, text: str) -> None:
        if not self.quiet:
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            print(f"{stamp} {self._label} | {text}", file=sys.stderr, flush=True)


class TerminalObserver(PlainObserver):
    """A rich status line on stderr with the log printed above it.

    The observer is itself the status line's renderable: rich's Status redraws it about twelve
    times a second from its own refresh thread, and each redraw asks for the text again, so
    the elapsed time ticks between log lines.
    """

    def __init__(self, *, console: Console | None = None, clock: Clock = time.monotonic) -> None:
        super().__init__(clock=clock)
        from rich.console import Console

        self.console: Console = console or Console(stderr=True, highlight=False)
        self._status: Status | None = None
        self._phase = "starting"

    def started(self, run: RunView) -> None:
        self._label = f"{run.action} {run.workspace}"
        self._started = self._clock()
        self.console.print(f"[bold]{self._label}[/bold] [dim]{run.id}[/dim]")
        self._status = self.console.status(self)
        self._status.start()

    def phase(self, name: str) -> None:
        self._phase = name

    def line(self, stream: str, text: str) -> None:
        if _DONE.search(text):
            self.done += 1
        style = "red" if stream == "stderr" else ("cyan" if stream == "tfctl" else None)
        self.console.print(text, style=style, markup=False, highlight=False)

    def finished(self, run: RunView) -> None:
        self.stop()
        elapsed = self._clock() - self._started
        self.console.print(f"[bold]{self._label}[/bold]: {run.status} ({elapsed:.1f}s)")

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def status_text(self) -> str:
        """The status line as it reads now: `plan dev · apply · 1m05s · 3/10 resources`."""
        progress = f" · {self.done}/{self.total} resources" if self.total else ""
        elapsed = _elapsed(self._clock() - self._started)
        return f"{self._label} · {self._phase} · {elapsed}{progress}"

    def __rich__(self) -> Text:
        from rich.text import Text

        return Text(self.status_text())


def _elapsed(seconds: float) -> str:
    """Whole seconds, as terraform's "Still creating... [1m5s elapsed]": `42s`, `1m05s`."""
    minutes, secs = divmod(int(max(seconds, 0)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


_STYLES = {"create": "green", "delete": "red", "replace": "bold magenta", "update": "yellow",
           "forget": "magenta", "import": "cyan", "move": "blue"}  # fmt: skip


def summary_lines(summary: Mapping[str, Any] | None) -> list[tuple[str, str, str | None]]:
    """`(action, address, style)` rows for the plan table: creates green, deletes red,
    replaces called out in magenta; drift listed after the changes, then output changes.

    Every resource terraform's own plan shows gets a row: moves (`move  a -> b`), imports
    (`import`) and forgets (`forget`) too, combined with what else happens to the object
    (`move+update  a -> b`, `import+update`). Data-source reads are left out."""
    if not summary:
        return []
    rows = [_row(item) for item in summary.get("resources", ()) if _shown(item)]
    rows += [_drift_row(item) for item in summary.get("drift", ()) if _shown(item)]
    rows += [(f"output:{o['action']}", o["name"], None) for o in summary.get("outputs", ())
             if o["action"] != "no-op"]  # fmt: skip
    return rows


def _drift_row(item: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """A change made outside terraform: `drift:update`, or `drift:move` for an object that a
    refresh-only plan found at its new address (terraform lists it as drift too)."""
    _, address, _ = _row(item)
    return f"drift:{item['action'] if item['action'] != 'no-op' else 'move'}", address, "yellow"


def _moved(item: Mapping[str, Any]) -> bool:
    previous = item.get("previous_address")
    return previous is not None and previous != item["address"]


def _shown(item: Mapping[str, Any]) -> bool:
    return item["action"] not in ("no-op", "read") or _moved(item) or bool(item.get("importing"))


def _row(item: Mapping[str, Any]) -> tuple[str, str, str | None]:
    moved, action = _moved(item), item["action"]
    words = [w for w, on in (("move", moved), ("import", item.get("importing"))) if on]
    words += [action] if action != "no-op" else []
    address = f"{item['previous_address']} -> {item['address']}" if moved else item["address"]
    style = _STYLES.get(action) or (_STYLES[words[0]] if words else None)
    return "+".join(words), address, style


def _refactorings(summary: Mapping[str, Any]) -> dict[str, int]:
    """How many objects are imported, moved and forgotten. `move` is counted from the
    resources for a summary stored before tfctl counted it."""
    moves = summary.get("move")
    if moves is None:
        moves = sum(_moved(item) for item in summary.get("resources", ()))
    return {"import": summary.get("import", 0), "move": moves, "forget": summary.get("forget", 0)}


def counts_line(summary: Mapping[str, Any] | None) -> str:
    """Terraform's "Plan:" line plus tfctl's own counts, e.g. `Plan: 1 to import, 0 to add,
    1 to change, 0 to destroy, 0 to replace, 1 to move, 1 to forget.`: import, move and
    forget only when there are some. A replacement counts in `replace` only, not also in add
    and destroy as in terraform's line."""
    if not summary:
        return "no summary"
    extra = _refactorings(summary)
    parts = [f"{extra['import']} to import"] if extra["import"] else []
    parts += [
        f"{summary.get(word, 0)} to {word}" for word in ("add", "change", "destroy", "replace")
    ]
    parts += [f"{extra[word]} to {word}" for word in ("move", "forget") if extra[word]]
    return "Plan: " + ", ".join(parts) + "."


def changes_text(summary: Mapping[str, Any] | None) -> str:
    """A plan's changes in a few words, for a table cell: `+1 ~0 -0` (to add, change,
    destroy), `±N` after them when N are replaced, then `1 to import`, `1 to move`,
    `1 to forget` when there are some, e.g. `+0 ~1 -0, 1 to import`. `-` when there is no
    summary (an apply, a failed plan) or nothing changes; a plan that changes only outputs
    or reads data reads `+0 ~0 -0`."""
    if not summary:
        return "-"
    add, change, destroy, replace = (
        summary.get(word, 0) for word in ("add", "change", "destroy", "replace")
    )
    extras = [f"{n} to {word}" for word, n in _refactorings(summary).items() if n]
    if not (add or change or destroy or replace or extras or summary.get("has_changes")):
        return "-"
    counts = f"+{add} ~{change} -{destroy}" + (f" ±{replace}" if replace else "")
    return ", ".join([counts, *extras])


def print_summary(console: Console, summary: Mapping[str, Any] | None) -> None:
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
