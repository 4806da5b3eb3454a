"""A destroy plan is applied only with its workspace's name, by every path into the runtime
(in-process apply, a queued apply, a queued destroy approved in advance), on both stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from filestack import files_workspace, push_files
from tfctl import errors
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import Operation, PlanMode, RunStatus
from tfctl.runs.service import RunService
from tfctl.runs.views import list_runs, show_run

pytestmark = pytest.mark.terraform


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")


@pytest.fixture
def applied(runtime: RunService, store: Store, tmp_path: Path, out_dir: Path) -> str:
    push_files(store, tmp_path, names=["a"])
    files_workspace(store, "dev", out_dir)
    runtime.plan("dev")
    runtime.apply("dev")
    assert (out_dir / "a").exists()
    return "dev"


def test_a_destroy_plan_is_not_applied_without_the_workspace_name(
    runtime: RunService, applied: str, out_dir: Path, store: Store
) -> None:
    plan = runtime.plan(applied, mode=PlanMode.DESTROY)
    runs_before = len(list_runs(store))
    for confirm in (None, "prod", "DEV", " dev"):
        with pytest.raises(errors.ConfirmationRequired, match="--confirm dev") as refused:
            runtime.apply(applied, confirm=confirm)
        assert refused.value.workspace == "dev"
        assert refused.value.run_id == plan.id
        with pytest.raises(errors.ConfirmationRequired):
            runtime.apply(applied, plan_run_id=plan.id, confirm=confirm)
        with pytest.raises(errors.ConfirmationRequired):
            runtime.enqueue(applied, operation=Operation.APPLY, plan_run_id=plan.id,
                            mode=PlanMode.DESTROY, confirm=confirm)  # fmt: skip
    assert len(list_runs(store)) == runs_before  # no run row was written
    assert show_run(store, plan.id).status == RunStatus.AWAITING_APPROVAL
    assert (out_dir / "a").exists()

    destroyed = runtime.apply(applied, confirm="dev")
    assert destroyed.status == RunStatus.APPLIED
    assert destroyed.action == "destroy"
    assert destroyed.to_dict()["action"] == "destroy"
    assert show_run(store, plan.id).to_dict()["action"] == "destroy-plan"
    assert not (out_dir / "a").exists()


def test_a_queued_destroy_needs_the_name_when_it_is_queued(
    runtime: RunService, applied: str, store: Store
) -> None:
    before = len(list_runs(store))
    with pytest.raises(errors.ConfirmationRequired):
        runtime.enqueue(applied, operation=Operation.PLAN, mode=PlanMode.DESTROY, auto_apply=True)
    assert len(list_runs(store)) == before
    # a destroy plan that waits for review needs no name yet; its apply will
    queued = runtime.enqueue(applied, operation=Operation.PLAN, mode=PlanMode.DESTROY)
    assert queued.action == "destroy-plan"
    approved = runtime.enqueue(applied, operation=Operation.PLAN, mode=PlanMode.DESTROY,
                               auto_apply=True, confirm="dev")  # fmt: skip
    assert approved.auto_apply
