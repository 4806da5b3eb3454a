"""Driving `tfctl serve` from tests: the app over a real store with a token per role,
through the ASGI test client, and helpers to wait for runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from filestack import files_workspace, push_files
from tfctl.persistence.db import Store
from tfctl.server.app import ServeOptions
from tfctl.server.tokens import create_token

SECRET = "server-test-secret-5c2e91"
ROLES = ("viewer", "operator", "admin")


class Api:
    """The test client with a bearer token per role: `api.get(path, role="viewer")`."""

    def __init__(self, client: TestClient, tokens: dict[str, str], store: Store) -> None:
        self.client, self.tokens, self.store = client, tokens, store

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}

    def request(self, method: str, path: str, *, role: str | None = "admin", **kw: Any) -> Any:
        headers = {**self.headers(role), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.get(f"/terraform/runs/{run_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(self, run_id: str, *statuses: str, timeout: float = 120) -> dict[str, Any]:
        """Poll the API until the run reaches one of `statuses`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run["status"] in statuses:
                return run
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} is still {run['status']}, not {statuses}")


def make_tokens(store: Store) -> dict[str, str]:
    return {role: create_token(store, f"{role}-token", role=role, created_by="test")[1]
            for role in ROLES}  # fmt: skip


def serve_options(workers: int = 1) -> ServeOptions:
    return ServeOptions(workers=workers, poll_interval=0.1, claim_interval=0.2)


def files_setup(store: Store, tmp_path: Path, name: str = "dev", **variables: Any) -> Path:
    """The files stack and a workspace `name` whose files land in the returned directory."""
    out = tmp_path / f"out-{name}"
    out.mkdir()
    push_files(store, tmp_path, **{"names": ["a"], **variables})
    files_workspace(store, name, out)
    return out


class LiveServer:
    """`create_app` under a real uvicorn on 127.0.0.1 (a free port), in a thread of the test."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        self.app = app
        from tfctl.server.run import bind

        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="auto",
                                timeout_graceful_shutdown=5)  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        from tfctl.server.app import stop_server_work

        stop_server_work(self.app, reason="test over")
        self.server.should_exit = True
        self.thread.join(60)
        self.sock.close()
