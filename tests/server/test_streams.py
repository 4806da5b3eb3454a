"""Live run streams through a real uvicorn server on 127.0.0.1, with a real WebSocket client
and an SSE reader: lines as terraform prints them, status changes, the end, resuming after a
reconnect without losing or repeating a line, and one store poll for many clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from serverkit import LiveServer, files_setup, make_tokens, serve_options
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.server.app import create_app

pytestmark = pytest.mark.terraform


class Live:
    def __init__(self, server: LiveServer, tokens: dict[str, str], store: Store) -> None:
        self.server, self.tokens, self.store = server, tokens, store
        self.http = httpx.Client(base_url=server.url, headers=self.auth("admin"), timeout=30)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def start(self, workspace: str, operation: str = "plan") -> str:
        response = self.http.post(f"/terraform/workspaces/{workspace}/runs",
                                  json={"operation": operation})  # fmt: skip
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def wait(self, run_id: str, *statuses: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.http.get(f"/terraform/runs/{run_id}").json()
            if run["status"] in statuses:
                return dict(run)
            time.sleep(0.2)
        raise AssertionError(f"{run_id} is {run['status']}")

    def ws_url(self, run_id: str, after: int = 0) -> str:
        return f"ws://127.0.0.1:{self.server.port}/terraform/ws/runs/{run_id}?after={after}"

    async def ws_messages(self, run_id: str, after: int = 0, role: str = "viewer") -> list[Any]:
        async with websockets.connect(self.ws_url(run_id, after),
                                      additional_headers=self.auth(role)) as ws:  # fmt: skip
            return [json.loads(message) async for message in ws]


@pytest.fixture
def live(store: Store) -> Iterator[Live]:
    tokens = make_tokens(store)
    app = create_app(AppContext(store=store), serve_options())
    with LiveServer(app) as server:
        live = Live(server, tokens, store)
        yield live
        live.http.close()


def logs_of(messages: list[Any]) -> list[Any]:
    return [m for m in messages if m["type"] == "log"]


def test_websocket_follows_a_plan_live_and_a_reconnect_resumes(live: Live, tmp_path: Path) -> None:
    files_setup(live.store, tmp_path)
    run_id = live.start("dev")
    messages = asyncio.run(live.ws_messages(run_id))  # connected while queued
    statuses = [m["status"] for m in messages if m["type"] == "status"]
    assert statuses[0] in ("queued", "running")
    assert statuses[-1] == "awaiting_approval"
    assert messages[-1] == {"type": "end", "status": "awaiting_approval"}
    lines = logs_of(messages)
    assert [m["seq"] for m in lines] == list(range(1, len(lines) + 1))  # nothing lost
    assert set(lines[0]) == {"type", "seq", "stream", "text"}
    assert any("Plan: 2 to add" in m["text"] for m in lines)

    # a client that reconnects after seq 5 gets exactly the rest, then the end
    resumed = asyncio.run(live.ws_messages(run_id, after=5))
    assert logs_of(resumed) == lines[5:]
    assert resumed[-1] == {"type": "end", "status": "awaiting_approval"}

    # unknown runs and missing tokens are refused at the handshake
    with pytest.raises(websockets.InvalidStatus) as unknown:
        asyncio.run(live.ws_messages("run-0000000000nonexist"))
    assert unknown.value.response.status_code == 404
    with pytest.raises(websockets.InvalidStatus) as anonymous:
        asyncio.run(connect_without_token(live.ws_url(run_id)))
    assert anonymous.value.response.status_code == 401


async def connect_without_token(url: str) -> None:
    async with websockets.connect(url):
        pass


def test_sse_streams_with_ids_and_resumes_after_last_event_id(live: Live, tmp_path: Path) -> None:
    files_setup(live.store, tmp_path)
    run_id = live.start("dev")
    events = sse(live, run_id, {})
    lines = [e for e in events if e["data"]["type"] == "log"]
    assert [int(e["id"]) for e in lines] == [e["data"]["seq"] for e in lines]
    assert events[-1]["data"] == {"type": "end", "status": "awaiting_approval"}
    resumed = sse(live, run_id, {"Last-Event-ID": lines[3]["id"]})
    assert [e["data"] for e in resumed if e["data"]["type"] == "log"] == [
        e["data"] for e in lines[4:]
    ]


def sse(live: Live, run_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    url = f"/terraform/runs/{run_id}/events"
    with live.http.stream("GET", url, headers={**headers, **live.auth("viewer")}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("id: "):
                current["id"] = line[4:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and "data" in current:
                events.append(current)
                current = {}
    return events


def test_fifty_clients_of_a_running_apply_share_one_store_poll(live: Live, tmp_path: Path) -> None:
    files_setup(live.store, tmp_path, sleep_seconds=6)
    plan = live.wait(live.start("dev"), "awaiting_approval")
    applied = live.http.post(f"/terraform/runs/{plan['id']}/actions/apply", json={})
    apply_id = applied.json()["id"]
    live.wait(apply_id, "running")
    hub = live.server.app.state.hub

    async def watch_all() -> tuple[list[list[Any]], int, float]:
        tasks = [asyncio.create_task(live.ws_messages(apply_id)) for _ in range(50)]
        await asyncio.sleep(2.0)
        tail = hub.tails[apply_id]
        clients, polls, started = tail.clients, tail.polls, time.monotonic()
        await asyncio.sleep(1.0)
        rate = (tail.polls - polls) / (time.monotonic() - started)
        assert len(hub.tails) == 1
        return await asyncio.gather(*tasks), clients, rate

    results, clients, polls_per_second = asyncio.run(watch_all())
    assert clients == 50
    assert polls_per_second <= 1 / 0.1 + 2  # one poll per interval, not fifty
    first = results[0]
    assert first[-1] == {"type": "end", "status": "applied"}
    assert all(messages == first for messages in results)  # every client saw the same
    assert any("Apply complete!" in m["text"] for m in logs_of(first))
    assert hub.tails == {}  # the tail went with its last client
