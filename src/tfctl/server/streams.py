"""Live run streams: one async tail per run, read from the job store, served as WebSocket and
Server-Sent Events.

A run's log lives in the store, not in this process's memory, so any server streams any run,
wherever it executes. All clients of one run share one `RunTail`: one store poll per
interval however many watch. A tail keeps only its latest events (`WINDOW`), so memory stays
the same for a 100,000-line log: a client that falls behind it (a replay of a long log, a slow
connection) reads the lines it missed from the store a page at a time, then rejoins. A client
starts after a log sequence number (`?after=SEQ`, or SSE's `Last-Event-ID`), so a
reconnecting client neither loses nor repeats a line. Messages:

    {"type": "log", "seq", "stream", "text"}   a log line
    {"type": "status", "status"}               the run's status changed
    {"type": "end", "status"}                  the run is done (the last message)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from tfctl.server.auth import check_origin
from tfctl.server.deps import Viewer

if TYPE_CHECKING:
    from tfctl.context import AppContext
    from tfctl.runs.service import RunService
    from tfctl.runs.views import LogLine, LogPage

log = logging.getLogger(__name__)
PAGE = 1000
#: The events a tail keeps: clients within this many of its latest read from memory.
WINDOW = 4 * PAGE
KEEPALIVE_SECONDS = 15.0
SETTLE_SECONDS = 1.0
QUIET_SECONDS = 30.0


class RunTail:
    """The events of one run, read from the store by one polling task, for every client."""

    def __init__(self, service: RunService, run_id: str, poll_interval: float) -> None:
        self.service, self.run_id, self.poll_interval = service, run_id, poll_interval
        #: the latest events; `events[i]` is event number `dropped + i` of the run
        self.events: list[dict[str, Any]] = []
        self.dropped = 0
        self.status: str | None = None
        self.ended = False
        self.clients = 0
        self.polls = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.run_id)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._notify()

    async def changed(self, timeout: float) -> None:
        """Wait until new events arrive (or `timeout` passes)."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    @property
    def end(self) -> int:
        """The number of events so far (the index the next event will have)."""
        return self.dropped + len(self.events)

    def event(self, index: int) -> dict[str, Any] | None:
        """Event number `index`, None when it is no longer kept (or not there yet)."""
        if self.dropped <= index < self.end:
            return self.events[index - self.dropped]
        return None

    def _append(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if len(self.events) >= 2 * WINDOW:  # drop a window at a time: appends stay O(1)
            del self.events[:WINDOW]
            self.dropped += WINDOW

    async def _run(self) -> None:
        after, status, quiet_since = 0, None, time.monotonic()
        while not self.ended:
            try:
                page, current, finished_at = await anyio.to_thread.run_sync(self._read, after)
            except Exception:  # a store hiccup: the next poll retries
                log.warning("reading run %s failed; retrying", self.run_id, exc_info=True)
                await asyncio.sleep(self.poll_interval)
                continue
            self.polls += 1
            before = self.end
            if current != status:
                status = self.status = current
                self._append({"type": "status", "status": status})
            for line in page.lines:
                self._append(log_event(line))
            after = page.next
            if page.lines:
                quiet_since = time.monotonic()
            if page.finished and not page.lines and _settled(finished_at, quiet_since):
                self.ended = True
                self._append({"type": "end", "status": status})
            if self.end != before:
                self._notify()
            if len(page.lines) < PAGE and not self.ended:
                await asyncio.sleep(self.poll_interval)

    def _read(self, after: int) -> tuple[LogPage, str, datetime | None]:
        page = self.service.logs(self.run_id, after=after, limit=PAGE)
        run = self.service.get(self.run_id)
        return page, str(run.status), run.finished_at

    def missed(self, after: int) -> LogPage:
        """A page of the lines after `after`, from the store (for a client behind the tail)."""
        return self.service.logs(self.run_id, after=after, limit=PAGE)


def log_event(line: LogLine) -> dict[str, Any]:
    return {"type": "log", "seq": line.seq, "stream": line.stream, "text": line.text}


def _settled(finished_at: datetime | None, quiet_since: float) -> bool:
    """Whether a run whose status is final has written its last log line. Its process may
    still be writing: a cancelled or halted run until terraform has stopped (`finished_at`
    is set then), and the last lines of a run can land just after its status. So the end is
    sent once the run has been finished for `SETTLE_SECONDS` with nothing new, or after
    `QUIET_SECONDS` without a line when no finish time ever comes (a run declared lost)."""
    from tfctl.persistence.types import utcnow

    if finished_at is not None:
        return (utcnow() - finished_at).total_seconds() >= SETTLE_SECONDS
    return time.monotonic() - quiet_since >= QUIET_SECONDS


class StreamHub:
    """The tails of the runs being watched; a tail lives while it has clients."""

    def __init__(self, ctx: AppContext, *, poll_interval: float = 0.25) -> None:
        self.ctx, self.poll_interval = ctx, poll_interval
        self.tails: dict[str, RunTail] = {}
        self.closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def service(self) -> RunService:
        from tfctl.runs.service import RunService

        return RunService(self.ctx)

    def resolve(self, run_id: str) -> str:
        """The run's full id (`RunNotFound` for an unknown one)."""
        return self.service().get(run_id).id

    @contextlib.asynccontextmanager
    async def watch(self, run_id: str) -> AsyncIterator[RunTail]:
        self._loop = asyncio.get_running_loop()
        tail = self.tails.get(run_id)
        if tail is None:
            tail = self.tails[run_id] = RunTail(self.service(), run_id, self.poll_interval)
            tail.start()
        tail.clients += 1
        try:
            yield tail
        finally:
            tail.clients -= 1
            if tail.clients == 0 and self.tails.get(run_id) is tail:
                del self.tails[run_id]
                tail.stop()

    async def events(self, run_id: str, *, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """The run's events for one client: log lines after `after`, status changes, the end.
        Keepalives are `{"type": "keepalive"}` (not sent to clients as messages)."""
        async with self.watch(run_id) as tail:
            client = _Client(after)
            while True:
                if client.index < tail.dropped:  # behind what the tail keeps: read the store
                    for missed in await client.catch_up(tail):
                        yield missed
                    continue
                event = tail.event(client.index)
                if event is not None:
                    client.index += 1
                    if client.wants(event):
                        yield event
                        if event["type"] == "end":
                            return
                    continue
                if self.closed:
                    return
                before = tail.end
                await tail.changed(KEEPALIVE_SECONDS)
                if tail.end == before and not self.closed:
                    yield {"type": "keepalive"}

    def close(self) -> None:
        """End every stream (the server is shutting down); callable from any thread."""
        self.closed = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for tail in list(self.tails.values()):
            try:
                loop.call_soon_threadsafe(tail.stop)
            except RuntimeError:  # the loop is gone already
                return


class _Client:
    """Where one client is: the next tail event it reads (`index`), its last log line
    (`after`) and the last status it was sent."""

    def __init__(self, after: int) -> None:
        self.index, self.after = 0, after
        self.status: str | None = None
        self.status_until = 0  # the tail's status events before this index are older news

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether to send the tail's next event (not a line or a status already sent)."""
        if event["type"] == "log":
            if event["seq"] <= self.after:
                return False
            self.after = event["seq"]
        if event["type"] == "status":
            if event["status"] == self.status or self.index <= self.status_until:
                return False
            self.status = event["status"]
        return True

    async def catch_up(self, tail: RunTail) -> list[dict[str, Any]]:
        """The next page of the lines this client missed, read from the store (after the
        run's status if it is news); once it has read all there is, it goes on from the
        oldest event the tail keeps."""
        events = []
        if tail.status is not None and tail.status != self.status:
            self.status = tail.status
            events.append({"type": "status", "status": self.status})
        self.status_until = tail.end
        page = await anyio.to_thread.run_sync(tail.missed, self.after)
        events.extend(log_event(line) for line in page.lines)
        self.after = page.next
        if len(page.lines) < PAGE:
            self.index = tail.dropped
        return events


# --- the routes -------------------------------------------------------------------------------

router = APIRouter(tags=["streams"])
After = Annotated[int, Query(ge=0, description="Start after this log sequence number")]


def _hub(conn: WebSocket | Request) -> StreamHub:
    hub: StreamHub = conn.app.state.hub
    return hub


@router.websocket("/terraform/ws/runs/{run_id}", dependencies=[Depends(check_origin)])
async def run_websocket(websocket: WebSocket, run_id: str, _: Viewer, after: After = 0) -> None:
    """A run's events as JSON messages, then a normal close after `end`."""
    hub = _hub(websocket)
    full_id = await anyio.to_thread.run_sync(hub.resolve, run_id)
    await websocket.accept()
    async with anyio.create_task_group() as group:
        group.start_soon(_until_disconnect, websocket, group.cancel_scope)
        async for event in hub.events(full_id, after=after):
            if event["type"] != "keepalive":
                await websocket.send_text(json.dumps(event))
        group.cancel_scope.cancel()
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(1000 if not hub.closed else 1001)


async def _until_disconnect(websocket: WebSocket, scope: anyio.CancelScope) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
    scope.cancel()


@router.get("/terraform/runs/{run_id}/events", dependencies=[Depends(check_origin)],
            summary="A run's events as Server-Sent Events (id = log seq)")  # fmt: skip
async def run_events(
    request: Request,
    run_id: str,
    _: Viewer,
    after: After = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    hub = _hub(request)
    full_id = await anyio.to_thread.run_sync(hub.resolve, run_id)
    start = _resume_point(last_event_id, after)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(_sse(hub, full_id, start), media_type="text/event-stream",
                             headers=headers)  # fmt: skip


def _resume_point(last_event_id: str | None, after: int) -> int:
    if last_event_id and last_event_id.strip().isdigit():
        return max(after, int(last_event_id.strip()))
    return after


async def _sse(hub: StreamHub, run_id: str, after: int) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    async for event in hub.events(run_id, after=after):
        if event["type"] == "keepalive":
            yield ": keepalive\n\n"
            continue
        ident = f"id: {event['seq']}\n" if event["type"] == "log" else ""
        yield f"{ident}data: {json.dumps(event)}\n\n"
