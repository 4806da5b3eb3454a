"""The MCP tools in `tfctl serve`, at `/mcp` (streamable HTTP), behind the server's tokens.

`/mcp` is an ordinary route of the app with the `require(Role.VIEWER)` dependency (so the
test that every route checks permissions covers it, and a request without a valid bearer
token gets the API's 401); the route hands the request to the SDK's session manager with
the token attached. Tools then act as the token: its name is the actor, and its role is
checked as the REST API checks it (operator to plan, apply, discard, cancel; admin to apply
a destroy plan and halt). Operations still need TFCTL_MCP_ENABLE_OPERATIONS=1 where the
server runs. Stateless with JSON answers: any server sharing the store answers any request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tfctl.mcp.tools import Caller
from tfctl.server.deps import Viewer

if TYPE_CHECKING:
    from tfctl.context import AppContext
    from tfctl.mcp.server import Ctx

log = logging.getLogger(__name__)

PATH = "/mcp"
#: Where the route leaves the request's principal for the tools (the ASGI scope).
PRINCIPAL = "tfctl.principal"


def mount(app: FastAPI) -> None:
    """Serve the MCP tools at `/mcp` in `app` (and run their session manager in the app's
    lifespan). Nothing happens when the mcp extra is not installed."""
    try:
        handler, lifespan = mcp_asgi(app.state.ctx)
    except ModuleNotFoundError as exc:
        log.info("MCP is not served at %s: %s is not installed (pip install 'tfctl[mcp]')",
                 PATH, exc.name)  # fmt: skip
        return

    async def endpoint(request: Request, who: Viewer) -> Response:
        request.scope[PRINCIPAL] = who
        return _Handover(handler)

    app.add_api_route(PATH, endpoint, methods=["POST"], include_in_schema=False)
    app.router.lifespan_context = _around(app.router.lifespan_context, lifespan)


def mcp_asgi(ctx: AppContext) -> tuple[ASGIApp, Callable[[], AbstractAsyncContextManager[None]]]:
    """The MCP server as an ASGI handler of one path, and the lifespan hook that must run
    around its use (the SDK's session manager)."""
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
    from mcp.server.transport_security import TransportSecuritySettings

    from tfctl.mcp.server import build_server

    server = build_server(ctx, operations=ctx.settings.mcp_enable_operations,
                          caller_of=token_caller)  # fmt: skip
    # The app checks tokens (and Origin for cookies); the SDK's Host check would refuse
    # every `serve --host` other than localhost.
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    server.streamable_http_app(streamable_http_path=PATH, stateless_http=True,
                               json_response=True, transport_security=security)  # fmt: skip
    manager = server.session_manager
    return StreamableHTTPASGIApp(manager), manager.run


def token_caller(ctx: Ctx) -> Caller:
    """Over HTTP the caller is the request's token: its name and role."""
    request = ctx.request_context.request
    principal = getattr(request, "scope", {}).get(PRINCIPAL)
    if principal is None:  # only the /mcp route hands requests over, always with a token
        raise RuntimeError("an MCP request reached the tools without a token")
    return Caller(principal.name, principal.role)


class _Handover(Response):
    """The route's answer: the MCP handler answers the request itself (its body unread)."""

    def __init__(self, handler: ASGIApp) -> None:
        super().__init__()
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


def _around(
    outer: Callable[[Any], AbstractAsyncContextManager[Any]],
    inner: Callable[[], AbstractAsyncContextManager[None]],
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    """The app's lifespan with `inner` running around it."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(), outer(app) as state:
            yield state

    return lifespan
