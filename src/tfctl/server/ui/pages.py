"""The web UI's pages: server-rendered Jinja2 templates over the same service and core
functions as the API and the CLI. Pages only read; their buttons call the JSON API (with
the session's CSRF token), so every permission is enforced in one place: the API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from tfctl.server.auth import (
    COOKIE,
    SESSION_SECONDS,
    Principal,
    csrf_token,
    make_session,
    require,
    same_origin,
)
from tfctl.server.deps import Ctx, Service, Viewer
from tfctl.server.tokens import Role, verify_token
from tfctl.server.ui import data

if TYPE_CHECKING:
    from jinja2 import Environment

    from tfctl.context import AppContext

router = APIRouter(include_in_schema=False)
Page = Annotated[Principal, Depends(require(Role.VIEWER, page=True))]
HOME = "/infra/terraform"


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=data.UI_DIR / "static"), name="static")


def templates() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(data.UI_DIR / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["Role"] = Role
    env.filters["when"] = data.when
    env.filters["status_text"] = data.status_text
    env.filters["changes_text"] = data.changes
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    env: Environment | None = getattr(request.app.state, "templates", None)
    if env is None:
        env = request.app.state.templates = templates()
    who: Principal | None = context.get("who")
    csrf = csrf_token(request.app.state.secret, who.session) if who and who.session else ""
    html = env.get_template(template).render(request=request, csrf=csrf, **context)
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": CSP}
    return HTMLResponse(html, status_code=status, headers=headers)


#: Scripts and styles only from this server: no CDN, no inline script.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'")  # fmt: skip


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """401: the login page (with why); other errors: a page saying what went wrong."""
    if status == 401:
        return render(request, "login.html", status=401, message=message, who=None)
    return render(request, "error.html", status=status, message=message, who=None)


# --- logging in and out ---------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, ctx: Ctx, token: str | None = None) -> Response:
    """`/login?token=TOKEN` (the URL `tfctl serve` prints) logs in at once; `/login` alone
    shows a form to paste a token into."""
    if token is None:
        return render(request, "login.html", message=None, who=None)
    return _log_in(request, ctx, token)


@router.post("/login")
async def login_form(request: Request, ctx: Ctx) -> Response:
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and not same_origin(origin, request):
        return render(request, "login.html", status=403, who=None,
                      message=f"a login from origin {origin} is not accepted")  # fmt: skip
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    return _log_in(request, ctx, (form.get("token") or [""])[0].strip())


def _log_in(request: Request, ctx: AppContext, secret: str) -> Response:
    token = verify_token(ctx.store, secret)
    if token is None:
        return render(request, "login.html", status=401, who=None,
                      message="that token is not valid (revoked or mistyped)")  # fmt: skip
    # A page that moves on by itself: a same-site navigation, so the SameSite=Strict cookie
    # goes along even when the login link was opened from another site or an e-mail.
    response = render(request, "welcome.html", who=None, name=token.name, next=HOME)
    response.set_cookie(
        COOKIE, make_session(request.app.state.secret, token), max_age=SESSION_SECONDS,
        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    return response


@router.post("/logout")
def logout(request: Request, _: Viewer) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- pages ------------------------------------------------------------------------------------


@router.get(HOME)
def workspaces_page(request: Request, ctx: Ctx, svc: Service, who: Page) -> HTMLResponse:
    rows = data.workspace_rows(ctx, svc)
    return render(request, "workspaces.html", who=who, rows=rows,
                  **data.chrome(ctx, svc))  # fmt: skip


@router.get(HOME + "/workspaces/{name}")
def workspace_page(request: Request, name: str, ctx: Ctx, svc: Service, who: Page) -> HTMLResponse:
    detail = data.workspace_detail(ctx, svc, name)
    return render(request, "workspace.html", who=who, ws=detail, **data.chrome(ctx, svc))


@router.get(HOME + "/runs/{run_id}")
def run_page(request: Request, run_id: str, ctx: Ctx, svc: Service, who: Page) -> HTMLResponse:
    detail = data.run_detail(ctx, svc, run_id)
    return render(request, "run.html", who=who, run=detail, **data.chrome(ctx, svc))


@router.get(HOME + "/stacks")
def stacks_page(
    request: Request,
    ctx: Ctx,
    svc: Service,
    who: Page,
    stack: str | None = None,
    a: Annotated[int | None, Query(ge=1)] = None,
    b: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    catalog = data.stack_catalog(ctx.store)
    diff = data.stack_diff(ctx.store, stack, a, b) if stack and a and b else None
    return render(request, "stacks.html", who=who, stacks=catalog, diff=diff,
                  chosen={"stack": stack, "a": a, "b": b}, **data.chrome(ctx, svc))  # fmt: skip
