"""Run one command in its own process group: stream its output, stop it, leave nothing behind.

Terraform's `local-exec` provisioners start children of their own. Signalling only terraform's
PID orphans them (see TERRAFORM-FACTS.md), so the command is started as the leader of a new
session and every signal goes to the whole group. After the leader exits, whatever is left of
the group is killed: no grandchild outlives the run. This module and `runner.py` are the only
code in tfctl that imports `subprocess`.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from tfctl.threads import block_signals

StreamName = Literal["stdout", "stderr"]
LineSink = Callable[[StreamName, str], None]
Stop = Literal["cancelled", "timed_out"]

#: Lines of stdout kept for error messages; all of it went to `on_line` (or to the file).
STDOUT_TAIL_LINES = 200
_TAIL_LINE_CHARS = 2000
# Once the group is gone the pipes are at EOF, unless a process escaped the group (its own
# setsid) with them open; then the reader threads are abandoned rather than waited for.
_DRAIN_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """How a command ended. `exit_code` is negative when a signal killed it (as in subprocess);
    `stderr_text` is all of stderr, `stdout_tail` the last `STDOUT_TAIL_LINES` lines."""

    exit_code: int
    duration: float
    stdout_tail: str
    stderr_text: str
    cancelled: bool = False
    timed_out: bool = False


#: How often a running command's `should_cancel` is asked (a halt reaches terraform within it).
POLL_INTERVAL = 0.1
#: How long an interrupted terraform may take to write its state before SIGKILL.
GRACE_PERIOD = 10.0


@dataclass(frozen=True, slots=True)
class StopControl:
    """When to stop a command: `should_cancel()` is asked every `poll_interval` seconds, and
    `timeout` bounds the run; either sends SIGINT to the group, and SIGKILL follows if the
    leader has not exited `grace_period` seconds later."""

    timeout: float | None = None
    should_cancel: Callable[[], bool] | None = None
    poll_interval: float = POLL_INTERVAL
    grace_period: float = GRACE_PERIOD


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    control: StopControl,
    on_line: LineSink | None = None,
    stdout_path: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ProcessResult:
    """Run `argv` (no shell) to the end, or until `control` stops it; always reap it and kill
    every process left in its group. Lines go to `on_line(stream, line)`, one call at a time,
    from reader threads; with `stdout_path`, stdout goes to that file instead. If `on_line`
    raises, it gets no more lines, the output is still drained, and the error is re-raised
    once the process is gone. Ctrl-C (KeyboardInterrupt) while waiting counts as a cancel.
    Raises OSError when the command cannot be started."""
    started = clock()
    with _stdout_target(stdout_path) as stdout:
        popen = subprocess.Popen(
            with_parent_death_signal(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    group, streams = ProcessGroup(popen), _Streams(on_line)
    try:
        streams.start(popen)
        stop = _supervise(group, control, clock)
        if stop is not None:
            group.interrupt(control.grace_period)
    finally:
        exit_code = group.finish()
        streams.join(_DRAIN_TIMEOUT)
    streams.reraise()
    return streams.result(exit_code, clock() - started, stop)


_DETACHED: list[subprocess.Popen[bytes]] = []


def start_detached(argv: Sequence[str], stdin: bytes) -> None:
    """Start `argv` (no shell) in a session of its own, hand it `stdin`, and return at once:
    a helper that must outlive a short command (webhook delivery). Ended ones are reaped at
    the next start, so none is left a zombie. Raises OSError when it cannot start."""
    _DETACHED[:] = [child for child in _DETACHED if child.poll() is None]
    child = subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    _DETACHED.append(child)
    if child.stdin is None:  # never with stdin=PIPE
        raise OSError("no pipe to the detached process")
    with child.stdin:
        child.stdin.write(stdin)


def with_parent_death_signal(argv: Sequence[str]) -> list[str]:
    """`argv` started through util-linux's `setpriv --pdeathsig INT`, which sets the
    parent-death signal and then execs the command (same pid, same process group): if tfctl
    dies (kill -9, machine trouble), the kernel sends terraform SIGINT, so it stops
    gracefully and writes its state instead of running on unsupervised. Unlike a
    `preexec_fn`, nothing runs in the forked child before exec, so it is safe while worker
    threads run. Without `setpriv` (not Linux) the command runs as it is."""
    setpriv = _setpriv(os.environ.get("PATH", ""))
    return [setpriv, "--pdeathsig", "INT", "--", *argv] if setpriv else list(argv)


@functools.cache
def _setpriv(path: str) -> str | None:
    """Where `setpriv` is on this PATH (asked once per PATH value, not once per process:
    a PATH that lacked it earlier must not hide it later)."""
    if not sys.platform.startswith("linux"):
        return None
    return shutil.which("setpriv", path=path)


class ProcessGroup:
    """A started child leading its own process group, and the one way tfctl signals it."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pgid = _owned_group(popen.pid)
        self._pidfd = _open_pidfd(popen.pid) if self.pgid is not None else None
        self._exited = select.poll()  # not select.select: a worker's fds can pass 1024
        if self._pidfd is not None:
            self._exited.register(self._pidfd, select.POLLIN)

    def wait(self, timeout: float) -> bool:
        """True once the leader has exited. With a pidfd (Linux) the leader is left unreaped
        until `finish`, so its group id cannot be reused while the leftovers are killed."""
        if self._pidfd is not None:
            return bool(self._exited.poll(math.ceil(timeout * 1000)))
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def signal(self, sig: int) -> None:
        """Send `sig` to every process of the group (a gone group is not an error)."""
        if self.pgid is None:
            if self._popen.poll() is None:
                self._popen.send_signal(sig)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, sig)

    def interrupt(self, grace_period: float) -> None:
        """SIGINT (terraform's graceful stop, which writes state), then SIGKILL if the leader
        is still running after `grace_period` seconds."""
        self.signal(signal.SIGINT)
        if not self.wait(grace_period):
            self.signal(signal.SIGKILL)

    def finish(self) -> int:
        """Kill whatever is left of the group, reap the leader and return its exit code.

        Killed grandchildren were re-parented to init, which reaps them; until it does (up to
        ~2 s on some hosts) they are zombies: they run nothing, but the group id still exists.
        """
        self.signal(signal.SIGKILL)
        exit_code = self._popen.wait()
        if self._pidfd is not None:
            self._exited.unregister(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        return exit_code


def _supervise(
    group: ProcessGroup, control: StopControl, clock: Callable[[], float]
) -> Stop | None:
    deadline = None if control.timeout is None else clock() + control.timeout
    try:
        while not group.wait(_next_wait(control.poll_interval, deadline, clock)):
            if control.should_cancel is not None and control.should_cancel():
                return "cancelled"
            if deadline is not None and clock() >= deadline:
                return "timed_out"
    except KeyboardInterrupt:
        # The terminal's Ctrl-C does not reach terraform (it has its own session): stop it
        # the same graceful way as a cancel, so it still writes its state.
        return "cancelled"
    return None


def _next_wait(poll_interval: float, deadline: float | None, clock: Callable[[], float]) -> float:
    if deadline is None:
        return poll_interval
    return max(0.0, min(poll_interval, deadline - clock()))


def _owned_group(pid: int) -> int | None:
    """`pid` if it is our own child and leads its own group, else None.

    killpg on any other id could hit processes tfctl never started (killpg(1) is kill(-1):
    every process), so a child that is not provably ours is only ever signalled by PID."""
    if pid <= 1:
        return None
    try:
        if os.getpgid(pid) != pid:
            return None
        if hasattr(os, "waitid"):  # raises ChildProcessError unless pid is our child
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except (ProcessLookupError, ChildProcessError):
        return None
    return pid


def _open_pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:  # a kernel before 5.3: Popen.wait() instead
        return None


@contextlib.contextmanager
def _stdout_target(path: Path | None) -> Iterator[IO[bytes] | int]:
    if path is None:
        yield subprocess.PIPE
        return
    with open(path, "wb") as file:  # the child keeps its own copy of the descriptor
        yield file


class _Streams:
    """Drains the child's pipes on reader threads, keeping all of stderr and a stdout tail."""

    def __init__(self, on_line: LineSink | None) -> None:
        self._on_line = on_line
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        self._tail: deque[str] = deque(maxlen=STDOUT_TAIL_LINES)
        self._sink_error: Exception | None = None
        self._threads: list[threading.Thread] = []

    def start(self, popen: subprocess.Popen[bytes]) -> None:
        pipes: tuple[tuple[StreamName, IO[bytes] | None], ...] = (
            ("stdout", popen.stdout),
            ("stderr", popen.stderr),
        )
        for name, pipe in pipes:
            if pipe is not None:
                thread = threading.Thread(
                    target=self._pump, args=(name, pipe), name=f"tfctl-{name}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def reraise(self) -> None:
        if self._sink_error is not None:
            raise self._sink_error

    def result(self, exit_code: int, duration: float, stop: Stop | None) -> ProcessResult:
        with self._lock:
            return ProcessResult(
                exit_code=exit_code,
                duration=duration,
                stdout_tail="\n".join(self._tail),
                stderr_text="\n".join(self._stderr),
                cancelled=stop == "cancelled",
                timed_out=stop == "timed_out",
            )

    def _pump(self, name: StreamName, pipe: IO[bytes]) -> None:
        block_signals()  # Ctrl-C goes to the main thread (tfctl/threads.py)
        with pipe:
            for raw in iter(pipe.readline, b""):
                self._record(name, raw.decode("utf-8", "replace").rstrip("\r\n"))

    def _record(self, name: StreamName, line: str) -> None:
        with self._lock:
            if name == "stderr":
                self._stderr.append(line)
            else:
                self._tail.append(line[:_TAIL_LINE_CHARS])
            if self._on_line is None or self._sink_error is not None:
                return
            try:
                self._on_line(name, line)
            except Exception as exc:  # re-raised by run_process once the process is gone
                self._sink_error = exc
