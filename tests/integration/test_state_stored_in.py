"""`state show` says where a workspace's state lives; for the local backend, the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from filestack import files_workspace, push_files
from tfctl.persistence.db import Store
from tfctl.runs.service import RunService
from tfctl.settings import get_settings, local_state_path
from tfctl.state_versions import describe_location, show_state

pytestmark = pytest.mark.terraform


def test_a_local_state_version_names_its_state_file(
    store: Store, runtime: RunService, tmp_path: Path, out_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    runtime.plan("dev")
    runtime.apply("dev")

    state = show_state(store, "dev")

    path = local_state_path(get_settings().home, "dev")
    assert path.is_file()
    assert state["stored_in"] == {"backend": "local", "path": str(path)}
    assert state["hcp_state_version_id"] is None
    assert describe_location(state["stored_in"]) == f"local file {path}"
