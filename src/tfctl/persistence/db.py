"""Sessions and the Store for the job store (engines: `persistence.engine`; the schema
check on open: `persistence.schema`)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy.engine import Engine
from sqlmodel import Session

from tfctl.persistence.engine import create_store_engine, translate_connection_errors, writer
from tfctl.settings import mask_url_password


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    bind = writer(engine) if write else engine
    with translate_connection_errors(engine), Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            if write:
                session.commit()
        except BaseException:
            session.rollback()
            raise


_OPEN_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def dispose_open_engines() -> None:
    """Close the pooled connections of every store opened in this process (PostgreSQL
    sees a clean goodbye, SQLite checkpoints its WAL); the CLI calls this before it exits."""
    for engine in list(_OPEN_ENGINES):
        engine.dispose()


class Store:
    """The job store: an engine and its read and write sessions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        _OPEN_ENGINES.add(engine)

    @classmethod
    def open(cls, url: str, *, auto_upgrade: bool) -> Store:
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
        return cls(engine)

    def read(self) -> AbstractContextManager[Session]:
        return session_scope(self.engine)

    def write(self) -> AbstractContextManager[Session]:
        """A session whose transaction commits on success and holds SQLite's write lock."""
        return session_scope(self.engine, write=True)

    @property
    def url(self) -> str:
        return mask_url_password(self.engine.url.render_as_string(hide_password=False))
