"""A fake HCP Terraform behind `httpx.MockTransport`, serving the JSON:API fixtures in
tests/fixtures/hcp; every request it receives is kept for the test to inspect.

Imported by the tests as `unit.hcp.fakehcp` (tests/ is on the path).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hcp"
TOKEN = "tfctl-test.atlasv1.TOKENVALUE0123456789abcdef"

Reply = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def reply(status: int = 200, body: Any = None, *, headers: dict[str, str] | None = None) -> Reply:
    """A reply with a JSON:API body: a fixture name, a document, or nothing."""
    document = fixture(body) if isinstance(body, str) else body
    content = b"" if document is None else json.dumps(document).encode()
    all_headers = {"Content-Type": "application/vnd.api+json", **(headers or {})}
    return lambda request: httpx.Response(status, content=content, headers=all_headers)


def fail(exc_type: type[httpx.TransportError]) -> Reply:
    def raising(request: httpx.Request) -> httpx.Response:
        raise exc_type("simulated failure", request=request)

    return raising


class FakeHcp:
    """Routes by (method, URL without query); each route answers its replies in turn, and
    repeats the last one once they run out."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, url: str, *replies: Reply) -> None:
        if url.startswith("/"):
            url = "https://app.terraform.io/api/v2" + url
        self.routes[(method, url)] = list(replies)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, str(request.url.copy_with(query=None)))
        replies = self.routes.get(key)
        if not replies:
            raise AssertionError(f"the fake HCP Terraform has no route for {key}")
        answer = replies.pop(0) if len(replies) > 1 else replies[0]
        return answer(request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)
