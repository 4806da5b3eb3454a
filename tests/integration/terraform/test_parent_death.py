"""terraform gets SIGINT when tfctl dies, also when it was started from a worker thread: the
parent-death signal is set by `setpriv` after exec, not by a `preexec_fn` in the child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tfctl.terraform.process import with_parent_death_signal

CHILD = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from tfctl.terraform.process import StopControl, run_process

    def slot():
        run_process(["sleep", "60"], cwd=Path("."), env={"PATH": "/usr/bin:/bin"},
                    control=StopControl(),
                    on_line=lambda stream, line: None)

    threads = [threading.Thread(target=slot, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    print("started", flush=True)
    for t in threads:
        t.join()
    """
)


def sleeps_of(parent_pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if cmdline[:2] == [b"sleep", b"60"] and int(stat[1]) == parent_pid:
            found.append(int(entry.name))
    return found


def test_the_command_is_wrapped_so_that_nothing_runs_before_exec() -> None:
    argv = with_parent_death_signal(["terraform", "apply"])
    assert argv[-2:] == ["terraform", "apply"]
    if sys.platform.startswith("linux"):
        assert argv[1:4] == ["--pdeathsig", "INT", "--"]


def test_a_killed_parent_takes_its_threads_commands_with_it(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True,
                              cwd=tmp_path)  # fmt: skip
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 10
        while len(sleeps_of(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        children = sleeps_of(parent.pid)
        assert len(children) == 2  # started from two threads, each its own command
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in children):
            assert time.monotonic() < deadline, "a command outlived its killed parent"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
