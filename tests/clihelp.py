"""Driving the installed `tfctl` command from tests, as a user types it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
