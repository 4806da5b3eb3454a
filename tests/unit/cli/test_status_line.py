"""The live status line of a run in a terminal: its elapsed time moves on between log lines."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from rich.console import Console

from tfctl.cli.progress import TerminalObserver

if TYPE_CHECKING:
    from tfctl.runs.views import RunView


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


RUN = cast(
    "RunView",
    SimpleNamespace(
        operation="plan",
        action="plan",
        workspace="dev",
        id="run-01abc",
        actor="me",
        host="box",
        status="awaiting_approval",
    ),
)


def terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=100, color_system=None)


def screen(console: Console) -> str:
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def test_the_status_text_is_computed_when_it_is_drawn() -> None:
    clock = FakeClock()
    observer = TerminalObserver(console=terminal(), clock=clock)
    observer.started(RUN)
    try:
        observer.phase("plan")
        assert str(observer.__rich__()) == "plan dev · plan · 0s"
        clock.now += 9.7
        assert str(observer.__rich__()) == "plan dev · plan · 9s"
        clock.now += 55.4
        observer.expect(10)
        assert str(observer.__rich__()) == "plan dev · plan · 1m05s · 0/10 resources"
    finally:
        observer.stop()


def test_the_elapsed_time_ticks_on_screen_without_a_log_line() -> None:
    clock, console = FakeClock(), terminal()
    observer = TerminalObserver(console=console, clock=clock)
    observer.started(RUN)
    try:
        observer.phase("apply")
        clock.now += 7
        deadline = time.monotonic() + 5
        while "apply · 7s" not in screen(console) and time.monotonic() < deadline:
            time.sleep(0.02)  # rich's own refresh thread redraws the line
    finally:
        observer.stop()
    assert "plan dev · apply · 7s" in screen(console)


def test_the_final_line_gives_the_whole_duration() -> None:
    clock, console = FakeClock(), terminal()
    observer = TerminalObserver(console=console, clock=clock)
    observer.started(RUN)
    clock.now += 12.34
    observer.finished(RUN)

    assert screen(console).rstrip().endswith("plan dev: awaiting_approval (12.3s)")
