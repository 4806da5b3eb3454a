"""A run's live stream keeps only its latest events in memory, however long the log: clients
that fall behind (a replay of a long log, a slow connection) read what they missed from the
store and rejoin, and every client still gets each line once, in order, then the end.

Pages and the window are made small here so that a few thousand lines cross them many times.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from manyruns import make_runs
from tfctl.context import AppContext
from tfctl.persistence import runs as run_store
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import RunStatus
from tfctl.persistence.types import utcnow
from tfctl.server import streams

LINES = 3000


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "PAGE", 100)
    monkeypatch.setattr(streams, "WINDOW", 200)


def a_run(store: Store, status: RunStatus) -> str:
    run_id = make_runs(store, 1)[0].id
    with store.write() as session:
        run_store.set_status(session=session, run_id=run_id, to=status, from_=list(RunStatus))
    return run_id


def write_lines(store: Store, run_id: str, first: int, last: int) -> None:
    lines = [(seq, "stdout", f"line {seq}") for seq in range(first, last + 1)]
    with store.write() as session:
        run_store.append_logs(session=session, run_id=run_id, lines=lines)


def finish(store: Store, run_id: str) -> None:
    with store.write() as session:
        run_store.set_status(session=session, run_id=run_id, to=RunStatus.APPLIED,
                             from_=[RunStatus.RUNNING])  # fmt: skip
        run_store.update_run(session=session, run_id=run_id,
                             finished_at=utcnow() - timedelta(seconds=5))  # fmt: skip


async def follow(hub: streams.StreamHub, run_id: str, *, slow: bool) -> list[dict[str, Any]]:
    events = []
    async for event in hub.events(run_id):
        if event["type"] != "keepalive":
            events.append(event)
        if slow and len(events) % 50 == 0:
            await asyncio.sleep(0.03)  # a slow connection: the tail runs ahead of it
    return events


async def watch(hub: streams.StreamHub, run_id: str, peak: list[int]) -> None:
    while True:
        tail = hub.tails.get(run_id)
        if tail is not None:
            peak.append(len(tail.events))
        await asyncio.sleep(0.002)


def check(events: list[dict[str, Any]], statuses: list[str]) -> None:
    assert [e["seq"] for e in events if e["type"] == "log"] == list(range(1, LINES + 1))
    assert [e["status"] for e in events if e["type"] == "status"] == statuses
    assert events[0]["type"] == "status"
    assert events[-1] == {"type": "end", "status": "applied"}


async def clients(hub: streams.StreamHub, run_id: str) -> tuple[list[Any], list[Any], int]:
    peak: list[int] = []
    watcher = asyncio.create_task(watch(hub, run_id, peak))
    fast, slow = await asyncio.gather(follow(hub, run_id, slow=False),
                                      follow(hub, run_id, slow=True))  # fmt: skip
    watcher.cancel()
    return fast, slow, max(peak)


def test_a_finished_long_log_replays_to_fast_and_slow_clients_within_the_window(
    store: Store,
) -> None:
    run_id = a_run(store, RunStatus.RUNNING)
    write_lines(store, run_id, 1, LINES)
    finish(store, run_id)
    hub = streams.StreamHub(AppContext(store=store), poll_interval=0.02)

    fast, slow, peak = asyncio.run(clients(hub, run_id))

    check(fast, ["applied"])
    check(slow, ["applied"])
    assert peak <= 2 * streams.WINDOW  # never the whole log
    assert hub.tails == {}


def test_a_live_long_log_streams_every_line_once_to_fast_and_slow_clients(store: Store) -> None:
    run_id = a_run(store, RunStatus.RUNNING)
    hub = streams.StreamHub(AppContext(store=store), poll_interval=0.02)

    def terraform() -> None:
        for first in range(1, LINES + 1, 100):
            write_lines(store, run_id, first, first + 99)
            time.sleep(0.01)
        finish(store, run_id)

    writer = threading.Thread(target=terraform)
    writer.start()
    try:
        fast, slow, peak = asyncio.run(clients(hub, run_id))
    finally:
        writer.join()

    check(fast, ["running", "applied"])
    check(slow, ["running", "applied"])
    assert peak <= 2 * streams.WINDOW
