"""The storage emulators (tests/fixtures/emulators.py) for the remote-backend tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.emulators import (  # noqa: F401 - pytest finds fixtures by name in conftest
    gcs_bucket,
    gcs_server,
    moto_server,
    remote_state,
    s3_bucket,
)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about where terraform keeps its state, and the job store's
    two engines are covered by the lifecycle tests."""
    return f"sqlite:///{tmp_path / 'store.db'}"
