"""Driving the installed `tfctl` command from tests, as a user types it."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from filestack import FILES_MODULE

REPO = Path(__file__).resolve().parents[1]


def tfctl_bin() -> str:
    """The `tfctl` console script of the environment running the tests."""
    candidate = Path(sys.executable).parent / "tfctl"
    found = str(candidate) if candidate.exists() else shutil.which("tfctl")
    assert found, "the tfctl command is not installed; run `pip install .` first"
    return found


def tfctl(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [tfctl_bin(), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def ok(*args: str, **kwargs: object) -> str:
    result = tfctl(*args, **kwargs)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def refused(*args: str, **kwargs: object) -> str:
    """A bad-input command: exit 2, one line on stderr, no traceback, nothing on stdout."""
    result = tfctl(*args, **kwargs)  # type: ignore[arg-type]
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


def setup_files_workspace(tmp_path: Path, name: str = "dev", **variables: object) -> Path:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    spec = {"name": "files", "kind": "generic", "module_source": str(FILES_MODULE),
            "variables": {"names": ["a"], **variables}}  # fmt: skip
    (tmp_path / "files.json").write_text(json.dumps(spec))
    ok("init")
    ok("stack", "push", str(tmp_path / "files.json"))
    ok("workspace", "create", name, "--stack", "files", "--var", f"dir={out}")
    return out


def _wait_for_exit(pid: int, *, timeout: float) -> int | None:
    """The child's wait status once it exits; None if it is still running after `timeout`
    (the caller kills it: a test fails, it never hangs)."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def run_in_terminal(
    argv: list[str], env: dict[str, str], *, answer: bytes, prompt: bytes, code: int = 0
) -> str:
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec tfctl with the pty as its terminal
        os.execve(argv[0], argv, env)
    screen, answered, deadline = b"", False, time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                screen += chunk
            if not answered and prompt in screen:
                os.write(fd, answer)
                answered = True
        status = _wait_for_exit(pid, timeout=max(5.0, deadline - time.monotonic()))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert answered, screen.decode(errors="replace")
    assert status is not None, f"still running after the answer: {screen.decode(errors='replace')}"
    assert os.waitstatus_to_exitcode(status) == code, screen.decode(errors="replace")
    return screen.decode(errors="replace")
