"""`runs list` is newest first, filtered or not, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from filestack import files_workspace, push_files
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import Operation, RunStatus
from tfctl.runs.control import cancel
from tfctl.runs.service import RunService
from tfctl.runs.views import list_runs


def test_newest_first_with_and_without_filters(
    store: Store, runtime: RunService, tmp_path: Path
) -> None:
    push_files(store, tmp_path, names=["a"])
    for name in ("dev", "prod"):
        files_workspace(store, name, tmp_path / name)
    made = [runtime.enqueue(ws, operation=Operation.PLAN) for ws in ("dev", "prod") * 3]
    cancel(store, made[0].id, actor="test")  # one dev run in another status
    newest_first = [run.id for run in reversed(made)]

    assert [r.id for r in list_runs(store)] == newest_first
    dev = [run_id for run_id in newest_first if run_id in {r.id for r in made[0::2]}]
    assert [r.id for r in list_runs(store, workspace="dev")] == dev
    queued = [run_id for run_id in newest_first if run_id != made[0].id]
    assert [r.id for r in list_runs(store, status=[RunStatus.QUEUED])] == queued
    both = [r.id for r in list_runs(store, workspace="dev", status=[RunStatus.QUEUED])]
    assert both == dev[:-1]
    assert [r.id for r in list_runs(store, workspace="prod", limit=2)] == newest_first[:3:2]
