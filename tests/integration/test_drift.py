"""Drift assessments with real terraform, on SQLite and PostgreSQL: drift produced the ways it
happens here (the state edited outside tfctl, a resource removed from the state, a newer
spec version pushed but not applied), pending plans untouched, assessments never applied,
busy workspaces skipped, and an apply that overlaps an assessment voiding it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from filestack import files_workspace, push_files
from tfctl import errors
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import Operation, PlanMode, RunStatus
from tfctl.runs.service import RunService
from tfctl.settings import local_state_path
from tfctl.terraform.commands import PlanOptions
from tfctl.terraform.runner import TerraformExecutor
from tfctl.workspaces import WorkspaceChanges, list_workspaces, show_workspace, update_workspace

pytestmark = pytest.mark.terraform

SECRET = "drift-test-secret-5c2e91"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", SECRET)


@pytest.fixture
def applied(store: Store, runtime: RunService, tmp_path: Path, out_dir: Path) -> str:
    """Workspace `dev` (files a and b), applied."""
    push_files(store, tmp_path, names=["a", "b"])
    files_workspace(store, "dev", out_dir)
    runtime.plan("dev")
    assert runtime.apply("dev").status == RunStatus.APPLIED
    return "dev"


def edit_state(home: Path, workspace: str, edit: Any) -> None:
    """Change the workspace's local state file as someone outside tfctl would."""
    path = local_state_path(home, workspace)
    doc = json.loads(path.read_text())
    edit(doc)
    doc["serial"] += 1
    path.write_text(json.dumps(doc, indent=2))


def file_instances(doc: dict[str, Any]) -> list[dict[str, Any]]:
    resource = next(r for r in doc["resources"] if r["name"] == "file")
    instances: list[dict[str, Any]] = resource["instances"]
    return instances


def assess(runtime: RunService, workspace: str) -> Any:
    [result] = runtime.assess([workspace])
    return result


def test_a_workspace_just_applied_is_in_sync(runtime: RunService, applied: str) -> None:
    result = assess(runtime, applied)
    assert result.result == "in_sync"
    run = runtime.get(result.run_id)
    assert (run.operation, run.plan_mode, run.status) == ("plan", "assessment", "no_changes")
    assert run.action == "assessment"
    assert run.plan_sha256 is None  # nothing anyone could apply


def test_state_edited_outside_tfctl_is_drift_with_the_resource_and_action(
    runtime: RunService, applied: str, isolated_env: Path
) -> None:
    def edit(doc: dict[str, Any]) -> None:
        for instance in file_instances(doc):
            if instance["index_key"] == "a":
                instance["attributes"]["input"]["value"]["content"] = "edited by hand"

    edit_state(isolated_env, applied, edit)
    result = assess(runtime, applied)
    assert result.result == "drifted"
    assert result.differences.to_dict()["would_change"] == [
        {"address": 'module.stack.terraform_data.file["a"]', "action": "update"}
    ]
    assert runtime.get(result.run_id).status == RunStatus.DRIFTED
    [status] = runtime.drift_status([applied])
    assert (status.result, status.run_id) == ("drifted", result.run_id)


def test_a_resource_removed_from_the_state_is_drift(
    runtime: RunService, applied: str, isolated_env: Path
) -> None:
    def remove_b(doc: dict[str, Any]) -> None:
        instances = file_instances(doc)
        instances[:] = [i for i in instances if i["index_key"] != "b"]

    edit_state(isolated_env, applied, remove_b)
    result = assess(runtime, applied).to_dict()
    assert result["result"] == "drifted"
    assert result["would_change"] == [
        {"address": 'module.stack.terraform_data.file["b"]', "action": "create"}
    ]
    assert result["outputs"] == ["paths"]


def test_a_newer_spec_version_not_applied_is_drift_until_it_is(
    store: Store, runtime: RunService, applied: str, tmp_path: Path
) -> None:
    push_files(store, tmp_path, names=["a", "b"], content="version two")
    result = assess(runtime, applied).to_dict()
    assert result["result"] == "drifted"
    assert {r["action"] for r in result["would_change"]} == {"update"}
    assert len(result["would_change"]) == 2

    runtime.plan(applied)
    runtime.apply(applied)
    assert assess(runtime, applied).result == "in_sync"
    [view] = runtime.drift_status([applied])
    assert view.result == "in_sync"


def test_a_pending_plan_survives_an_assessment_and_is_still_applied(
    store: Store, runtime: RunService, applied: str, tmp_path: Path
) -> None:
    push_files(store, tmp_path, names=["a", "b"], content="version two")
    pending = runtime.plan(applied)
    assert pending.status == RunStatus.AWAITING_APPROVAL

    result = assess(runtime, applied)
    assert result.result == "drifted"
    assert runtime.get(pending.id).status == RunStatus.AWAITING_APPROVAL
    assert runtime.pending_plan(applied).id == pending.id  # type: ignore[union-attr]

    applied_run = runtime.apply(applied)  # no id: the pending plan, not the assessment
    assert applied_run.parent_run_id == pending.id
    assert applied_run.status == RunStatus.APPLIED
    assert assess(runtime, applied).result == "in_sync"  # what was pending is what was applied


def test_an_assessment_can_never_be_applied(
    runtime: RunService, applied: str, isolated_env: Path
) -> None:
    edit_state(isolated_env, applied, lambda doc: file_instances(doc).pop())
    drifted = assess(runtime, applied)
    assert drifted.result == "drifted"
    for attempt in (runtime.apply, runtime.enqueue_apply, runtime.preview):
        with pytest.raises(errors.RunRefused, match="drift assessment: it is never applied"):
            attempt(applied, plan_run_id=drifted.run_id)
    with pytest.raises(errors.RunRefused, match="already applied"):
        runtime.apply(applied)  # the workspace's plan is its last real plan, never an assessment
    runtime.plan(applied)
    runtime.apply(applied)
    in_sync_id = assess(runtime, applied).run_id
    with pytest.raises(errors.RunRefused, match="drift assessment"):
        runtime.apply(applied, plan_run_id=in_sync_id)
    # even queued with auto-apply, an assessment stays a plan nobody applies
    queued = runtime.enqueue_plan(applied, mode=PlanMode.ASSESSMENT, auto_apply=True)
    assert queued.auto_apply is False


def test_a_busy_workspace_is_skipped_and_nothing_is_recorded(
    runtime: RunService, applied: str
) -> None:
    waiting = runtime.enqueue(applied, operation=Operation.PLAN)
    before = len(runtime.list_runs(workspace=applied))
    result = assess(runtime, applied)
    assert (result.result, result.run_id) == ("skipped", waiting.id)
    assert "busy" in (result.message or "")
    assert len(runtime.list_runs(workspace=applied)) == before


def test_an_apply_during_the_assessment_voids_it(
    store: Store, runtime: RunService, applied: str, tmp_path: Path
) -> None:
    """The assessment reads the state without terraform's lock and does not hold the
    workspace: an apply that ran meanwhile is not blocked, and the assessment, which may
    have read a half-written state, ends superseded with no result."""
    push_files(store, tmp_path, names=["a", "b"], content="version two")
    pending = runtime.plan(applied)
    other = RunService(AppContext(store=store))

    class ApplyMeanwhile(TerraformExecutor):
        def plan(self, cwd: Any, opts: PlanOptions, **kw: Any) -> Any:
            if not opts.lock:  # the assessment's plan: an apply lands while it reads
                assert other.apply(applied).status == RunStatus.APPLIED
            return super().plan(cwd, opts, **kw)

    assessing = RunService(AppContext(store=store), executor=ApplyMeanwhile())
    result = assess(assessing, applied)
    assert result.result == "skipped"
    run = runtime.get(result.run_id)
    assert run.status == RunStatus.SUPERSEDED
    assert "its result is void" in (run.message or "")
    assert runtime.get(pending.id).status == RunStatus.APPLIED
    [view] = runtime.drift_status([applied])
    assert view.result == "not_assessed"  # a void assessment says nothing


def test_all_skips_workspaces_opted_out_or_never_applied(
    store: Store, runtime: RunService, applied: str, tmp_path: Path, isolated_env: Path
) -> None:
    for name in ("fresh", "quiet"):
        (tmp_path / name).mkdir()
        files_workspace(store, name, tmp_path / name)
    runtime.plan("quiet")
    runtime.apply("quiet")
    updated = update_workspace(store, "quiet", WorkspaceChanges(assess=False), home=isolated_env,
                               heartbeat_timeout=30)  # fmt: skip
    assert updated.changed
    assert updated.workspace.assess is False
    results = {r.workspace: r for r in runtime.assess(None)}
    assert results["dev"].result == "in_sync"
    assert (results["fresh"].result, results["fresh"].message) == ("skipped", "nothing applied yet")
    assert results["quiet"].result == "skipped"
    assert "--assess" in (results["quiet"].message or "")
    assert assess(runtime, "quiet").result == "in_sync"  # named: assessed all the same


def test_workspace_show_and_list_carry_the_drift(
    store: Store, runtime: RunService, applied: str, isolated_env: Path
) -> None:
    assert show_workspace(store, applied).to_dict()["drift"]["result"] == "not_assessed"
    edit_state(isolated_env, applied, lambda doc: file_instances(doc).pop())
    result = assess(runtime, applied)
    shown = show_workspace(store, applied).to_dict()
    assert shown["assess"] is True
    assert shown["drift"]["result"] == "drifted"
    assert shown["drift"]["run_id"] == result.run_id
    assert shown["drift"]["counts"]["would_change"] == 1
    [listed] = [v.to_dict() for v in list_workspaces(store)]
    assert listed["drift"] == shown["drift"]
    assert SECRET not in json.dumps(shown)


def test_only_assess_changes_while_a_run_is_queued_and_no_plan_is_discarded(
    runtime: RunService, applied: str, isolated_env: Path, store: Store, tmp_path: Path
) -> None:
    push_files(store, tmp_path, names=["a", "b"], content="version two")
    pending = runtime.plan(applied)
    queued = runtime.enqueue(applied, operation=Operation.PLAN)
    updated = update_workspace(store, applied, WorkspaceChanges(assess=False),
                               home=isolated_env, heartbeat_timeout=30)  # fmt: skip
    assert updated.changed
    assert updated.discarded_plan_ids == ()
    assert runtime.get(pending.id).status == RunStatus.AWAITING_APPROVAL
    assert runtime.get(queued.id).status == RunStatus.QUEUED
    changes = WorkspaceChanges(assess=True, set_variables={"content": "x"})
    with pytest.raises(errors.InvalidInput, match="is using it"):
        update_workspace(store, applied, changes, home=isolated_env, heartbeat_timeout=30)
    assert show_workspace(store, applied).assess is False  # the refused update wrote nothing


def test_a_queued_assessment_never_holds_the_workspace_and_is_queued_once(
    store: Store, runtime: RunService, applied: str, tmp_path: Path
) -> None:
    [queued] = runtime.assess([applied], queue=True)
    assert queued.result == "queued"
    [again] = runtime.assess([applied], queue=True)
    assert (again.result, again.run_id) == ("skipped", queued.run_id)

    assert runtime.claim_next(worker="test-worker") == queued.run_id
    assert show_workspace(store, applied).locked_by_run_id is None
    # while the assessment is claimed, a plan and its apply go ahead
    push_files(store, tmp_path, names=["a", "b"], content="version two")
    runtime.plan(applied)
    assert runtime.apply(applied).status == RunStatus.APPLIED

    done = runtime.execute(queued.run_id)
    assert (done.status, done.worker) == (RunStatus.NO_CHANGES, "test-worker")
