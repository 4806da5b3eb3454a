"""Workspaces, their runs and how a run is started over HTTP (queued for a worker slot)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tfctl.server.api.runs import After, json_page
from tfctl.server.deps import Ctx, Db, Operator, Service, Viewer, json_ok

router = APIRouter(prefix="/terraform/workspaces", tags=["workspaces"])

Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many, newest first")]


class NewWorkspace(BaseModel):
    """`tfctl workspace create NAME --stack S [--backend B] [--var K=V] [--backend-config K=V]`"""

    model_config = ConfigDict(extra="forbid")
    name: str
    stack: str
    backend: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    backend_config: dict[str, Any] = Field(default_factory=dict)


class NewRun(BaseModel):
    """Queue a plan: `plan`, `destroy` (a destroy plan) or `refresh` (a refresh-only plan).
    `reinit`: the worker runs `terraform init` again although nothing it depends on changed."""

    model_config = ConfigDict(extra="forbid")
    operation: Literal["plan", "destroy", "refresh"]
    experiment_id: str | None = Field(default=None, max_length=255)
    test_id: str | None = Field(default=None, max_length=255)
    reinit: bool = False


@router.get("", summary="Every workspace")
def list_workspaces(db: Db, _: Viewer) -> JSONResponse:
    from tfctl.workspaces import list_workspaces as list_all

    return json_ok([view.to_dict() for view in list_all(db)])


@router.post("", status_code=201, summary="Create a workspace for a stack")
def create_workspace(body: NewWorkspace, ctx: Ctx, _: Operator) -> JSONResponse:
    from tfctl.workspaces import create_workspace as create

    backend = body.backend or ctx.settings.terraform_state_backend.value
    view = create(ctx.store, body.name, stack=body.stack, backend=backend,
                  backend_config=body.backend_config, variables=body.variables)  # fmt: skip
    return json_ok(view.to_dict(), status=201)


@router.get("/{name}", summary="A workspace with its latest run and current state")
def show_workspace(name: str, db: Db, svc: Service, _: Viewer) -> JSONResponse:
    from tfctl.server.views import current_state
    from tfctl.workspaces import show_workspace as show

    data = show(db, name).to_dict()
    latest = svc.list_runs(workspace=name, limit=1)
    data["latest_run"] = latest[0].to_dict() if latest else None
    data["current_state"] = current_state(db, name)
    return json_ok(data)


@router.get("/{name}/runs", summary="The workspace's runs, newest first (Link: rel=next)")
def workspace_runs(
    request: Request, name: str, svc: Service, _: Viewer, limit: Limit = 50, after: After = None
) -> JSONResponse:
    page = svc.run_page(workspace=name, limit=limit, after=after)
    return json_page(request, [run.to_dict() for run in page.runs], page.next)


@router.post("/{name}/runs", status_code=202, summary="Queue a plan, destroy plan or refresh")
def start_run(name: str, body: NewRun, svc: Service, who: Operator) -> JSONResponse:
    from tfctl.persistence.kinds import PlanMode
    from tfctl.runs.service import Labels

    mode = {"plan": PlanMode.NORMAL, "destroy": PlanMode.DESTROY,
            "refresh": PlanMode.REFRESH_ONLY}[body.operation]  # fmt: skip
    labels = Labels(experiment_id=body.experiment_id, test_id=body.test_id)
    run = svc.enqueue_plan(name, mode=mode, actor=who.name, labels=labels, reinit=body.reinit)
    return json_ok(run.to_dict(), status=202)
