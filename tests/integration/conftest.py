"""Fixtures shared by the integration tests that run real terraform."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.runs.service import RunService


@pytest.fixture
def runtime(store: Store) -> RunService:
    """The in-process runtime (what `tfctl plan/apply` use) on the test's store."""
    return RunService(AppContext(store=store))


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """Where the files module of the test's workspace writes its files."""
    path = tmp_path / "out"
    path.mkdir()
    return path
