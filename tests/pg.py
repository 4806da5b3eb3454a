"""A throwaway PostgreSQL server for tests (DEVELOPERS.md "PostgreSQL in tests").

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
`postgres` user, in a temporary base directory that user owns, listening only on a unix
socket in that directory: no TCP port, nothing shared with another test run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def _bindir() -> Path:
    """Where initdb and pg_ctl live: PATH first, then Debian's versioned directories."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "pg_ctl").exists():
            return candidate
    raise RuntimeError(
        "PostgreSQL server programs (initdb, pg_ctl) not found: install PostgreSQL "
        "(Debian: apt-get install postgresql) — the PostgreSQL tests need a real server"
    )


@dataclass(frozen=True)
class PostgresServer:
    base: Path
    socket_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    def psql_url(self, database: str = "postgres") -> str:
        return f"host={self.socket_dir} user=postgres dbname={database}"

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh, empty database for one test; dropped afterwards."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.psql_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            with psycopg.connect(self.psql_url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _bindir()
    base = Path(tempfile.mkdtemp(prefix="tfctl-pg-"))
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data, sock, log = base / "data", base / "sock", base / "log"
    run = _as_server_user
    subprocess.run(
        run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    subprocess.run(run(["mkdir", "-p", str(sock)]), check=True)
    options = (
        f"-c listen_addresses='' -c unix_socket_directories={sock} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -p 5432"
    )
    subprocess.run(
        run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
                "-o",
                options,
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield PostgresServer(base=base, socket_dir=sock)
    finally:
        subprocess.run(
            run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
