"""The whole tfctl cycle with terraform's state in a remote backend, on real emulators.

Each test runs once against moto's S3 server (`use_lockfile = true`) and once against
fake-gcs-server: plan → apply → a state version recorded from the remote state → destroy,
and a second apply on the same state refused while the first holds terraform's lock.
Credentials come only from the environment the fixtures set (never from the workspace).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.emulators import LockHolder, RemoteState
from tfctl import errors
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import PlanMode, RunStatus
from tfctl.runs.service import RunService
from tfctl.runs.views import list_runs, show_run
from tfctl.stacks import push_spec_file
from tfctl.state_versions import list_states, show_state
from tfctl.workspaces import create_workspace

pytestmark = pytest.mark.terraform

MODULE = Path(__file__).resolve().parents[2] / "fixtures" / "modules" / "files"
SLOW_SECONDS = 6  # how long the first apply holds the lock (its provisioner sleeps)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")


def push(store: Store, tmp_path: Path, **variables: Any) -> None:
    spec = {"name": "files", "kind": "generic", "module_source": str(MODULE),
            "variables": variables}  # fmt: skip
    path = tmp_path / "files.yaml"
    path.write_text(yaml.safe_dump(spec))
    push_spec_file(store, path, author="test")


def workspace(store: Store, name: str, remote: RemoteState, state: str, out: Path) -> str:
    out.mkdir()
    create_workspace(store, name, stack="files", backend=remote.backend,
                     backend_config=remote.config(state), variables={"dir": str(out)})  # fmt: skip
    return name


def test_plan_apply_record_and_destroy_with_the_state_in_the_bucket(
    remote_state: RemoteState, store: Store, tmp_path: Path
) -> None:
    push(store, tmp_path, names=["a", "b"])
    out = tmp_path / "out"
    ws = workspace(store, "dev", remote_state, "envs/dev", out)
    runtime = RunService(AppContext(store=store))

    plan = runtime.plan(ws)
    assert plan.status == RunStatus.AWAITING_APPROVAL
    assert plan.summary is not None
    assert plan.summary["add"] == 3
    assert runtime.apply(ws).status == RunStatus.APPLIED
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]

    recorded, stored = show_state(store, ws), remote_state.state("envs/dev")
    assert stored is not None, "the state is not in the bucket"
    assert (recorded["lineage"], recorded["serial"]) == (stored["lineage"], stored["serial"])
    assert recorded["resource_count"] == 3
    assert 'module.stack.terraform_data.file["b"]' in recorded["resources"]
    assert remote_state.lock("envs/dev") is None  # released after the apply
    assert not runtime.state_path(ws).exists()  # nothing kept locally
    assert runtime.plan(ws).status == RunStatus.NO_CHANGES

    destroy = runtime.plan(ws, mode=PlanMode.DESTROY)
    assert destroy.summary is not None
    assert destroy.summary["destroy"] == 3
    assert runtime.apply(ws, confirm=ws).status == RunStatus.APPLIED
    assert list(out.iterdir()) == []
    after = remote_state.state("envs/dev")
    assert after is not None
    assert after["resources"] == []
    assert after["lineage"] == recorded["lineage"]
    assert show_state(store, ws)["serial"] == after["serial"] > recorded["serial"]


def test_a_second_workspace_on_the_same_state_is_refused_while_an_apply_holds_the_lock(
    remote_state: RemoteState, store: Store, tmp_path: Path
) -> None:
    """Two teams point their workspaces at one state by mistake. tfctl's own workspace lock
    cannot see that (the workspaces differ); terraform's state lock in the bucket does."""
    push(store, tmp_path, names=["slow"], sleep_seconds=SLOW_SECONDS)
    first = workspace(store, "team-a", remote_state, "envs/shared", tmp_path / "a")
    second = workspace(store, "team-b", remote_state, "envs/shared", tmp_path / "b")
    runtime_a = RunService(AppContext(store=store))
    runtime_b = RunService(AppContext(store=store))
    runtime_a.plan(first)
    runtime_b.plan(second)

    with applying_in_background(runtime_a, first) as outcome:
        holder = wait_for_lock(remote_state, "envs/shared")
        started = time.monotonic()
        with pytest.raises(errors.StateLocked) as refused:
            runtime_b.apply(second)
        assert time.monotonic() - started < SLOW_SECONDS  # refused, not queued behind it
        with pytest.raises(errors.WorkspaceBusy):  # the same workspace: tfctl refuses first
            runtime_a.plan(first)

    message = str(refused.value)
    assert f"locked by {holder.who}" in message
    assert holder.operation in message
    assert f"lock ID {holder.id}" in message
    assert outcome["run"].status == RunStatus.APPLIED
    refused_run = list_runs(store, workspace=second, limit=1)[0]
    assert refused_run.operation == "apply"
    assert refused_run.status == RunStatus.ERRORED
    assert "locked by" in (refused_run.message or "")
    assert show_run(store, refused_run.parent_run_id or "").status == RunStatus.ERRORED
    assert list_states(store, second) == []  # the refused run recorded no one else's state
    assert remote_state.lock("envs/shared") is None
    assert (tmp_path / "a" / "slow").exists()
    assert not (tmp_path / "b" / "slow").exists()


@pytest.fixture(autouse=True)
def _no_leftover_sleep(tmp_path: Path) -> Iterator[None]:
    yield
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = any(v.startswith(b"FILE=" + str(tmp_path).encode()) for v in environ)
        assert not (ours and argv[:1] == [b"sleep"]), "a provisioner outlived its run"


@contextlib.contextmanager
def applying_in_background(runtime: RunService, ws: str) -> Iterator[dict[str, Any]]:
    """Apply `ws`'s pending plan in a thread; on exit, wait for it (re-raising its error)."""
    outcome: dict[str, Any] = {}

    def apply() -> None:
        try:
            outcome["run"] = runtime.apply(ws)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=apply)
    thread.start()
    try:
        yield outcome
    finally:
        thread.join(timeout=60)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]


def wait_for_lock(remote: RemoteState, name: str) -> LockHolder:
    """The holder of `name`'s lock, as soon as there is one (the log in the store cannot
    tell: it is flushed by the next line, and a sleeping provisioner prints none)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        holder = remote.lock(name)
        if holder is not None:
            return holder
        time.sleep(0.1)
    raise AssertionError(f"nothing ever locked {name} in the bucket")
