"""Scheduled drift assessments: two `tfctl worker --assess-every` processes sharing a store
(SQLite and PostgreSQL) assess each workspace once per interval, never two at a time, and
leave out workspaces opted out or never applied."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from clihelp import tfctl_bin
from filestack import files_workspace, push_files
from tfctl.persistence.db import Store
from tfctl.runs.service import RunService
from tfctl.workspaces import WorkspaceChanges, update_workspace

pytestmark = pytest.mark.terraform

EVERY = 3.0


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "schedule-test-secret")


def test_two_workers_assess_each_workspace_once_per_interval(
    store: Store, store_url: str, runtime: RunService, tmp_path: Path, isolated_env: Path
) -> None:
    push_files(store, tmp_path, names=["a"])
    for name in ("w1", "w2", "quiet", "fresh"):
        (tmp_path / name).mkdir()
        files_workspace(store, name, tmp_path / name)
        if name != "fresh":  # never applied: nothing to assess
            runtime.plan(name)
            runtime.apply(name)
    update_workspace(store, "quiet", WorkspaceChanges(assess=False), home=isolated_env,
                     heartbeat_timeout=30)  # fmt: skip

    env = {**os.environ, "TFCTL_DATABASE_URL": store_url, "TFCTL_HOME": str(isolated_env)}
    workers = [
        subprocess.Popen([tfctl_bin(), "worker", "--assess-every", f"{EVERY:g}s", "--name",
                          f"worker-{i}"], env=env, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while (
            time.monotonic() < deadline
            and min(assessed(runtime, "w1"), assessed(runtime, "w2")) < 3
        ):
            time.sleep(0.5)
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            _, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 0, stderr[-3000:]

    runs = [r for r in runtime.list_runs(limit=500) if r.plan_mode == "assessment"]
    assert {r.workspace for r in runs} == {"w1", "w2"}
    assert {r.actor for r in runs} <= {"worker-0", "worker-1"}
    assert "queued" not in {r.status for r in runs}  # a stopping worker leaves none behind
    for name in ("w1", "w2"):
        mine = sorted((r for r in runs if r.workspace == name), key=lambda r: r.created_at)
        if mine[-1].status == "cancelled" and mine[-1].started_at is None:
            mine.pop()  # queued just before the stop: cancelled by it, never started
        assert len(mine) >= 3, [r.created_at for r in mine]
        for earlier, later in itertools.pairwise(mine):
            gap = (later.created_at - earlier.created_at).total_seconds()
            assert gap >= EVERY - 0.5, (name, gap)  # once per interval, across both workers
            assert gap <= 5 * EVERY, (name, gap)  # and again at the next one's turn
            assert earlier.finished_at is not None
            assert later.started_at is not None
            assert earlier.finished_at <= later.started_at  # never two at a time
        assert {r.status for r in mine[:-1]} == {"no_changes"}
        assert mine[-1].status in ("no_changes", "cancelled")  # the stop may cut one short


def assessed(runtime: RunService, workspace: str) -> int:
    runs = runtime.list_runs(workspace=workspace, statuses=["no_changes"], limit=100)
    return sum(r.plan_mode == "assessment" for r in runs)
