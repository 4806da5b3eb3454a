"""Keyword-only store functions for API tokens. The rules (roles, hashing, comparing) live in
`tfctl.server.tokens`."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from tfctl import errors
from tfctl.persistence.ids import new_id
from tfctl.persistence.models import ApiToken
from tfctl.persistence.store import is_unique_violation


def create_token(
    *, session: Session, name: str, role: str, sha256: str, created_by: str
) -> ApiToken:
    """Insert a token. `AlreadyExists` when a token of that name exists, also when another
    transaction created it after this one looked (the unique constraint decides)."""
    row = ApiToken(id=new_id("tok"), name=name, role=role, sha256=sha256, created_by=created_by)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise errors.AlreadyExists(
            f"a token named '{name}' already exists; `tfctl token revoke {name}` first, "
            "or choose another name"
        ) from exc
    return row


def find_token_by_hash(*, session: Session, sha256: str) -> ApiToken | None:
    return session.exec(select(ApiToken).where(ApiToken.sha256 == sha256)).first()


def find_token(*, session: Session, name: str) -> ApiToken | None:
    return session.exec(select(ApiToken).where(ApiToken.name == name)).first()


def get_token_by_id(*, session: Session, token_id: str) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def list_tokens(*, session: Session) -> list[ApiToken]:
    """Every token, oldest first."""
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id))).all())


def count_tokens(*, session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(ApiToken)).one())


def delete_token(*, session: Session, token: ApiToken) -> None:
    session.delete(token)
    session.flush()
