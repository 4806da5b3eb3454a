"""Shared fixtures: an isolated environment for every test, and job stores on SQLite and on a
real PostgreSQL server that the session starts and throws away."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pg import PostgresServer, postgres_server

_ISOLATED_PREFIXES = ("TFCTL_", "ALPHASWARM_", "TF_")


@pytest.fixture(autouse=True)
def isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """No test sees the developer's TFCTL_*/TF_* settings or home; terraform stays offline."""
    for name in list(os.environ):
        if name.startswith(_ISOLATED_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("tfctl-home")
    cli_config = home.parent / f"{home.name}.tfrc"
    cli_config.write_text("")
    monkeypatch.setenv("TFCTL_HOME", str(home))
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(cli_config))
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    from tfctl.settings import get_settings

    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
    _close_pooled_connections()


def _close_pooled_connections() -> None:
    """Close the pooled connections of every store the test opened (the CLI does the same
    before it exits), so that none is left for the garbage collector to find open later,
    in another test (psycopg warns "connection was deleted while still open")."""
    import sys

    if "tfctl.persistence.db" in sys.modules:
        from tfctl.persistence.db import dispose_open_engines

        dispose_open_engines()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty job store: a SQLite file, or a fresh database on the throwaway server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    with server.database() as url:
        yield url


@pytest.fixture
def store(store_url: str):  # type: ignore[no-untyped-def]
    from tfctl.persistence.db import Store

    db = Store.open(store_url, auto_upgrade=True)
    yield db
    db.engine.dispose()


@pytest.fixture(autouse=True)
def _unwrapped_commands_for_fakes(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests that fake processes (pytest-subprocess `fp`) register the commands as tfctl
    builds them; the `setpriv --pdeathsig` prefix the executor adds on Linux is tested with
    real processes (tests/integration/terraform/test_parent_death.py)."""
    if "fp" in request.fixturenames:
        from tfctl.terraform import process

        monkeypatch.setattr(process, "with_parent_death_signal", list)
