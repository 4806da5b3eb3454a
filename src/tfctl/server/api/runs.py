"""Runs: list, show, logs, and the apply / discard / cancel actions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tfctl import errors
from tfctl.server.auth import Principal
from tfctl.server.deps import Operator, Service, Viewer, json_ok
from tfctl.server.errors import ApiError
from tfctl.server.tokens import Role

router = APIRouter(prefix="/terraform/runs", tags=["runs"])
ACTIONS = ("apply", "discard", "cancel")


class ApplyRequest(BaseModel):
    """Apply exactly this plan. `plan_sha256`, when given, must be the plan's recorded hash;
    a destroy plan needs `confirm` = its workspace's name (and the admin role);
    `override_reason` overrides a soft-mandatory policy failure (admin)."""

    model_config = ConfigDict(extra="forbid")
    plan_sha256: str | None = Field(default=None, max_length=64)
    confirm: str | None = None
    override_reason: str | None = None


After = Annotated[
    str | None,
    Query(description="The cursor of the next page: given by the previous page's Link header "
          '(rel="next"); opaque'),
]  # fmt: skip


@router.get("", summary="Runs, newest first, a page at a time (Link: rel=next)")
def list_runs(
    request: Request,
    svc: Service,
    _: Viewer,
    workspace: str | None = None,
    status: Annotated[list[str] | None, Query(description="Repeatable")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    after: After = None,
) -> JSONResponse:
    page = svc.run_page(workspace=workspace, statuses=status or (), limit=limit, after=after)
    waits = svc.waiting_for(page.runs)
    body = [dict(run.to_dict(), waiting_for=waits.get(run.id)) for run in page.runs]
    return json_page(request, body, page.next)


def json_page(request: Request, data: list[dict[str, Any]], following: str | None) -> JSONResponse:
    """A page of a list: the JSON array as before, and when more follow, a `Link` header
    (RFC 8288) to the next page: this request's path and query with `after=<cursor>`."""
    response = json_ok(data)
    if following is not None:
        url = request.url.include_query_params(after=following)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return response


@router.get("/{run_id}", summary="One run (any unique prefix of its id)")
def show_run(run_id: str, svc: Service, _: Viewer) -> JSONResponse:
    return json_ok(svc.get(run_id).to_dict())


@router.get("/{run_id}/logs", summary="Log lines after sequence number `after`")
def run_logs(
    run_id: str,
    svc: Service,
    _: Viewer,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> JSONResponse:
    return json_ok(svc.logs(run_id, after=after, limit=limit).to_dict())


@router.post("/{run_id}/actions/apply", status_code=202, summary="Queue the apply of a plan")
def apply_run(
    run_id: str, svc: Service, who: Operator, body: ApplyRequest | None = None
) -> JSONResponse:
    body = body or ApplyRequest()
    plan = svc.get(run_id)
    _check_apply_role(who, destroy=plan.plan_mode == "destroy", override=body.override_reason)
    run = svc.enqueue_apply(
        plan.workspace, plan_run_id=plan.id, plan_sha256=body.plan_sha256, confirm=body.confirm,
        override_reason=body.override_reason, actor=who.name,
    )  # fmt: skip
    return json_ok(run.to_dict(), status=202)


def _check_apply_role(who: Principal, *, destroy: bool, override: str | None) -> None:
    if destroy and not who.can(Role.ADMIN):
        raise ApiError(403, "forbidden", f"token '{who.name}' has the {who.role.value} role; "
                       "applying a destroy plan needs admin")  # fmt: skip
    if override and not who.can(Role.ADMIN):
        raise ApiError(403, "forbidden", f"token '{who.name}' has the {who.role.value} role; "
                       "overriding a policy needs admin")  # fmt: skip


@router.post("/{run_id}/actions/discard", summary="Discard a plan that awaits approval")
def discard_run(run_id: str, svc: Service, who: Operator) -> JSONResponse:
    return json_ok(svc.discard(run_id, actor=who.name).to_dict())


@router.post("/{run_id}/actions/cancel", summary="Cancel a queued, running or awaiting run")
def cancel_run(run_id: str, svc: Service, who: Operator) -> JSONResponse:
    return json_ok(svc.cancel(run_id, actor=who.name).to_dict())


@router.post("/{run_id}/actions/{action}", summary="(any other action is refused)")
def unknown_action(run_id: str, action: str, _: Viewer) -> JSONResponse:
    raise errors.NotFound(f"no run action '{action}'; the actions are {', '.join(ACTIONS)}")
