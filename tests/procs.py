"""Looking at live processes and waiting for a condition: what the halt, lease, Celery and
chaos tests check about terraform's provisioners (their FILE points into the test's `out`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def wait_until(
    condition: Callable[[], Any], *, within: float, what: str, every: float = 0.05
) -> Any:
    """The first true value of `condition()`, asked every `every` s; AssertionError naming
    `what` after `within` s."""
    deadline = time.monotonic() + within
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within:g} s for {what}")
        time.sleep(every)


def processes() -> Iterator[tuple[int, list[bytes], list[bytes]]]:
    """(pid, argv, environment) of every live process we may read; zombies have no argv."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if argv != [b""]:
            yield int(entry.name), argv, env


def writes_into(env: list[bytes], out: Path) -> bool:
    """The process belongs to a provisioner of the test writing into `out`."""
    return any(item.startswith(f"FILE={out}{os.sep}".encode()) for item in env)


def provisioner_sleeps(out: Path) -> list[int]:
    """Live `sleep` processes of this test's provisioners."""
    return [
        pid for pid, argv, env in processes() if argv[:1] == [b"sleep"] and writes_into(env, out)
    ]
