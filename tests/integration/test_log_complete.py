"""A follower that sees a run finished has its whole log: the log reaches the store before
the run's final status does (streams and `runs logs --follow` stop at `finished`)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from filestack import files_workspace, push_files
from tfctl.persistence.db import Store
from tfctl.runs.service import RunService

pytestmark = pytest.mark.terraform


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")


def follow(runs: RunService, run_id: str) -> list[int]:
    seqs, after = [], 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        page = runs.logs(run_id, after=after)
        seqs += [line.seq for line in page.lines]
        after = page.next
        if page.finished:
            return seqs
        time.sleep(0.01)
    raise AssertionError("the run never finished")


@pytest.mark.parametrize("attempt", range(3))
def test_finished_means_every_line_is_there(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path, attempt: int
) -> None:
    push_files(store, tmp_path, names=[f"f{i}" for i in range(20)])
    files_workspace(store, "dev", out_dir)
    queued = runtime.enqueue_plan("dev", auto_apply=True)  # the plan, then its apply
    worker = threading.Thread(
        target=lambda: runtime.execute(runtime.claim_next(worker="w") or ""), daemon=True
    )
    worker.start()
    seen = follow(runtime, queued.id)
    worker.join(120)
    [apply] = runtime.children(queued.id)
    for run_id, followed in ((queued.id, seen), (apply.id, follow(runtime, apply.id))):
        assert followed == [line.seq for line in runtime.logs(run_id, limit=100_000).lines]
