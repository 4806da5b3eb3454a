"""The incident kill switch over HTTP (admin)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tfctl.server.deps import Admin, Service, json_ok

router = APIRouter(prefix="/terraform", tags=["halt"])


class HaltRequest(BaseModel):
    """Halt every queued, running and awaiting run (of `workspace`, default all); `reason`
    is recorded on each and shown to its owner."""

    model_config = ConfigDict(extra="forbid")
    workspace: str | None = None
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/halt", summary="The kill switch: stop every unfinished run now")
def halt(body: HaltRequest, svc: Service, who: Admin) -> JSONResponse:
    report = svc.halt(actor=who.name, workspace=body.workspace, reason=body.reason)
    data = report.to_dict()
    data["runs"] = data["halted"]
    data["halted"] = [run.id for run in report.halted]
    return json_ok(data)
