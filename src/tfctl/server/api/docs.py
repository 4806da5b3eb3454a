"""The API's own description: `/openapi.json` (generated) and `/docs`, a page listing every
route with its role and request fields, served from this package (works offline)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from tfctl.server.deps import Viewer

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
def openapi(request: Request, _: Viewer) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def docs(request: Request, who: Viewer) -> HTMLResponse:
    from tfctl.server.ui.pages import render

    return render(request, "docs.html", who=who, routes=api_routes(request.app))


def api_routes(app: Any) -> list[dict[str, Any]]:
    """Every documented route: method, path, summary, the role it needs, its body fields."""
    from fastapi.routing import APIRoute, APIWebSocketRoute

    from tfctl.server.auth import app_routes, roles_of

    rows = []
    for route in app_routes(app.routes):
        if isinstance(route, APIRoute) and route.include_in_schema:
            methods = sorted(set(route.methods or ()) - {"HEAD"})
        elif isinstance(route, APIWebSocketRoute):
            methods = ["WS"]
        else:
            continue
        roles = roles_of(route.dependant)
        fields = [name for param in route.dependant.body_params
                  for name in _fields(getattr(param.field_info, "annotation", None))]  # fmt: skip
        rows += [{"method": m, "path": route.path, "summary": getattr(route, "summary", None)
                  or (route.endpoint.__doc__ or "").strip().split("\n")[0],
                  "role": roles[0].value if roles else "none", "fields": fields}
                 for m in methods]  # fmt: skip
    return rows


def _fields(annotation: Any) -> list[str]:
    """The fields of a body model (also inside `Model | None`)."""
    from typing import get_args

    for candidate in (annotation, *get_args(annotation)):
        names = getattr(candidate, "model_fields", None)
        if names:
            return list(names)
    return []
