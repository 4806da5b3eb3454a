"""What the chaos scenarios are made of: a PostgreSQL server the test can stop, restart and
put on a host of its own; `tfctl worker` processes (optionally on hosts of their own) that it
can kill; network namespaces joined by veth pairs whose links it can cut; a small tmpfs.

Everything is torn down by the context managers that make it, whatever the test did.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pg import _as_server_user, _bindir
from procs import wait_until as _wait_until

REPO = Path(__file__).resolve().parents[2]
FILES_MODULE = REPO / "tests" / "fixtures" / "modules" / "files"
CHURN_MODULE = Path(__file__).resolve().parent / "modules" / "churn"


def tfctl_bin() -> str:
    import sys

    candidate = Path(sys.executable).parent / "tfctl"
    found = str(candidate) if candidate.exists() else shutil.which("tfctl")
    assert found, "the tfctl command is not installed"
    return found


# --- PostgreSQL that comes and goes ------------------------------------------------------------


@dataclass
class Postgres:
    """A throwaway server of this test alone. Listens on a unix socket in its directory (for
    the test itself) and, with `tcp`, on those addresses (inside `netns` when given)."""

    base: Path
    tcp: tuple[str, ...] = ()
    netns: str | None = None
    port: int = 5432

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    def url(self, host: str | None = None, database: str = "tfctl") -> str:
        if host is None:
            return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"
        return f"postgresql+psycopg://postgres@{host}:{self.port}/{database}"

    def init(self) -> None:
        bindir = _bindir()
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        subprocess.run(
            _as_server_user([str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                             "--auth=trust", "--no-sync", "-E", "UTF8"]),
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(_as_server_user(["mkdir", "-p", str(self.socket_dir)]), check=True)
        if self.tcp:  # trust the test's private subnets (they exist only in its namespaces)
            hba = self.data / "pg_hba.conf"
            line = "host all all 10.251.0.0/16 trust"
            subprocess.run(_as_server_user(["sh", "-c", f"echo '{line}' >> {hba}"]), check=True)
        self.start()
        import psycopg

        with psycopg.connect(f"host={self.socket_dir} user=postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE tfctl")

    def start(self) -> None:
        listen = ",".join(self.tcp)
        options = (
            f"-c listen_addresses='{listen}' -c unix_socket_directories={self.socket_dir} "
            f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            f"-c max_connections=300 -p {self.port}"
        )
        pg_ctl = str(_bindir() / "pg_ctl")
        log = str(self.base / "log")
        argv = _as_server_user(
            [pg_ctl, "-D", str(self.data), "-l", log, "-w", "-t", "60", "start", "-o", options]
        )
        subprocess.run(in_netns(self.netns, argv), check=True, capture_output=True)

    def stop(self, mode: str = "fast") -> None:
        argv = _as_server_user([str(_bindir() / "pg_ctl"), "-D", str(self.data), "-m", mode,
                                "-w", "stop"])  # fmt: skip
        subprocess.run(argv, check=False, capture_output=True)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(f"host={self.socket_dir} user=postgres dbname=tfctl") as conn:
            return list(conn.execute(sql, args).fetchall())


@contextlib.contextmanager
def postgres(**kwargs: Any) -> Iterator[Postgres]:
    base = Path(tempfile.mkdtemp(prefix="tfctl-chaos-pg-"))
    server = Postgres(base=base, **kwargs)
    try:
        server.init()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


# --- hosts: network namespaces ------------------------------------------------------------------


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Hosts:
    """A store host and worker hosts, each a network namespace; worker host i is joined to
    the store host by its own veth pair on 10.251.i.0/24 (store .1, worker .2). Traffic
    flows only between these namespaces: nothing is routed to or from the machine's own."""

    prefix: str
    workers: int
    names: list[str] = field(default_factory=list)

    @property
    def store(self) -> str:
        return f"{self.prefix}-store"

    def worker(self, i: int) -> str:
        return f"{self.prefix}-w{i}"

    def store_address(self, i: int) -> str:
        return f"10.251.{i}.1"

    def link(self, i: int) -> str:
        return f"{self.prefix[-6:]}w{i}"  # interface names are at most 15 characters

    def build(self) -> None:
        for name in (self.store, *(self.worker(i) for i in range(1, self.workers + 1))):
            ip("netns", "add", name)
            self.names.append(name)
            ip("-n", name, "link", "set", "lo", "up")
        for i in range(1, self.workers + 1):
            near, far = f"{self.link(i)}s", f"{self.link(i)}h"
            ip("link", "add", near, "netns", self.store, "type", "veth", "peer", "name", far,
               "netns", self.worker(i))  # fmt: skip
            ip("-n", self.store, "addr", "add", f"10.251.{i}.1/24", "dev", near)
            ip("-n", self.worker(i), "addr", "add", f"10.251.{i}.2/24", "dev", far)
            ip("-n", self.store, "link", "set", near, "up")
            ip("-n", self.worker(i), "link", "set", far, "up")

    def cut(self, i: int) -> None:
        """Worker host i loses its link to the store: packets go nowhere, nothing is reset."""
        ip("-n", self.worker(i), "link", "set", f"{self.link(i)}h", "down")
        ip("-n", self.store, "link", "set", f"{self.link(i)}s", "down")

    def restore(self, i: int) -> None:
        ip("-n", self.store, "link", "set", f"{self.link(i)}s", "up")
        ip("-n", self.worker(i), "link", "set", f"{self.link(i)}h", "up")

    def destroy(self) -> None:
        for name in self.names:
            subprocess.run(["ip", "netns", "pids", name], capture_output=True)
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
            for pid in pids.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@contextlib.contextmanager
def hosts(workers: int) -> Iterator[Hosts]:
    made = Hosts(prefix=f"tfc{uuid.uuid4().hex[:6]}", workers=workers)
    try:
        made.build()
        yield made
    finally:
        made.destroy()


# --- a small disk --------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(size: str) -> Iterator[Path]:
    mount = Path(tempfile.mkdtemp(prefix="tfctl-chaos-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount)],
                   check=True)  # fmt: skip
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte; returns the filler file (remove it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * (1 << 16))
            out.flush()
    with contextlib.suppress(OSError), open(disk / "filler-tail", "wb") as out:
        while True:  # the last few blocks too
            out.write(b"\0")
            out.flush()
    return filler


# --- tfctl -------------------------------------------------------------------------------------


@dataclass
class Tfctl:
    """`tfctl` as the hosts run it: one environment (store URL, home, lease) for all."""

    env: dict[str, str]
    logs: Path

    def __call__(
        self, *args: str, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([tfctl_bin(), *args], capture_output=True, text=True,
                                env={**self.env, **env}, timeout=300)  # fmt: skip
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def json(self, *args: str, **env: str) -> Any:
        return json.loads(self(*args, "--json", **env).stdout)

    def worker(self, name: str, *, netns: str | None = None, **env: str) -> subprocess.Popen[bytes]:
        argv = in_netns(netns, [tfctl_bin(), "worker", "--name", name])
        with open(self.logs / f"{name}.log", "ab") as log:  # the child keeps its own copy
            return subprocess.Popen(argv, env={**self.env, **env}, stdout=log, stderr=log,
                                    start_new_session=True)  # fmt: skip


def base_env(home: Path, url: str, *, lease: float) -> dict[str, str]:
    from cryptography.fernet import Fernet

    keep = {k: v for k, v in os.environ.items() if not k.startswith(("TFCTL_", "TF_VAR_"))}
    return {**keep, "TFCTL_HOME": str(home), "TFCTL_DATABASE_URL": url,
            "TFCTL_HEARTBEAT_TIMEOUT": str(lease), "TF_VAR_token": "placeholder-token",
            "TFCTL_ARTIFACT_KEY": Fernet.generate_key().decode(),
            "TFCTL_SECRET_KEY": Fernet.generate_key().decode()}  # fmt: skip


def push_files(cli: Tfctl, tmp: Path, stack: str, **variables: Any) -> None:
    spec = {"name": stack, "kind": "generic", "module_source": str(FILES_MODULE),
            "variables": variables}  # fmt: skip
    path = tmp / f"{stack}.json"
    path.write_text(json.dumps(spec))
    cli("stack", "push", str(path))


@contextlib.contextmanager
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes the test starts; each is killed at the end if still running."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in started:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# --- waiting and looking ---------------------------------------------------------------------

#: the chaos scenarios ask the store or /proc every 0.2 s
wait_until = functools.partial(_wait_until, every=0.2)


def terraform_in(runs_dir: Path) -> list[int]:
    """Live terraform processes working in a run directory under `runs_dir`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cwd.startswith(f"{runs_dir}/") and argv[:1] and argv[0].endswith(b"terraform"):
            found.append(int(entry.name))
    return found


def kill_leftovers(out: Path) -> None:
    """Kill what is left of this test's provisioners (their FILE points into `out`): a
    provisioner's children outlive a terraform that was stopped alone (parent death)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(f"FILE={out}/".encode()) for e in environ):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
