"""`workspace update` and `workspace delete` with real terraform on SQLite and PostgreSQL, and
the race of two `workspace create` (or `policy attach`) of the same thing."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from filestack import FILES_MODULE, files_workspace, push_files
from tfctl import errors
from tfctl.persistence import policies as policy_store
from tfctl.persistence import runs as run_store
from tfctl.persistence import store as ws_store
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import Operation, PlanMode, RunStatus
from tfctl.persistence.models import (
    PolicyAttachment,
    Run,
    RunArtifact,
    RunLog,
    StateVersion,
    Workspace,
)
from tfctl.persistence.types import utcnow
from tfctl.policy.service import attach
from tfctl.runs.control import cancel
from tfctl.runs.service import RunService
from tfctl.runs.views import show_run
from tfctl.settings import local_state_path
from tfctl.state_versions import show_state
from tfctl.workspaces import (
    WorkspaceChanges,
    create_workspace,
    delete_workspace,
    show_workspace,
    update_workspace,
)

pytestmark = pytest.mark.terraform

POLICY = Path(__file__).resolve().parents[1] / "fixtures" / "policies" / "warn_creates.rego"
HEARTBEAT_TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")


@pytest.fixture
def home(isolated_env: Path) -> Path:
    return isolated_env


def update(store: Store, home: Path, name: str, force: bool = False, **changes: Any) -> Any:
    return update_workspace(store, name, WorkspaceChanges(**changes), home=home,
                            heartbeat_timeout=HEARTBEAT_TIMEOUT, force=force)  # fmt: skip


def delete(store: Store, home: Path, name: str, *, force: bool = False) -> Any:
    return delete_workspace(store, name, home=home, runs_dir=home / "runs",
                            heartbeat_timeout=HEARTBEAT_TIMEOUT, force=force)  # fmt: skip


def rows(store: Store, model: type) -> int:
    with store.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def row_counts(store: Store) -> dict[str, int]:
    models = (Workspace, Run, RunLog, RunArtifact, StateVersion, PolicyAttachment)
    return {model.__name__: rows(store, model) for model in models}


# --- a typo'd --var ---------------------------------------------------------------------------


def test_a_typo_in_a_variable_name_is_refused_at_create_with_the_close_match(
    store: Store, tmp_path: Path, out_dir: Path
) -> None:
    push_files(store, tmp_path)
    with pytest.raises(errors.InvalidInput) as refused:
        create_workspace(store, "dev", stack="files", backend="local", backend_config={},
                         variables={"dri": str(out_dir)})  # fmt: skip
    assert str(refused.value) == (
        f"--var dri: not declared by stack 'files' (module {FILES_MODULE}); did you mean 'dir'?"
    )
    assert refused.value.exit_code == 2
    assert rows(store, Workspace) == 0


def test_update_repairs_a_workspace_whose_variable_was_mistyped(
    store: Store, runtime: RunService, tmp_path: Path, out_dir: Path, home: Path
) -> None:
    """The story of issue 12: a workspace stored with `--var dri=...` (before names were
    checked, or on a module tfctl cannot read) could only fail to plan, for good."""
    push_files(store, tmp_path)
    with store.write() as session:  # as an older tfctl stored it
        stack = ws_store.get_stack(session=session, name="files")
        ws_store.create_workspace(session=session, name="dev", stack=stack, backend="local",
                                  backend_config={}, variables={"dri": str(out_dir)})  # fmt: skip
    with pytest.raises(errors.InvalidSpec, match="variable 'dri': not declared by module"):
        runtime.plan("dev")

    with pytest.raises(errors.InvalidInput) as still:
        update(store, home, "dev", set_variables={"content": "hi"})
    assert str(still.value) == (
        f"variable dri (set on the workspace): not declared by stack 'files' (module "
        f"{FILES_MODULE}); remove it with --unset-var dri; did you mean 'dir'?"
    )

    fixed = update(store, home, "dev", unset_variables=("dri",),
                   set_variables={"dir": str(out_dir)})  # fmt: skip
    assert fixed.changed
    assert fixed.workspace.variables == {"dir": str(out_dir)}
    assert show_workspace(store, "dev").variables == {"dir": str(out_dir)}
    runtime.plan("dev")
    assert runtime.apply("dev").status == RunStatus.APPLIED
    assert (out_dir / "a").read_text() == "hello\n"


def test_update_sets_and_unsets_and_says_when_nothing_changed(
    store: Store, tmp_path: Path, out_dir: Path, home: Path
) -> None:
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    before = show_workspace(store, "dev")
    updated = update(store, home, "dev", set_variables={"content": "bye", "names": ["x"]})
    assert updated.workspace.variables == {"dir": str(out_dir), "content": "bye", "names": ["x"]}
    again = update(store, home, "dev", set_variables={"content": "bye"})
    assert not again.changed
    after = update(store, home, "dev", unset_variables=("content", "names"))
    assert after.workspace.to_dict() == before.to_dict()

    with pytest.raises(errors.InvalidInput, match="nothing to update; pass --var"):
        update(store, home, "dev")
    with pytest.raises(errors.InvalidInput, match="--var dir and --unset-var dir: pick one"):
        update(store, home, "dev", set_variables={"dir": "/x"}, unset_variables=("dir",))
    with pytest.raises(errors.InvalidInput) as unset:
        update(store, home, "dev", unset_variables=("dirr",))
    assert (
        str(unset.value)
        == "--unset-var dirr: workspace 'dev' sets no variable; did you mean 'dir'?"
    )
    with pytest.raises(errors.WorkspaceNotFound):
        update(store, home, "ghost", set_variables={"content": "x"})
    assert show_workspace(store, "dev").to_dict() == before.to_dict()


def test_update_changes_backend_settings_and_refuses_bad_ones(
    store: Store, tmp_path: Path, out_dir: Path, home: Path
) -> None:
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    s3 = {"bucket": "b", "key": "k", "region": "r", "endpoints.s3": "http://127.0.0.1:9",
          "use_path_style": "true"}  # fmt: skip
    moved = update(store, home, "dev", backend="s3", set_backend_config=s3)
    assert moved.workspace.backend == "s3"
    assert moved.workspace.backend_config["endpoints"] == {"s3": "http://127.0.0.1:9"}
    changed = update(store, home, "dev", set_backend_config={"endpoints.iam": "http://i"},
                     unset_backend_config=("use_path_style",))  # fmt: skip
    assert changed.workspace.backend_config["endpoints"] == {"s3": "http://127.0.0.1:9",
                                                             "iam": "http://i"}  # fmt: skip
    assert moved.workspace.backend_config["use_path_style"] is True
    assert "use_path_style" not in changed.workspace.backend_config

    with pytest.raises(errors.InvalidInput, match="AWS_SECRET_ACCESS_KEY"):
        update(store, home, "dev", set_backend_config={"secret_key": "abc"})
    with pytest.raises(errors.InvalidInput, match="missing setting 'bucket'"):
        update(store, home, "dev", unset_backend_config=("bucket",))
    with pytest.raises(errors.InvalidInput, match="sets no backend setting; did you mean 'bucket'"):
        update(store, home, "dev", unset_backend_config=("buckt",))
    with pytest.raises(errors.InvalidInput, match="missing setting 'bucket'"):
        update(store, home, "dev", backend="gcs", set_backend_config={"prefix": "p"})
    with pytest.raises(errors.InvalidInput, match="unknown backend"):
        update(store, home, "dev", backend="ftp")
    assert show_workspace(store, "dev").to_dict() == changed.workspace.to_dict()
    back = update(store, home, "dev", backend="local")
    assert (back.workspace.backend, back.workspace.backend_config) == ("local", {})


def test_update_discards_the_plan_made_with_the_old_settings(
    store: Store, runtime: RunService, tmp_path: Path, out_dir: Path, home: Path
) -> None:
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    plan = runtime.plan("dev")
    updated = update(store, home, "dev", set_variables={"content": "new"})
    assert updated.discarded_plan_ids == (plan.id,)
    assert show_run(store, plan.id).status == RunStatus.DISCARDED
    with pytest.raises(errors.TfctlError):
        runtime.apply("dev", plan_run_id=plan.id)
    runtime.plan("dev")
    runtime.apply("dev")
    assert (out_dir / "a").read_text() == "new\n"


def test_a_backend_change_is_refused_while_the_state_holds_resources(
    store: Store, runtime: RunService, tmp_path: Path, out_dir: Path, home: Path
) -> None:
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    runtime.plan("dev")
    runtime.apply("dev")
    gcs = {"bucket": "b", "prefix": "p"}
    with pytest.raises(errors.InvalidInput) as refused:
        update(store, home, "dev", backend="gcs", set_backend_config=gcs)
    assert "its latest state (serial" in str(refused.value)
    assert "holds 2 resources in backend local" in str(refused.value)
    assert "pass --force" in str(refused.value)
    assert update(store, home, "dev", set_variables={"content": "x"}).changed  # variables may
    moved = update(store, home, "dev", backend="gcs", set_backend_config=gcs, force=True)
    assert moved.workspace.backend == "gcs"


# --- delete ----------------------------------------------------------------------------------


def test_delete_refuses_while_the_state_holds_resources_then_force_moves_the_state_aside(
    store: Store, runtime: RunService, tmp_path: Path, out_dir: Path, home: Path
) -> None:
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    attach(store, "dev", str(POLICY), level="advisory", actor="alice")
    runtime.plan("dev")
    runtime.apply("dev")
    pending = runtime.plan("dev", mode=PlanMode.DESTROY)
    state = local_state_path(home, "dev")
    held = state.read_bytes()
    before = row_counts(store)

    with pytest.raises(errors.InvalidInput) as refused:
        delete(store, home, "dev")
    assert str(refused.value).startswith("workspace 'dev': its latest state (serial ")
    assert "holds 2 resources; destroy them first (`tfctl destroy dev`), or pass --force" in str(
        refused.value
    )
    assert refused.value.exit_code == 2
    assert row_counts(store) == before
    assert state.read_bytes() == held

    deleted = delete(store, home, "dev", force=True)
    assert deleted.resources == 2
    assert deleted.pending_plan_ids == (pending.id,)
    assert deleted.deleted["runs"] == before["Run"] == 3
    assert deleted.deleted["state_versions"] == before["StateVersion"]
    assert deleted.deleted["policy_attachments"] == 1
    assert deleted.deleted["run_logs"] == before["RunLog"] > 0
    assert row_counts(store) == dict.fromkeys(before, 0)
    assert not state.exists()
    moved = Path(deleted.state_moved_to)
    assert moved.parent == home / "workspaces" / ".deleted"
    assert (moved / "terraform.tfstate").read_bytes() == held
    assert not any((home / "runs").iterdir())
    assert (out_dir / "a").exists()  # the resources themselves are untouched

    # the name is free again, and the new workspace starts from an empty state
    files_workspace(store, "dev", out_dir)
    assert runtime.plan("dev").summary["add"] == 2  # type: ignore[index]


def test_delete_after_destroy_removes_the_empty_state(
    store: Store, runtime: RunService, tmp_path: Path, out_dir: Path, home: Path
) -> None:
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    runtime.plan("dev")
    runtime.apply("dev")
    runtime.plan("dev", mode=PlanMode.DESTROY)
    runtime.apply("dev", confirm="dev")
    assert show_state(store, "dev")["resource_count"] == 0

    deleted = delete(store, home, "dev")
    assert (deleted.resources, deleted.state_moved_to) == (0, None)
    assert not local_state_path(home, "dev").parent.exists()
    assert not (home / "workspaces" / ".deleted").exists() or not any(
        (home / "workspaces" / ".deleted").iterdir()
    )
    with pytest.raises(errors.WorkspaceNotFound):
        show_workspace(store, "dev")


def test_delete_keeps_a_local_state_file_that_holds_resources_nobody_recorded(
    store: Store, tmp_path: Path, out_dir: Path, home: Path
) -> None:
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    state = local_state_path(home, "dev")
    state.parent.mkdir(parents=True)
    resource = {"mode": "managed", "type": "terraform_data", "name": "x",
                "provider": 'provider["terraform.io/builtin/terraform"]',
                "instances": [{"attributes": {}}]}  # fmt: skip
    state.write_text(
        json.dumps({"version": 4, "serial": 1, "lineage": "l", "resources": [resource]})
    )
    with pytest.raises(
        errors.InvalidInput, match=f"its local state file {state} holds 1 resource;"
    ):
        delete(store, home, "dev")
    deleted = delete(store, home, "dev", force=True)
    assert deleted.state_moved_to is not None
    assert (
        json.loads((Path(deleted.state_moved_to) / "terraform.tfstate").read_text())["lineage"]
        == "l"
    )


def test_delete_is_refused_while_a_run_is_queued_running_or_stopping(
    store: Store, runtime: RunService, tmp_path: Path, out_dir: Path, home: Path
) -> None:
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    queued = runtime.enqueue("dev", operation=Operation.PLAN)
    with pytest.raises(errors.InvalidInput) as refused:
        delete(store, home, "dev")
    assert str(refused.value).startswith(
        f"cannot delete workspace 'dev': run {queued.id} (plan, queued, by "
    )
    assert f"cancel it (`tfctl runs cancel {queued.id}`), then delete again" in str(refused.value)
    with pytest.raises(
        errors.InvalidInput, match=f"cannot update workspace 'dev': run {queued.id}"
    ):
        update(store, home, "dev", set_variables={"content": "x"})

    with store.write() as session:  # a worker claims it: running, holding the workspace
        claimed = run_store.claim_next(session=session, worker="w1")
    assert claimed is not None
    assert claimed.id == queued.id
    with pytest.raises(errors.InvalidInput, match=f"run {queued.id} \\(plan, running,"):
        delete(store, home, "dev")

    # cancelled, but its process is still stopping terraform (it holds the workspace and
    # heartbeats): still refused
    cancel(store, queued.id, actor="oncall")
    with pytest.raises(errors.InvalidInput, match=f"run {queued.id} \\(plan, cancelled,"):
        delete(store, home, "dev")

    # its process died: the lock is orphaned and no longer stands in the way
    with store.write() as session:
        session.execute(sql_update(Run).where(Run.id == queued.id)
                        .values(heartbeat_at=utcnow() - timedelta(minutes=5)))  # fmt: skip
    assert delete(store, home, "dev").deleted["runs"] == 1
    assert rows(store, Workspace) == 0


def test_a_failed_delete_changes_nothing(
    store: Store, runtime: RunService, tmp_path: Path, out_dir: Path, home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    runtime.plan("dev")
    runtime.apply("dev")
    state = local_state_path(home, "dev")
    held = state.read_bytes()
    before = row_counts(store)
    runs = sorted(p.name for p in (home / "runs").iterdir())

    from sqlmodel import Session

    def fail(self: Session) -> None:
        raise errors.StoreUnavailable("the store went away")

    with monkeypatch.context() as patched:
        patched.setattr(Session, "commit", fail)  # the last step fails
        with pytest.raises(errors.StoreUnavailable):
            delete(store, home, "dev", force=True)
    assert row_counts(store) == before
    assert not any((home / "workspaces" / ".deleted").iterdir())
    assert state.read_bytes() == held
    assert sorted(p.name for p in (home / "runs").iterdir()) == runs


# --- the race of two creates ------------------------------------------------------------------


def race(function: Callable[[], Any], looked: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
         patch: tuple[Any, str], threads: int = 3) -> list[Any]:  # fmt: skip
    """Run `function` in `threads` threads that all look (the patched lookup) before any of
    them inserts: each returns its result or its exception. On SQLite the write transaction
    serialises them anyway, so the barrier times out and they go one after the other."""
    barrier = threading.Barrier(threads)

    def look(*args: Any, **kwargs: Any) -> Any:
        found = looked(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=2)
        return found

    monkeypatch.setattr(*patch, look)
    results: list[Any] = [None] * threads

    def run(index: int) -> None:
        try:
            results[index] = function()
        except BaseException as exc:
            results[index] = exc

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return results


def test_concurrent_creates_of_one_workspace_one_wins_the_others_already_exists(
    store: Store, tmp_path: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push_files(store, tmp_path)
    results = race(lambda: files_workspace(store, "dev", out_dir), ws_store.find_workspace,
                   monkeypatch, (ws_store, "find_workspace"))  # fmt: skip
    assert results.count("dev") == 1, results
    lost = [r for r in results if r != "dev"]
    assert all(isinstance(r, errors.AlreadyExists) for r in lost), lost
    assert {str(r) for r in lost} == {
        "workspace 'dev' already exists; `tfctl workspace show dev` shows it"
    }
    assert rows(store, Workspace) == 1


def test_concurrent_attaches_of_one_policy_one_wins_the_others_already_exist(
    store: Store, tmp_path: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    results = race(lambda: attach(store, "dev", str(POLICY), level="advisory", actor="a"),
                   policy_store.find_attachment, monkeypatch,
                   (policy_store, "find_attachment"))  # fmt: skip
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1, results
    assert all(isinstance(r, errors.AlreadyExists) for r in lost), lost
    for exc in lost:
        assert str(exc) == (
            f"policy {POLICY} is already attached to workspace 'dev' as {won[0].id} "
            f"(advisory); `tfctl policy detach {won[0].id}` first"
        )
    assert rows(store, PolicyAttachment) == 1
