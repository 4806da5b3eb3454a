"""Tokens, roles, browser sessions, CSRF and Origin, route by route.

`test_every_route_checks_permissions` enumerates the app's routes: a route added without a
`require(...)` dependency (and not in `auth.PUBLIC`) fails it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount
from starlette.testclient import WebSocketDenialResponse

from serverkit import Api, make_tokens, serve_options
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.server.app import create_app
from tfctl.server.auth import COOKIE, CSRF_HEADER, PUBLIC, app_routes, roles_of
from tfctl.server.tokens import revoke_token

RANK = {"viewer": 0, "operator": 1, "admin": 2}


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    db = Store.open(f"sqlite:///{tmp_path / 'store.db'}", auto_upgrade=True)
    yield db
    db.engine.dispose()


@pytest.fixture
def app(sqlite_store: Store) -> FastAPI:
    return create_app(AppContext(store=sqlite_store), serve_options(workers=0))


@pytest.fixture
def api(app: FastAPI, sqlite_store: Store) -> Iterator[Api]:
    tokens = make_tokens(sqlite_store)
    with TestClient(app) as client:
        yield Api(client, tokens, sqlite_store)


def routes(app: FastAPI) -> list[tuple[str, str, str | None]]:
    """(method, path with placeholders filled, role needed or None for public) per route."""
    found = []
    for route in app_routes(app.routes):
        if isinstance(route, Mount):
            assert route.path in PUBLIC, f"mount {route.path} is not public and has no check"
            continue
        assert isinstance(route, APIRoute | APIWebSocketRoute), route
        roles = roles_of(route.dependant)
        public = route.path in PUBLIC
        assert public or roles, f"{route.path} has no permission check: add Depends(require(...))"
        role = None if public else max((r.value for r in roles), key=RANK.__getitem__)
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        methods = ["WS"] if isinstance(route, APIWebSocketRoute) else sorted(route.methods or ())
        found += [(method, path, role) for method in methods if method != "HEAD"]
    return found


def call(api: Api, method: str, path: str, role: str | None) -> int:
    if method == "WS":
        try:
            with api.client.websocket_connect(path, headers=api.headers(role)):
                return 101
        except WebSocketDenialResponse as denial:
            return int(denial.status_code)
    return int(api.request(method, path, role=role, json={}).status_code)


def test_every_route_checks_permissions(app: FastAPI, api: Api) -> None:
    table = routes(app)
    assert len(table) >= 25
    for method, path, role in table:
        if role is None:
            continue
        assert call(api, method, path, None) == 401, (method, path)
        for weaker, rank in RANK.items():
            if rank < RANK[role]:
                assert call(api, method, path, weaker) == 403, (method, path, weaker)
        assert call(api, method, path, role) not in (401, 403, 500), (method, path, role)


def test_a_route_without_a_check_fails_the_enumeration(app: FastAPI) -> None:
    app.add_api_route("/terraform/forgotten", lambda: {"open": True})
    with pytest.raises(AssertionError, match="/terraform/forgotten has no permission check"):
        routes(app)


def test_unauthenticated_answers_say_what_to_do(api: Api) -> None:
    response = api.get("/terraform/runs", role=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer TOKEN" in response.json()["error"]["message"]
    bad = api.get("/terraform/runs", role=None, headers={"Authorization": "Bearer tfctl_nope"})
    assert bad.status_code == 401
    assert "not valid" in bad.json()["error"]["message"]
    assert api.get("/healthz", role=None).json() == {"status": "ok"}
    assert api.get("/readyz", role=None).json()["status"] == "ready"
    page = api.get("/infra/terraform", role=None)
    assert page.status_code == 401
    assert "Log in" in page.text


def test_a_viewer_is_told_which_role_is_needed(api: Api) -> None:
    response = api.post("/terraform/halt", role="operator", json={"reason": "x"})
    assert response.status_code == 403
    assert response.json() == {"error": {"code": "forbidden", "message":
        "token 'operator-token' has the operator role; this needs admin"}}  # fmt: skip


def test_login_url_sets_a_strict_httponly_cookie_and_pages_carry_a_csrf_token(api: Api) -> None:
    client = api.client
    assert client.get("/login", params={"token": "tfctl_wrong"}).status_code == 401
    response = client.get("/login", params={"token": api.tokens["operator"]})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower()
    assert api.tokens["operator"] not in cookie
    page = client.get("/infra/terraform")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf
    assert csrf.group(1)
    # with the cookie alone, a state-changing request needs the page's CSRF token
    refused = client.post("/terraform/workspaces", json={"name": "w", "stack": "nope"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf"
    allowed = client.post("/terraform/workspaces", json={"name": "w", "stack": "nope"},
                          headers={CSRF_HEADER: csrf.group(1)})  # fmt: skip
    assert allowed.status_code == 404  # through auth and CSRF: the stack does not exist
    # reading needs no CSRF token
    assert client.get("/terraform/runs").status_code == 200
    # the role of the cookie is the token's: an operator cannot halt
    token = {CSRF_HEADER: csrf.group(1)}
    halt = client.post("/terraform/halt", json={"reason": "x"}, headers=token)
    assert halt.status_code == 403


def test_the_login_form_and_logging_out(api: Api) -> None:
    client = api.client
    assert "Log in" in client.get("/login").text
    wrong = client.post("/login", data={"token": "tfctl_nope"})
    assert wrong.status_code == 401
    assert "not valid" in wrong.text
    assert client.post("/login", data={"token": api.tokens["viewer"]}).status_code == 200
    page = client.get("/infra/terraform")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf
    assert client.post("/logout", headers={CSRF_HEADER: csrf.group(1)}).status_code == 204
    assert client.get("/infra/terraform").status_code == 401
    foreign = client.post("/login", data={"token": api.tokens["viewer"]},
                          headers={"Origin": "http://evil.example"})  # fmt: skip
    assert foreign.status_code == 403


def test_revoking_a_token_ends_its_sessions_and_requests(api: Api) -> None:
    client = api.client
    client.get("/login", params={"token": api.tokens["viewer"]})
    assert client.get("/infra/terraform").status_code == 200
    revoke_token(api.store, "viewer-token")
    assert client.get("/infra/terraform").status_code == 401
    assert api.get("/terraform/runs", role="viewer").status_code == 401


def test_a_tampered_or_foreign_cookie_is_refused(api: Api) -> None:
    client = api.client
    client.get("/login", params={"token": api.tokens["admin"]})
    value = client.cookies[COOKIE]
    payload, _, signature = value.partition(".")
    for forged in (payload + "x." + signature, payload + ".", "garbage", value + "x"):
        client.cookies.clear()
        client.cookies.set(COOKIE, forged)
        assert client.get("/terraform/runs").status_code == 401, forged
    client.cookies.clear()
    client.cookies.set(COOKIE, value)
    assert client.get("/terraform/runs").status_code == 200


def test_streams_refuse_a_foreign_origin(api: Api) -> None:
    foreign = {"Origin": "http://evil.example"}
    assert api.get("/terraform/runs/x/events", headers=foreign).status_code == 403
    headers = {**api.headers("admin"), **foreign}
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        api.client.websocket_connect("/terraform/ws/runs/x", headers=headers),
    ):
        pass
    assert denied.value.status_code == 403
    # the server's own origin passes the check (and meets the unknown run)
    own = {"Origin": "http://testserver"}
    assert api.get("/terraform/runs/x/events", headers=own).status_code == 404


def test_docs_list_every_route_with_its_role(api: Api) -> None:
    page = api.get("/docs", role="viewer")
    assert page.status_code == 200
    assert "/terraform/halt" in page.text
    assert "admin" in page.text
    assert "cdn" not in page.text.lower()
    schema = api.get("/openapi.json", role="viewer").json()
    assert "/terraform/workspaces/{name}/runs" in schema["paths"]
