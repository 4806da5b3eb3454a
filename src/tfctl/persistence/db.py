"""Sessions and the Store for the job store (engines: `persistence.engine`; the schema
check on open: `persistence.schema`).

A store that answered once and then does not (PostgreSQL restarting, a connection reset, a
failover to a new primary at the same URL, SQLite's write lock held past its busy timeout)
is waited for, up to the store's `patience`, before a session starts: the connection is
checked out (pinged first, on PostgreSQL) and its transaction begun, retrying with backoff,
and only then does the caller's code run — so nothing it does is ever run twice.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy.engine import Connection, Engine, RootTransaction
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from tfctl.persistence.engine import (
    create_store_engine,
    is_transient,
    translate_connection_errors,
    writer,
)
from tfctl.settings import mask_url_password

RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # seconds between attempts to reach the store
log = logging.getLogger(__name__)


@contextmanager
def session_scope(
    engine: Engine, *, write: bool = False, patience: float = 0.0
) -> Iterator[Session]:
    """A session that commits on success and rolls back on error. Its transaction is begun
    before the caller's code runs, waiting up to `patience` seconds for a store that cannot
    be reached (or, SQLite, whose write lock stays taken)."""
    bind = writer(engine) if write else engine
    with (
        translate_connection_errors(engine),
        _begun(bind, patience) as (connection, tx),
        Session(
            connection, expire_on_commit=False, join_transaction_mode="rollback_only"
        ) as session,
    ):
        try:
            yield session
            if write:
                session.commit()  # flushes; the transaction is ours to commit
                tx.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def _begun(bind: Engine, patience: float) -> Iterator[tuple[Connection, RootTransaction]]:
    deadline = time.monotonic() + patience
    delay, attempt = RETRY_FIRST, 0
    while True:
        attempt += 1
        connection = None
        try:
            connection = bind.connect()
            tx = connection.begin()
            break
        except OperationalError as exc:
            if connection is not None:
                connection.invalidate()
                connection.close()
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            if attempt == 1:
                log.warning("the job store does not answer (%s); waiting up to %.0f s for it",
                            str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
                            patience)  # fmt: skip
            time.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)
    with connection:
        yield connection, tx


_OPEN_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def dispose_open_engines() -> None:
    """Close the pooled connections of every store opened in this process (PostgreSQL
    sees a clean goodbye, SQLite checkpoints its WAL); the CLI calls this before it exits."""
    for engine in list(_OPEN_ENGINES):
        engine.dispose()


class Store:
    """The job store: an engine and its read and write sessions."""

    def __init__(self, engine: Engine, *, patience: float = 0.0) -> None:
        self.engine = engine
        self._patience = patience
        self._local = threading.local()
        _OPEN_ENGINES.add(engine)

    @property
    def patience(self) -> float:
        """How long a session waits for a store that answered before and now does not: the
        store's own, or what `waiting` set for this thread."""
        return float(getattr(self._local, "patience", self._patience))

    @contextmanager
    def waiting(self, patience: float) -> Iterator[None]:
        """Sessions this thread opens inside wait up to `patience` seconds for the store
        (a run's executor waits out an outage; the lease guard fences terraform meanwhile)."""
        previous = getattr(self._local, "patience", None)
        self._local.patience = patience
        try:
            yield
        finally:
            if previous is None:
                del self._local.patience
            else:
                self._local.patience = previous

    @classmethod
    def open(cls, url: str, *, auto_upgrade: bool, patience: float = 0.0) -> Store:
        """Connect to the store at `url` and check its schema (see `schema.ensure_schema`).
        `auto_upgrade` marks tfctl's own embedded store: it is migrated, and its SQLite
        file's directory created, on first use; any other store must already be there."""
        from tfctl.persistence.schema import ensure_schema  # alembic: only when opening

        engine = create_store_engine(url, create_directory=auto_upgrade)
        try:
            ensure_schema(engine, auto_upgrade=auto_upgrade)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, patience=patience)

    def read(self) -> AbstractContextManager[Session]:
        return session_scope(self.engine, patience=self.patience)

    def write(self) -> AbstractContextManager[Session]:
        """A session whose transaction commits on success and holds SQLite's write lock."""
        return session_scope(self.engine, write=True, patience=self.patience)

    def reachable(self, *, patience: float) -> bool:
        """Whether the store answers, waiting up to `patience` seconds for it."""
        from sqlalchemy import text

        from tfctl import errors

        try:
            with session_scope(self.engine, patience=patience) as session:
                session.execute(text("SELECT 1"))
        except (errors.StoreUnavailable, OperationalError):
            return False
        return True

    @property
    def url(self) -> str:
        return mask_url_password(self.engine.url.render_as_string(hide_password=False))
