"""Keyword-only store functions for policy attachments. The rules (levels, hashing, what
blocks an apply) live in `tfctl.policy`."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from tfctl import errors
from tfctl.persistence.ids import new_id
from tfctl.persistence.models import PolicyAttachment, Workspace
from tfctl.persistence.store import is_unique_violation


def create_attachment(
    *,
    session: Session,
    workspace_id: str,
    source: str,
    kind: str,
    level: str,
    sha256: str,
    actor: str,
    namespaces: list[str] | None = None,
    data_sources: list[str] | None = None,
    data_sha256: str | None = None,
) -> PolicyAttachment:
    """Insert an attachment. `AlreadyExists` when the policy is attached to the workspace
    already, also when another transaction attached it after this one looked (the unique
    constraint decides the race; a savepoint keeps this transaction usable to say who won)."""
    row = PolicyAttachment(
        id=new_id("pol"),
        workspace_id=workspace_id,
        source=source,
        kind=kind,
        level=level,
        sha256=sha256,
        actor=actor,
        namespaces=namespaces,
        data_sources=data_sources,
        data_sha256=data_sha256,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise _already_attached(session, workspace_id, source) from exc
    return row


def _already_attached(session: Session, workspace_id: str, source: str) -> errors.AlreadyExists:
    found = find_attachment(session=session, workspace_id=workspace_id, source=source)
    workspace = session.get(Workspace, workspace_id)
    name = workspace.name if workspace is not None else workspace_id
    if found is None:  # detached again in the meantime
        return errors.AlreadyExists(f"policy {source} was attached to workspace '{name}' "
                                    "at the same time by another command; retry")  # fmt: skip
    return errors.AlreadyExists(
        f"policy {source} is already attached to workspace '{name}' as "
        f"{found.id} ({found.level}); `tfctl policy detach {found.id}` first"
    )


def find_attachment(*, session: Session, workspace_id: str, source: str) -> PolicyAttachment | None:
    query = select(PolicyAttachment).where(
        PolicyAttachment.workspace_id == workspace_id, PolicyAttachment.source == source
    )
    return session.exec(query).first()


def get_attachment(*, session: Session, attachment_id: str) -> PolicyAttachment:
    """The attachment `attachment_id`, or the one whose id starts with it (≥ 6 characters)."""
    row = session.get(PolicyAttachment, attachment_id)
    if row is not None:
        return row
    if len(attachment_id) >= 6:
        query = select(PolicyAttachment).where(col(PolicyAttachment.id).startswith(attachment_id))
        matches = session.exec(query.limit(2)).all()
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise errors.NotFound(
                f"policy attachment id '{attachment_id}' is ambiguous; give more characters"
            )
    raise errors.NotFound(
        f"no policy attachment '{attachment_id}'; `tfctl policy list` shows the attachments"
    )


def list_attachments(
    *, session: Session, workspace_id: str | None = None
) -> list[tuple[PolicyAttachment, str]]:
    """Attachments with their workspace's name, by workspace, then oldest first."""
    query = select(PolicyAttachment, Workspace.name).join(
        Workspace, col(Workspace.id) == PolicyAttachment.workspace_id
    )
    if workspace_id is not None:
        query = query.where(PolicyAttachment.workspace_id == workspace_id)
    query = query.order_by(col(Workspace.name), col(PolicyAttachment.id))
    return [(row, name) for row, name in session.exec(query).all()]


def delete_attachment(*, session: Session, attachment: PolicyAttachment) -> None:
    session.delete(attachment)
    session.flush()
