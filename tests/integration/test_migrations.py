"""Migrations: head equals the models, older stores upgrade, newer stores are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import tfctl.persistence.models  # noqa: F401 - the tables
from tfctl import errors
from tfctl.persistence.db import Store
from tfctl.persistence.engine import create_store_engine
from tfctl.persistence.schema import (
    HEAD,
    REVISIONS,
    alembic_config,
    ensure_schema,
    schema_state,
    upgrade,
)


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = create_store_engine(store_url)
    yield engine
    engine.dispose()


def test_revisions_constant_matches_the_migration_scripts() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    in_order = [rev.revision for rev in reversed(list(scripts.walk_revisions()))]
    assert tuple(in_order) == REVISIONS
    assert scripts.get_current_head() == HEAD


def test_upgrade_head_on_an_empty_store_equals_the_models(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


@pytest.mark.parametrize("start", [None, *REVISIONS[:-1]])
def test_an_older_store_is_upgraded(engine: Engine, start: str | None) -> None:
    if start is not None:
        upgrade(engine, start)
    assert schema_state(engine).current == start
    assert upgrade(engine).current == HEAD
    assert upgrade(engine).current == HEAD  # twice is harmless


def test_a_newer_store_is_refused(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(errors.SchemaTooNew, match="9999_future.*newer tfctl"):
        ensure_schema(engine, auto_upgrade=True)
    with pytest.raises(errors.SchemaTooNew):
        upgrade(engine)


def test_a_shared_store_is_not_migrated_behind_the_operators_back(
    engine: Engine, store_url: str
) -> None:
    with pytest.raises(errors.SchemaOutdated, match="tfctl db upgrade"):
        Store.open(store_url, auto_upgrade=False)
    assert schema_state(engine).current is None


def test_sqlite_store_runs_with_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}", auto_upgrade=True)
    with store.engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 30000
    store.engine.dispose()
