"""Who is asking, and may they: bearer tokens, browser sessions, CSRF, Origin, roles.

A request authenticates with `Authorization: Bearer TOKEN`, or, from a browser, with the
signed session cookie `/login` sets (HttpOnly, SameSite=Strict). A session names its token, so
revoking the token ends its sessions. Every state-changing request made with the cookie must
carry the session's CSRF token (`X-CSRF-Token`); WebSocket and SSE requests must come from
the server's own origin when they say where they come from.

Permissions are route dependencies: `Depends(require(Role.OPERATOR))`. A test enumerates the
app's routes and fails for any that has no `require` dependency and is not in `PUBLIC`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from tfctl.server.errors import ApiError
from tfctl.server.tokens import Role, TokenView, token_by_id, verify_token

if TYPE_CHECKING:
    from tfctl.persistence.db import Store

COOKIE = "tfctl_session"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 7 * 24 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Routes anyone may call: liveness, readiness, logging in, and the static files of pages.
PUBLIC: frozenset[str] = frozenset({"/healthz", "/readyz", "/login", "/static"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The token behind a request; `session` is set when it came with a browser's cookie."""

    name: str
    role: Role
    token_id: str
    session: str | None = None

    def can(self, role: Role) -> bool:
        return self.role.allows(role)


# --- the session cookie ---------------------------------------------------------------------


def load_secret(home: Path) -> bytes:
    """The key that signs session cookies: `TFCTL_HOME/server.key`, created (mode 0600) on
    first use. Servers that share sessions behind a load balancer share this file."""
    path = home / "server.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        pass
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key.hex() + "\n")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def make_session(key: bytes, token: TokenView, *, now: float | None = None) -> str:
    """A cookie value naming `token`, with a fresh session id (what its CSRF token is
    derived from), signed with `key`."""
    body = {"t": token.id, "s": secrets.token_urlsafe(16), "iat": int(now or time.time())}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_sign(key, payload)}"


def read_session(key: bytes, value: str, *, now: float | None = None) -> tuple[str, str] | None:
    """`(token_id, session_id)` of a cookie value signed with `key` and not expired."""
    payload, _, signature = value.partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(key, payload)):
        return None
    try:
        body = json.loads(_unb64(payload))
        token_id, session, issued = str(body["t"]), str(body["s"]), int(body["iat"])
    except (ValueError, KeyError, TypeError):
        return None
    if (now or time.time()) - issued > SESSION_SECONDS:
        return None
    return token_id, session


def csrf_token(key: bytes, session: str) -> str:
    """The CSRF token of a browser session: pages embed it, their requests send it back."""
    return _sign(key, f"csrf:{session}")


# --- authentication --------------------------------------------------------------------------


def authenticate(conn: HTTPConnection) -> Principal | None:
    """The principal of a request or WebSocket: its bearer token, else its session cookie."""
    db: Store = conn.app.state.ctx.store
    header = conn.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        token = verify_token(db, secret.strip())
        return None if token is None else Principal(token.name, token.role, token.id)
    cookie = conn.cookies.get(COOKIE)
    if not cookie:
        return None
    found = read_session(conn.app.state.secret, cookie)
    if found is None:
        return None
    token = token_by_id(db, found[0])  # a revoked token ends its sessions
    return None if token is None else Principal(token.name, token.role, token.id, found[1])


def require(role: Role, *, page: bool = False) -> Callable[[HTTPConnection], Principal]:
    """The dependency that lets `role` (or a higher one) through: 401 without a valid token,
    403 with too low a role, or a cookie request that changes state without the CSRF token.
    `page`: answer 401 with the login page instead of JSON."""

    def dependency(conn: HTTPConnection) -> Principal:
        principal = authenticate(conn)
        if principal is None:
            raise ApiError(401, "unauthorized", _login_hint(conn), page=page)
        if not principal.can(role):
            raise ApiError(
                403, "forbidden",
                f"token '{principal.name}' has the {principal.role.value} role; "
                f"this needs {role.value}",
                page=page,
            )  # fmt: skip
        _check_csrf(conn, principal)
        return principal

    dependency.required_role = role  # type: ignore[attr-defined]
    return dependency


def _login_hint(conn: HTTPConnection) -> str:
    if conn.headers.get("authorization"):
        return "the token is not valid (revoked or mistyped); `tfctl token list` shows the tokens"
    return (
        "authentication required: send `Authorization: Bearer TOKEN` "
        "(`tfctl token create NAME --role viewer` makes one) or log in at /login"
    )


def _check_csrf(conn: HTTPConnection, principal: Principal) -> None:
    if principal.session is None or conn.scope["type"] != "http":
        return
    if conn.scope.get("method", "GET") in SAFE_METHODS:
        return
    expected = csrf_token(conn.app.state.secret, principal.session)
    if not hmac.compare_digest(conn.headers.get(CSRF_HEADER, ""), expected):
        raise ApiError(403, "csrf", "missing or wrong CSRF token; reload the page and retry")


def check_origin(conn: HTTPConnection) -> None:
    """Refuse a WebSocket or SSE request that a page of another origin makes (browsers send
    `Origin`; command-line clients send none and are let through to token checking)."""
    origin = conn.headers.get("origin")
    if origin is None:
        return
    if not same_origin(origin, conn):
        raise ApiError(403, "origin", f"requests from origin {origin} are not allowed")


def same_origin(origin: str, conn: HTTPConnection) -> bool:
    parts = urlsplit(origin)
    host = conn.headers.get("host", "")
    return bool(parts.netloc) and parts.netloc.lower() == host.lower()


def app_routes(routes: Any) -> list[Any]:
    """Every route of an app (`app.routes`), included routers walked into (FastAPI keeps
    an included router as one entry whose routes are its router's)."""
    flat: list[Any] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        flat.extend(app_routes(inner.routes) if inner is not None else [route])
    return flat


def roles_of(dependant: Any) -> list[Role]:
    """The roles `require` dependencies of a route's dependant tree ask for (for the test
    that every route has one)."""
    found: list[Role] = []
    for sub in getattr(dependant, "dependencies", ()):
        role = getattr(sub.call, "required_role", None)
        if role is not None:
            found.append(role)
        found.extend(roles_of(sub))
    return found
