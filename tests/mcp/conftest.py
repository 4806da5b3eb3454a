"""Fixtures for the MCP tests: the SDK's client against `tfctl mcp` (a real subprocess over
stdio) or against serve's `/mcp`, driven synchronously through an anyio portal, and real
`tfctl worker --burst` processes on the test's store."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from clihelp import tfctl_bin

SECRET = "mcp-test-secret-9f3a7c"
AGENT = "test agent"  # the client name the tests' MCP client gives


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """The files module's sensitive variable (`token`), which no answer may show."""
    monkeypatch.setenv("TF_VAR_token", SECRET)
    return SECRET


class ToolFailed(AssertionError):
    """A tool answered with an error (`is_error`): its text."""


class Mcp:
    """A connected MCP client, called synchronously: `mcp.call("get_run", run_id=...)`."""

    def __init__(self, portal: Any, client: Any) -> None:
        self.portal, self.client = portal, client

    def tools(self) -> dict[str, Any]:
        result = self.portal.call(self.client.list_tools)
        return {tool.name: tool for tool in result.tools}

    def result(self, tool: str, /, **arguments: Any) -> Any:
        return self.portal.call(self.client.call_tool, tool, arguments)

    def call(self, tool: str, /, **arguments: Any) -> Any:
        """The tool's JSON answer; `ToolFailed` with its text when it answered an error."""
        result = self.result(tool, **arguments)
        text = "\n".join(getattr(item, "text", "") for item in result.content)
        if result.is_error:
            raise ToolFailed(text)
        if result.structured_content is not None:
            return result.structured_content
        return json.loads(text)

    def error(self, tool: str, /, **arguments: Any) -> str:
        """The text of the tool error `tool` answers (it must answer one)."""
        try:
            answer = self.call(tool, **arguments)
        except ToolFailed as failed:
            return str(failed)
        raise AssertionError(f"{tool} answered {answer!r}, not an error")


@contextmanager
def connect(server: Any, *, client_name: str = AGENT) -> Iterator[Mcp]:
    """The SDK's `Client` to `server` (stdio parameters, a transport), in a portal thread."""
    from anyio.from_thread import start_blocking_portal
    from mcp import Client
    from mcp.types import Implementation

    client = Client(server, client_info=Implementation(name=client_name, version="1.0"),
                    read_timeout_seconds=60)  # fmt: skip
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(client) as entered:
        yield Mcp(portal, entered)


@pytest.fixture
def tfctl_env(store_url: str, isolated_env: Path) -> dict[str, str]:
    """The environment of the tfctl processes of a test: its store, its home, the token."""
    return {**os.environ, "TFCTL_DATABASE_URL": store_url, "TFCTL_HOME": str(isolated_env)}


@pytest.fixture
def stdio_mcp(tfctl_env: dict[str, str]) -> Callable[..., Any]:
    """`with stdio_mcp(operations=True) as mcp:` — `tfctl mcp` started as a subprocess by
    the SDK's stdio client, on the test's store."""

    def start(*, operations: bool = False, **env: str) -> Any:
        from mcp.client.stdio import StdioServerParameters

        extra = {"TFCTL_MCP_ENABLE_OPERATIONS": "1"} if operations else {}
        params = StdioServerParameters(command=tfctl_bin(), args=["mcp"],
                                       env={**tfctl_env, **extra, **env})  # fmt: skip
        return connect(params)

    return start


@pytest.fixture
def burst_worker(tfctl_env: dict[str, str]) -> Callable[[], str]:
    """Run a real `tfctl worker --burst` on the test's store until the queue is drained."""

    def drain() -> str:
        argv = [tfctl_bin(), "worker", "--burst", "--name", "burst"]
        done = subprocess.run(argv, env=tfctl_env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr

    return drain


@pytest.fixture
def http_mcp() -> Callable[[str, str | None], Any]:
    """`with http_mcp(url, token) as mcp:` — the SDK's client over streamable HTTP, sending
    `Authorization: Bearer TOKEN`."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def client(url: str, token: str | None) -> Any:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.types import Implementation

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            transport = streamable_http_client(url, http_client=http)
            info = Implementation(name=AGENT, version="1.0")
            async with Client(transport, client_info=info) as entered:
                yield entered

    @contextmanager
    def start(url: str, token: str | None) -> Iterator[Mcp]:
        from anyio.from_thread import start_blocking_portal

        with (
            start_blocking_portal() as portal,
            portal.wrap_async_context_manager(client(url, token)) as entered,
        ):
            yield Mcp(portal, entered)

    return start
