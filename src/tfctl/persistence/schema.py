"""The store's schema version: reading it, checking it, and migrating with Alembic.

`REVISIONS` lists every migration in order, so checking a store costs one query and no
Alembic import; a test keeps it equal to the migration scripts. A store at an older revision
is upgraded (automatically for the embedded SQLite store, by `tfctl db upgrade` for a shared
PostgreSQL one, where a schema change is an operator's decision); a store at a revision this
tfctl does not know was migrated by a newer tfctl and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from tfctl import errors
from tfctl.persistence.engine import translate_connection_errors, writer

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection, Engine

#: Every migration, oldest first. Keep equal to migrations/versions (tests check).
REVISIONS: tuple[str, ...] = (
    "0001_foundation",
    "0002_run_logs_state_versions",
    "0003_workers_artifacts",
    "0004_policy_attachments",
    "0005_tokens",
    "0006_policy_conftest",
    "0007_drift",
    "0009_hcp_state",
    "0008_secrets",
    "0010_init_reuse",
    "0011_run_list_keyset",
)
HEAD = REVISIONS[-1]
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x7466_6374_6C  # an arbitrary advisory-lock key: "tfctl"


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None
    head: str = HEAD

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def too_new(self) -> bool:
        return self.current is not None and self.current not in REVISIONS


def read_revision(connection: Connection) -> str | None:
    """The store's Alembic revision, or None for a store that was never migrated."""
    try:
        with connection.begin_nested():
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    except (OperationalError, ProgrammingError):
        return None  # no alembic_version table yet
    return None if row is None else str(row[0])


def schema_state(engine: Engine) -> SchemaState:
    with translate_connection_errors(engine), engine.connect() as connection:
        return SchemaState(read_revision(connection))


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> SchemaState:
    """Check the store's revision; upgrade an older one when allowed, else refuse it."""
    state = schema_state(engine)
    if state.up_to_date:
        return state
    _refuse_if_too_new(state)
    if not auto_upgrade:
        raise errors.SchemaOutdated(
            f"the job store is at schema {state.current or 'none'}, this tfctl needs {HEAD}; "
            "run `tfctl db upgrade`"
        )
    return upgrade(engine)


def upgrade(engine: Engine, target: str = "head") -> SchemaState:
    """Migrate the store to `target` in one transaction that holds the store's write lock,
    so concurrent upgrades serialise and the second finds nothing to do."""
    from alembic import command

    with translate_connection_errors(engine), writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        _refuse_if_too_new(SchemaState(read_revision(connection)))
        config = alembic_config(connection)
        command.upgrade(config, target)
        return SchemaState(read_revision(connection))


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _refuse_if_too_new(state: SchemaState) -> None:
    if state.too_new:
        raise errors.SchemaTooNew(
            f"the job store is at schema {state.current}, which this tfctl does not know "
            f"(its newest is {HEAD}): it was migrated by a newer tfctl; upgrade tfctl"
        )
