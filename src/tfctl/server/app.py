"""The ASGI application: routers, auth, error answers, and the lifespan that runs the
embedded worker slots and the stream hub.

Routes and pages are thin: each takes its dependencies (the run service, the principal from
`auth.require`) and calls one core function. Nothing here starts terraform or writes a run
row; the embedded `Worker` executes queued runs exactly as `tfctl worker` does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketState

from tfctl import __version__, errors
from tfctl.server import errors as api_errors
from tfctl.server.errors import ApiError

if TYPE_CHECKING:
    from tfctl.context import AppContext
    from tfctl.runs.worker import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8470
    workers: int = 1
    #: how often a run's stream polls the store (seconds)
    poll_interval: float = 0.25
    #: how often an idle worker slot looks for a queued run (seconds)
    claim_interval: float = 1.0
    #: seconds between drift assessments of each workspace (`--assess-every`; the worker
    #: slots schedule them, so it needs workers >= 1)
    assess_every: float | None = None


def create_app(ctx: AppContext, options: ServeOptions | None = None) -> FastAPI:
    """The application over `ctx`'s store. Its lifespan starts `options.workers` embedded
    worker slots and stops them (cancelling their runs gracefully) on shutdown."""
    from tfctl.mcp.http import mount as mount_mcp
    from tfctl.server import streams
    from tfctl.server.api import docs, halt, health, runs, stacks, state, workspaces
    from tfctl.server.auth import load_secret
    from tfctl.server.ui import pages

    options = options or ServeOptions()
    app = FastAPI(
        title="tfctl", version=__version__, lifespan=_lifespan, docs_url=None, redoc_url=None,
        openapi_url=None,
        description="The tfctl control plane: stacks, workspaces, runs, logs, state, halt.",
    )  # fmt: skip
    app.state.ctx = ctx
    app.state.options = options
    app.state.secret = load_secret(ctx.settings.home.expanduser())
    app.state.hub = streams.StreamHub(ctx, poll_interval=options.poll_interval)
    app.state.worker = None
    for module in (health, docs, stacks, workspaces, state, runs, streams, halt):
        app.include_router(module.router)
    app.include_router(pages.router)
    pages.mount_static(app)
    mount_mcp(app)  # /mcp: the MCP tools, when the mcp extra is installed
    _install_error_handlers(app)
    return app


# --- lifespan: embedded worker slots ----------------------------------------------------------


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    worker = start_worker(app)
    try:
        yield
    finally:
        stop_server_work(app, reason="the server is shutting down")
        if worker is not None:
            await _join(app)


def start_worker(app: FastAPI) -> Worker | None:
    """Start the embedded worker slots in a thread (none with `workers=0`)."""
    from tfctl.runs.worker import Worker, WorkerOptions, default_name

    options: ServeOptions = app.state.options
    if options.workers <= 0:
        return None
    ctx: AppContext = app.state.ctx
    name = f"serve-{default_name(ctx.host)}"
    worker_options = WorkerOptions(name=name, concurrency=options.workers,
                                   poll_interval=options.claim_interval,
                                   assess_every=options.assess_every)  # fmt: skip
    worker = Worker(ctx, worker_options)
    thread = threading.Thread(target=worker.run, name="tfctl-worker", daemon=True)
    app.state.worker, app.state.worker_thread = worker, thread
    thread.start()
    return worker


def stop_server_work(app: FastAPI, *, reason: str) -> None:
    """Stop claiming runs, cancel the ones the slots are executing (terraform is interrupted
    gracefully and its state recorded), and end every open stream. Safe to call twice."""
    worker: Worker | None = app.state.worker
    if worker is not None:
        try:
            worker.stop(reason)
        except Exception:  # the store may be gone; the slots still stop claiming
            log.warning("stopping the embedded worker failed", exc_info=True)
    app.state.hub.close()


async def _join(app: FastAPI) -> None:
    import anyio

    thread: threading.Thread = app.state.worker_thread
    await anyio.to_thread.run_sync(thread.join, 60.0)


# --- errors ---------------------------------------------------------------------------------


def _install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(errors.TfctlError, _tfctl_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(api_errors.body(code, message), status_code=status, headers=headers)


async def _api_error(request: Request, exc: ApiError) -> Response | None:
    if exc.page and request.scope["type"] == "http":
        from tfctl.server.ui.pages import error_page

        return error_page(request, exc.status, exc.message)
    return await _answer(request, error_response(exc.status, exc.code, exc.message))


async def _tfctl_error(request: Request, exc: errors.TfctlError) -> Response | None:
    status, code = api_errors.status_of(exc)
    if request.scope["type"] == "http" and request.url.path.startswith("/infra/"):
        from tfctl.server.ui.pages import error_page

        return error_page(request, status, exc.message)
    return await _answer(request, error_response(status, code, exc.message))


async def _answer(conn: Request | WebSocket, response: Response) -> Response | None:
    """The error response; a WebSocket that was not accepted yet gets it as the answer to
    its handshake (an accepted one is closed with 1011)."""
    if not isinstance(conn, WebSocket):
        return response
    if conn.client_state is WebSocketState.CONNECTING:
        await conn.send_denial_response(response)
    else:
        await conn.close(1011)
    return None


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    status, code, message = api_errors.validation_message(list(exc.errors()))
    return error_response(status, code, message)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 404:
        message = f"no such route: {request.method} {request.url.path}; /docs lists the API"
        return error_response(404, "not_found", message)
    if exc.status_code == 405:
        return error_response(
            405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
        )
    return error_response(exc.status_code, "http_error", str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    message = f"internal error: {type(exc).__name__}; the server log has the details"
    return error_response(500, "internal", message)
