"""What routes take as dependencies: the application context, the run service, the
principal (`auth.require`), and the JSON answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from tfctl.context import AppContext
from tfctl.server.auth import Principal, require
from tfctl.server.tokens import Role

if TYPE_CHECKING:
    from tfctl.persistence.db import Store
    from tfctl.runs.service import RunService


# These do no I/O: `async def` keeps them off the thread pool (a sync dependency costs a
# thread hop per request).


async def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_store(request: Request) -> Store:
    ctx: AppContext = request.app.state.ctx
    return ctx.store


async def get_service(request: Request) -> RunService:
    from tfctl.runs.service import RunService

    return RunService(request.app.state.ctx)


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Ctx = Annotated[AppContext, Depends(get_ctx)]
if TYPE_CHECKING:
    Service = Annotated[RunService, Depends(get_service)]
    Db = Annotated[Store, Depends(get_store)]
else:  # the run service and the store's module are imported when first needed
    Service = Annotated[Any, Depends(get_service)]
    Db = Annotated[Any, Depends(get_store)]


def json_ok(data: Any, status: int = 200) -> JSONResponse:
    """The answer of a route: `data` as JSON (the CLI's `--json` shape)."""
    return JSONResponse(data, status_code=status)
