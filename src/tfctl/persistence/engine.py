"""Engines for the job store, SQLite or PostgreSQL: the layer below sessions and schema.

SQLite runs with WAL (readers never block the writer), foreign keys on, a busy timeout, and
write transactions that take the write lock up front (`BEGIN IMMEDIATE`), so two processes
never deadlock upgrading a read lock. Connection failures become `StoreUnavailable`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from tfctl import errors
from tfctl.settings import mask_url_password

SQLITE_BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "tfctl_sqlite_immediate"


def create_store_engine(url: str, *, create_directory: bool = False) -> Engine:
    """An engine for `url`. A SQLite file's directory must exist (`InvalidSetting` naming it
    otherwise: a mistyped path must not become a new, empty store); `create_directory`
    creates it instead, for tfctl's own embedded store in its home."""
    from sqlalchemy import create_engine

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: e.g. a port that is not a number
        shown = mask_url_password(url)
        raise errors.InvalidSetting(
            f"TFCTL_DATABASE_URL: cannot parse {shown!r}; "
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        _sqlite_directory(url, parsed.database, create=create_directory)
        return _sqlite_engine(url)
    if parsed.get_backend_name() != "postgresql":
        raise errors.InvalidSetting(
            f"TFCTL_DATABASE_URL: unsupported database {parsed.get_backend_name()!r}; "
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    return create_engine(url, pool_pre_ping=True, connect_args=POSTGRES_CONNECT_ARGS)


#: libpq settings that bound how long a cut network can hold a call: a connection attempt
#: gives up after `connect_timeout`; on an open connection, unanswered data or keepalives
#: fail it after ~`tcp_user_timeout` ms instead of the kernel's ~15 minutes.
POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "tcp_user_timeout": 8000,
}


def _sqlite_directory(url: str, database: str | None, *, create: bool) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    directory = Path(database).parent.absolute()
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    elif not directory.is_dir():
        tilde = " (SQLite does not expand '~': write the full path)" if "~" in database else ""
        raise errors.InvalidSetting(
            f"{url}: directory {directory} does not exist; create it first "
            f"(mkdir -p {shlex.quote(str(directory))}) or correct the path{tilde}"
        )


def _sqlite_engine(url: str) -> Engine:
    from sqlalchemy import create_engine

    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from pysqlite so that BEGIN is ours to emit (see _on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The same engine, but its transactions take SQLite's write lock when they begin."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_IMMEDIATE: True})
    return engine


@contextmanager
def translate_connection_errors(engine: Engine) -> Iterator[None]:
    """Turn "cannot connect" into `StoreUnavailable` naming the (password-masked) URL."""
    try:
        yield
    except OperationalError as exc:
        if not _is_connection_failure(exc):
            raise
        url = mask_url_password(engine.url.render_as_string(hide_password=False))
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise errors.StoreUnavailable(f"cannot reach the job store at {url}: {reason}") from exc


def _is_connection_failure(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    markers = (
        "connection", "could not connect", "unable to open database", "no such file",
        "could not translate host name", "failed to resolve host", "name or service not known",
        "temporary failure in name resolution", "timeout expired", "the database system is",
        "server closed", "no route to host", "network is unreachable",
    )  # fmt: skip
    return any(marker in text for marker in markers)


def is_transient(exc: OperationalError) -> bool:
    """Whether waiting may help: the store cannot be reached (PostgreSQL down, restarting,
    a reset connection, a network cut) or SQLite's write lock stayed taken past the busy
    timeout. A store that is not there at all (a wrong path or host) also looks like this;
    only stores that answered before are waited for."""
    return _is_connection_failure(exc) or "database is locked" in str(exc.orig).lower()
