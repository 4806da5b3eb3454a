"""API tokens and roles: create (the secret shown once), list, revoke, verify.

Only a token's SHA-256 is stored; verifying hashes the presented secret, finds the row by
that hash and compares the two digests in constant time. Imports no web framework: the
`tfctl token` commands use this module without loading the server stack.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tfctl import errors

if TYPE_CHECKING:
    from tfctl.persistence.db import Store
    from tfctl.persistence.models import ApiToken

TOKEN_PREFIX = "tfctl_"  # noqa: S105 - a prefix, not a secret
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,62}$")
#: The name of the admin token `tfctl serve` creates when there is none.
FIRST_ADMIN = "admin"


class Role(StrEnum):
    """What a token may do (DESIGN.md "Server"): each role can do all the one before can."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


ROLES: tuple[str, ...] = tuple(role.value for role in Role)


@dataclass(frozen=True, slots=True)
class TokenView:
    """A token as users see it (never its secret); `to_dict()` is the `--json` shape."""

    id: str
    name: str
    role: Role
    created_by: str
    created_at: str

    @classmethod
    def of(cls, row: ApiToken) -> TokenView:
        return cls(row.id, row.name, Role(row.role), row.created_by, row.created_at.isoformat())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.value,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise errors.InvalidInput(
            f"--role {value!r}: unknown role; expected one of {', '.join(ROLES)}"
        ) from None


def create_token(db: Store, name: str, *, role: str, created_by: str) -> tuple[TokenView, str]:
    """Store a new token `name` with `role`; returns it and its secret (shown only now)."""
    from tfctl.persistence import tokens as token_store

    if not TOKEN_NAME.match(name):
        raise errors.InvalidInput(
            f"token name {name!r}: use 1-63 letters, digits, '_', '.', '@', ':' or '-', "
            "starting with a letter or digit"
        )
    checked = parse_role(role)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.write() as session:
        row = token_store.create_token(
            session=session, name=name, role=checked.value, sha256=digest(secret),
            created_by=created_by,
        )  # fmt: skip
        return TokenView.of(row), secret


def list_tokens(db: Store) -> list[TokenView]:
    from tfctl.persistence import tokens as token_store

    with db.read() as session:
        return [TokenView.of(row) for row in token_store.list_tokens(session=session)]


def revoke_token(db: Store, name: str) -> TokenView:
    """Delete token `name`: requests and browser sessions using it are refused from now on."""
    from tfctl.persistence import tokens as token_store

    with db.write() as session:
        row = token_store.find_token(session=session, name=name)
        if row is None:
            raise errors.NotFound(f"no token named '{name}'; `tfctl token list` shows the tokens")
        view = TokenView.of(row)
        token_store.delete_token(session=session, token=row)
        return view


def verify_token(db: Store, secret: str) -> TokenView | None:
    """The token whose secret is `secret`, or None."""
    from tfctl.persistence import tokens as token_store

    if not secret.startswith(TOKEN_PREFIX):
        return None
    presented = digest(secret)
    with db.read() as session:
        row = token_store.find_token_by_hash(session=session, sha256=presented)
        if row is None or not hmac.compare_digest(row.sha256, presented):
            return None
        return TokenView.of(row)


def token_by_id(db: Store, token_id: str) -> TokenView | None:
    """The token with id `token_id` if it still exists (a browser session names its token)."""
    from tfctl.persistence import tokens as token_store

    with db.read() as session:
        row = token_store.get_token_by_id(session=session, token_id=token_id)
        return None if row is None else TokenView.of(row)


def ensure_first_admin(db: Store, *, created_by: str) -> tuple[TokenView, str] | None:
    """When no token exists at all, create the admin token `admin` and return it with its
    secret (for the one-time login URL); None when there are tokens already."""
    from tfctl.persistence import tokens as token_store

    with db.read() as session:
        if token_store.count_tokens(session=session):
            return None
    try:
        return create_token(db, FIRST_ADMIN, role=Role.ADMIN.value, created_by=created_by)
    except errors.AlreadyExists:  # another server started at the same moment made it
        return None
