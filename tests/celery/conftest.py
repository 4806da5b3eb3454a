"""Fixtures for the Celery tests: a real `redis-server` (Debian's, on a free 127.0.0.1 port,
nothing saved) and real `celery -A tfctl.celery worker` processes on the test's store."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SECRET = "celery-test-secret-2d8b41"
WORKER_NAME = "celery-test"
# CI installs redis-server (.ci/run); elsewhere the tests are skipped without it.
REDIS = shutil.which("redis-server", path=f"{os.environ.get('PATH', '')}:/usr/bin:/usr/sbin")
if REDIS is None and os.environ.get("CI", "") != "true":
    pytest.skip("needs redis-server (apt-get install redis-server)", allow_module_level=True)


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """The files module's sensitive variable, which no log may show."""
    monkeypatch.setenv("TF_VAR_token", SECRET)
    return SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway redis-server: 127.0.0.1 only, no snapshots, no append-only file (a restart
    loses every message, as a crashed broker without persistence does)."""

    def __init__(self, base: Path) -> None:
        assert REDIS, "redis-server must be installed (apt-get install redis-server)"
        self.base, self.port = base, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [str(REDIS), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.base), "--daemonize", "no"]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.answers():
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """The broker dies at once (SIGKILL): connections drop, unsaved messages are gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


class CeleryWorker:
    """`celery -A tfctl.celery worker -Q terraform` as a user starts it, logging to a file."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.log_path = cwd / "celery-worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, concurrency: int = 2) -> CeleryWorker:
        celery = str(Path(sys.executable).parent / "celery")
        argv = [celery, "-A", "tfctl.celery", "worker", "-Q", "terraform", "--pool", "prefork",
                "--concurrency", str(concurrency), "--loglevel", "INFO",
                "--hostname", f"{WORKER_NAME}@%h", "--without-gossip", "--without-mingle",
                "--without-heartbeat"]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.wait_for_log(" ready.", within=60)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, *, within: float, count: int = 1) -> str:
        deadline = time.monotonic() + within
        while self.log().count(text) < count:
            assert self.alive(), f"the celery worker exited:\n{self.log()[-4000:]}"
            assert time.monotonic() < deadline, f"no {text!r} in the log:\n{self.log()[-4000:]}"
            time.sleep(0.1)
        return self.log()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), then whatever is left of its process group killed."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def celery_worker(
    redis: RedisServer, store_url: str, isolated_env: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., CeleryWorker]]:  # fmt: skip
    """Start a Celery worker on the test's store and broker; the test process publishes to
    the same broker (TFCTL_CELERY_BROKER_URL)."""
    from tfctl.settings import get_settings

    monkeypatch.setenv("TFCTL_CELERY_BROKER_URL", redis.url)
    get_settings.cache_clear()
    env = {**os.environ, "TFCTL_DATABASE_URL": store_url, "TFCTL_HOME": str(isolated_env)}
    cwd = tmp_path / "celery"
    cwd.mkdir()
    workers: list[CeleryWorker] = []

    def start(**options: int) -> CeleryWorker:
        workers.append(CeleryWorker(env, cwd).start(**options))
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()
