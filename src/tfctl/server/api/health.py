"""Liveness and readiness: the only routes that need no token."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tfctl.server.deps import Db, json_ok

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness (no token needed)")
async def healthz() -> JSONResponse:
    return json_ok({"status": "ok"})


@router.get("/readyz", summary="Readiness: the job store is reachable and up to date")
def readyz(db: Db) -> JSONResponse:
    from tfctl.persistence.schema import schema_state

    state = schema_state(db.engine)
    if not state.up_to_date:
        message = f"the job store is at schema {state.current}, this server needs {state.head}"
        return json_ok({"status": "not ready", "message": message}, status=503)
    return json_ok({"status": "ready", "schema": state.current})
