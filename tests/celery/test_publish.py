"""Queued runs published to the broker, and the Celery task's claim of exactly its run, on a
real redis-server and real stores (no terraform runs here)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from clihelp import tfctl_bin
from filestack import files_workspace, push_files
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.runs.service import RunService


def workspaces(store: Store, tmp_path: Path, *names: str) -> RunService:
    push_files(store, tmp_path, names=["a"])
    for name in names:
        (tmp_path / name).mkdir()
        files_workspace(store, name, tmp_path / name)
    return RunService(AppContext(store=store))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def queue_plan(store_url: str, home: Path, broker: str) -> subprocess.CompletedProcess[str]:
    """`tfctl plan dev --queue --json`, as a user types it, with a Celery broker set."""
    env = {**os.environ, "TFCTL_DATABASE_URL": store_url, "TFCTL_HOME": str(home),
           "TFCTL_CELERY_BROKER_URL": broker}  # fmt: skip
    return subprocess.run([tfctl_bin(), "plan", "dev", "--queue", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_run_queued_from_the_cli_is_published_as_the_task_on_the_terraform_queue(
    redis, store: Store, store_url: str, isolated_env: Path, tmp_path: Path
) -> None:
    import redis as redis_client

    workspaces(store, tmp_path, "dev")
    done = queue_plan(store_url, isolated_env, redis.url)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["id"]

    with redis_client.Redis(port=redis.port) as broker:
        messages = broker.lrange("terraform", 0, -1)
    assert len(messages) == 1
    headers = json.loads(messages[0])["headers"]
    assert headers["task"] == "tfctl.execute_run"
    assert run_id in headers["argsrepr"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_broker_out_of_reach_leaves_the_run_queued_and_says_so(
    store: Store, store_url: str, isolated_env: Path, tmp_path: Path
) -> None:
    svc = workspaces(store, tmp_path, "dev")
    done = queue_plan(store_url, isolated_env, f"redis://127.0.0.1:{closed_port()}/0")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["id"]
    assert f"run {run_id} is queued, but publishing it to the Celery broker" in done.stderr
    assert "a tfctl worker sharing the store can still execute it" in done.stderr
    assert "Traceback" not in done.stderr
    assert svc.get(run_id).status == "queued"


def test_a_claim_takes_exactly_its_run_once_and_in_its_turn(store: Store, tmp_path: Path) -> None:
    svc = workspaces(store, tmp_path, "dev", "other")
    first = svc.enqueue_plan("dev")
    second = svc.enqueue_plan("dev")
    elsewhere = svc.enqueue_plan("other")

    assert not svc.claim(second.id, worker="w1")  # an older run of dev is queued before it
    assert svc.claim(first.id, worker="w1")
    assert not svc.claim(first.id, worker="w2")  # a second delivery: already claimed
    assert not svc.claim(second.id, worker="w2")  # dev is held by the first
    assert svc.claim(elsewhere.id, worker="w2")  # other workspaces do not wait

    assert (svc.get(first.id).status, svc.get(first.id).worker) == ("running", "w1")
    assert (svc.get(second.id).status, svc.get(second.id).worker) == ("queued", None)
    assert (svc.get(elsewhere.id).status, svc.get(elsewhere.id).worker) == ("running", "w2")


def test_the_task_waits_for_its_turn_and_does_nothing_for_a_run_that_moved_on(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tfctl.celery as tasks

    # the task's application context in this process: the test's store
    monkeypatch.setattr(tasks, "_contexts", {os.getpid(): AppContext(store=store)})
    svc = workspaces(store, tmp_path, "dev")
    first = svc.enqueue_plan("dev")
    second = svc.enqueue_plan("dev")
    svc.cancel(first.id, actor="ops")

    assert svc.claim(second.id, worker="elsewhere")
    third = svc.enqueue_plan("dev")
    with pytest.raises(tasks.NotYet, match=f"held by run {second.id}"):
        tasks.run_once(third.id, worker="celery@test")
    assert tasks.run_once(first.id, worker="celery@test") == (
        f"run {first.id} is cancelled: nothing to do (claimed by -)"
    )
    assert tasks.run_once(second.id, worker="celery@test") == (
        f"run {second.id} is running: nothing to do (claimed by elsewhere)"
    )
    assert "no run" in tasks.run_once("run-0000000000000000000000", worker="celery@test").lower()
    assert svc.get(third.id).status == "queued"
