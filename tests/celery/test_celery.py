"""Runs executed by a real `celery -A tfctl.celery worker` through a real redis-server, with
real terraform, on SQLite and PostgreSQL: queued runs are published by the run service, the
task claims exactly its run (a second delivery does nothing), halt stops terraform gracefully
through the store, and a broker that dies mid-run does not touch the running terraform."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from filestack import files_workspace, push_files
from procs import provisioner_sleeps
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import RunStatus
from tfctl.runs.publish import publish
from tfctl.runs.service import RunService
from tfctl.runs.views import RunView
from tfctl.settings import get_settings
from tfctl.state_versions import list_states

pytestmark = pytest.mark.terraform


def setup(store: Store, tmp_path: Path, **variables: Any) -> tuple[RunService, Path]:
    out = tmp_path / "out"
    out.mkdir()
    push_files(store, tmp_path, **{"names": ["a"], **variables})
    files_workspace(store, "dev", out)
    return RunService(AppContext(store=store)), out


def wait_for(
    svc: RunService, run_id: str, done: Callable[[RunView], bool], *, within: float = 120
) -> RunView:
    deadline = time.monotonic() + within
    while True:
        run = svc.get(run_id)
        if done(run):
            return run
        assert time.monotonic() < deadline, f"run {run_id} is still {run.status}: {run.message}"
        time.sleep(0.2)


def status_is(*statuses: str) -> Callable[[RunView], bool]:
    return lambda run: run.status in statuses


def log_text(svc: RunService, run_id: str) -> str:
    return "\n".join(line.text for line in svc.logs(run_id, limit=100_000).lines)


def creating(svc: RunService, run_id: str) -> Callable[[RunView], bool]:
    """The apply's provisioner (a `sleep`) is running."""
    return lambda run: "Provisioning with 'local-exec'" in log_text(svc, run_id)


def test_plan_and_apply_through_celery_and_a_second_delivery_does_nothing(
    celery_worker, store: Store, tmp_path: Path, secret: str
) -> None:
    worker = celery_worker(concurrency=2)
    svc, out = setup(store, tmp_path)

    queued = svc.enqueue_plan("dev")  # published by the run service
    plan = wait_for(svc, queued.id, status_is("awaiting_approval"))
    assert plan.worker is not None
    assert plan.worker.startswith("celery-test@")
    assert plan.summary is not None
    assert plan.summary["add"] == 2

    apply = svc.enqueue_apply("dev", plan_run_id=plan.id, plan_sha256=plan.plan_sha256)
    assert publish(get_settings(), apply.id)  # the same message again, as a redelivery would
    applied = wait_for(svc, apply.id, status_is("applied"))
    assert publish(get_settings(), plan.id)  # and a late duplicate of the plan's
    log = worker.wait_for_log("nothing to do", within=30, count=2)
    assert f"run {apply.id} is " in log  # the duplicate found its run claimed or applied
    assert f"run {plan.id} is applied: nothing to do" in log

    assert applied.worker == plan.worker
    assert [child.id for child in svc.children(plan.id)] == [apply.id]
    assert svc.get(plan.id).status == RunStatus.APPLIED
    assert log_text(svc, apply.id).count("Apply complete!") == 1
    assert log_text(svc, plan.id).count("Plan: 2 to add") == 1
    assert [s["run_id"] for s in list_states(store, "dev")] == [apply.id]
    assert (out / "a").read_text() == "hello\n"
    assert secret not in worker.log()


def test_halt_stops_a_celery_run_apply_gracefully_through_the_store(
    celery_worker, store: Store, tmp_path: Path
) -> None:
    worker = celery_worker()
    svc, out = setup(store, tmp_path, sleep_seconds=30)
    plan = svc.plan("dev")  # here; only the apply goes through Celery
    apply = svc.enqueue_apply("dev", plan_run_id=plan.id)
    wait_for(svc, apply.id, creating(svc, apply.id))
    assert provisioner_sleeps(out)

    halted_at = time.monotonic()
    report = svc.halt(actor="oncall", reason="incident 7")
    assert apply.id in [run.id for run in report.halted]
    ended = wait_for(svc, apply.id, lambda run: run.finished_at is not None, within=30)
    assert time.monotonic() - halted_at < 15
    assert (ended.status, ended.halted, ended.halted_by) == ("cancelled", True, "oncall")
    assert "Interrupt received" in log_text(svc, apply.id)  # SIGINT: terraform stopped itself
    assert not provisioner_sleeps(out)
    assert not (out / "a").exists()
    assert [s["run_id"] for s in list_states(store, "dev")] == [apply.id]  # its state kept
    worker.wait_for_log(f"run {apply.id} was halted by oncall: incident 7", within=15)
    assert worker.alive()  # the task ended normally; the worker goes on


def test_a_broker_restarted_mid_run_leaves_the_run_to_finish_once(
    celery_worker, redis, store: Store, tmp_path: Path
) -> None:
    worker = celery_worker()
    svc, out = setup(store, tmp_path, sleep_seconds=6)
    plan = svc.plan("dev")
    apply = svc.enqueue_apply("dev", plan_run_id=plan.id)
    wait_for(svc, apply.id, creating(svc, apply.id))

    redis.kill()  # the broker dies with every message it held
    time.sleep(1.5)
    redis.start()  # back on the same port, empty
    applied = wait_for(svc, apply.id, status_is("applied", "errored", "cancelled"), within=60)
    assert applied.status == "applied", applied.message
    assert log_text(svc, apply.id).count("Apply complete!") == 1
    assert [child.id for child in svc.children(plan.id)] == [apply.id]
    assert [s["run_id"] for s in list_states(store, "dev")] == [apply.id]
    assert (out / "a").exists()
    assert worker.alive()

    # the worker reconnected: the next run published goes through it
    again = svc.enqueue_plan("dev")
    assert wait_for(svc, again.id, status_is("no_changes")).worker == applied.worker
