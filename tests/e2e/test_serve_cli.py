"""`tfctl serve` as a user starts it: the first admin token and its one-time login URL, the
embedded worker slot running what the API queues, SIGTERM draining a running apply, and
`tfctl token` for the tokens the server accepts."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from clihelp import ok, refused, setup_files_workspace, tfctl_bin

pytestmark = pytest.mark.terraform


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")


class Serve:
    """A `tfctl serve --port 0` process, its URL and first login URL read from its output."""

    def __init__(self, *args: str) -> None:
        argv = [tfctl_bin(), "serve", "--port", "0", *args]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)  # fmt: skip
        assert self.proc.stderr is not None
        self.stderr_lines: list[str] = []
        for line in self.proc.stderr:
            self.stderr_lines.append(line)
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                self.url = found.group(1)
                break
        else:
            raise AssertionError("".join(self.stderr_lines))
        self.login_url: str | None = None

    def read_login_url(self) -> str:
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.login_url = self.proc.stdout.readline().strip()
        self.stderr_lines.append(self.proc.stderr.readline())
        return self.login_url

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _, rest = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, "".join(self.stderr_lines) + rest

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def test_first_serve_creates_an_admin_token_and_prints_a_login_url(isolated_env: Path) -> None:
    ok("init")
    server = Serve("--workers", "0")
    try:
        login = server.read_login_url()
        assert re.fullmatch(rf"{re.escape(server.url)}/login\?token=tfctl_\S+", login)
        assert "created the admin token 'admin'" in "".join(server.stderr_lines)
        tokens = json.loads(ok("token", "list", "--json"))
        assert [(t["name"], t["role"]) for t in tokens] == [("admin", "admin")]
        with httpx.Client(follow_redirects=False) as client:
            assert client.get(f"{server.url}/healthz").status_code == 200
            assert client.get(f"{server.url}/terraform/runs").status_code == 401
            assert client.get(login).status_code == 200
            assert client.get(f"{server.url}/infra/terraform").status_code == 200
        code, output = server.stop()
        assert code == 0, output
    finally:
        server.kill()
    again = Serve("--workers", "0")  # a token exists now: no new one, no URL
    try:
        code, output = again.stop()
        assert code == 0
        assert "login" not in output
    finally:
        again.kill()


def test_token_commands(isolated_env: Path) -> None:
    created = json.loads(ok("token", "create", "ci-bot", "--role", "operator", "--json"))
    assert set(created) == {"name", "role", "token", "created_at"}
    assert created["token"].startswith("tfctl_")
    listed = ok("token", "list", "--json")
    assert created["token"] not in listed  # shown once, stored as its SHA-256 only
    assert [t["name"] for t in json.loads(listed)] == ["ci-bot"]
    assert "already exists" in refused("token", "create", "ci-bot", "--role", "viewer")
    assert "expected one of viewer, operator, admin" in refused(
        "token", "create", "x", "--role", "root"
    )
    assert "ci-bot" in ok("token", "revoke", "ci-bot")
    assert "no token named 'ci-bot'" in refused("token", "revoke", "ci-bot")


def test_a_taken_port_is_one_clear_line(isolated_env: Path) -> None:
    ok("init")
    server = Serve("--workers", "0")
    try:
        port = server.url.rsplit(":", 1)[1]
        line = refused("serve", "--port", port)
        assert f"--port {port}: cannot listen there" in line
    finally:
        server.stop()
        server.kill()


def test_sigterm_drains_a_running_apply_and_exits(isolated_env: Path, tmp_path: Path) -> None:
    setup_files_workspace(tmp_path, sleep_seconds=30)
    token = json.loads(ok("token", "create", "ops", "--role", "admin", "--json"))["token"]
    server = Serve("--workers", "1")
    try:
        http = httpx.Client(base_url=server.url, timeout=30,
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        plan = http.post("/terraform/workspaces/dev/runs", json={"operation": "plan"}).json()
        assert plan["actor"] == "ops"
        wait(http, plan["id"], "awaiting_approval")
        apply = http.post(f"/terraform/runs/{plan['id']}/actions/apply", json={}).json()
        wait(http, apply["id"], "running")
        wait_for_log(http, apply["id"], "Provisioning with 'local-exec'")
        http.close()
        stopped_at = time.monotonic()
        code, output = server.stop(signal.SIGTERM)
        assert code == 0, output
        assert time.monotonic() - stopped_at < 30  # not the provisioner's 30 s sleep
        assert "draining" in output
    finally:
        server.kill()
    run = json.loads(ok("runs", "show", apply["id"], "--json"))
    assert run["status"] == "cancelled"
    assert run["finished_at"] is not None
    assert "SIGTERM" in (run["message"] or "")
    logs = ok("runs", "logs", apply["id"])
    assert "Provisioning with 'local-exec'" in logs


def wait(http: httpx.Client, run_id: str, status: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = http.get(f"/terraform/runs/{run_id}").json()
        if run["status"] == status:
            return dict(run)
        assert run["status"] not in ("errored", "cancelled"), run
        time.sleep(0.2)
    raise AssertionError(f"{run_id} never became {status}")


def wait_for_log(http: httpx.Client, run_id: str, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = http.get(f"/terraform/runs/{run_id}/logs").json()
        if any(text in line["text"] for line in page["lines"]):
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared in the log of {run_id}")
