"""State versions: what each apply left behind (sensitive values redacted)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from tfctl.server.deps import Db, Viewer, json_ok

router = APIRouter(prefix="/terraform/workspaces", tags=["state"])


@router.get("/{name}/state-versions", summary="The workspace's state versions, newest first")
def state_versions(
    name: str, db: Db, _: Viewer, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> JSONResponse:
    from tfctl.state_versions import list_states

    return json_ok(list_states(db, name, limit=limit))


@router.get("/{name}/state-versions/{serial}", summary="One state version by its serial")
def state_version(name: str, serial: int, db: Db, _: Viewer) -> JSONResponse:
    from tfctl.state_versions import show_state

    return json_ok(show_state(db, name, serial))
