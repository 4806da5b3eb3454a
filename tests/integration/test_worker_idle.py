"""An idle worker starts a newly queued run at once, not a poll interval later; runs that
wait for a busy workspace are retried once per poll interval (no busy loop)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from filestack import files_workspace, push_files
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import RunStatus
from tfctl.runs.service import RunService
from tfctl.runs.worker import Worker, WorkerOptions

pytestmark = pytest.mark.terraform


def test_a_run_queued_for_an_idle_worker_starts_without_waiting_the_poll_interval(
    store: Store, tmp_path: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder")
    push_files(store, tmp_path, names=["a"])
    files_workspace(store, "dev", out_dir)
    ctx = AppContext(store=store)
    worker = Worker(ctx, WorkerOptions(name="idle", poll_interval=600.0))
    claims: list[float] = []
    claim = worker._claim

    def counted() -> str | None:
        claims.append(time.monotonic())
        return claim()

    monkeypatch.setattr(worker, "_claim", counted)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not claims and time.monotonic() < deadline:  # the first claim found nothing
            time.sleep(0.05)
        assert claims, "the worker never tried to claim"
        time.sleep(0.5)
        queued = RunService(ctx).enqueue_plan("dev")

        deadline = time.monotonic() + 120  # far below the 600 s poll interval
        while time.monotonic() < deadline:
            run = RunService(ctx).get(queued.id)
            if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
                break
            time.sleep(0.1)
        assert run.status == RunStatus.AWAITING_APPROVAL, run.message
        assert run.worker == "idle"
    finally:
        worker.stop("test over")
        thread.join(30)
    assert not thread.is_alive()
