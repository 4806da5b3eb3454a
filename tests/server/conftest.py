"""Fixtures for `tfctl serve` tests: TF_VAR_token for the files module, and the app over
the test's store (SQLite and PostgreSQL) with one embedded worker slot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serverkit import SECRET, Api, make_tokens, serve_options
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.server.app import create_app


@pytest.fixture(autouse=True)
def _tf_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", SECRET)


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    """The app on the test's store with one embedded worker slot (real terraform)."""
    tokens = make_tokens(store)
    app = create_app(AppContext(store=store), serve_options())
    with TestClient(app) as client:
        yield Api(client, tokens, store)
