"""Keyword-only store functions. They read and write rows; the rules live in the services.

Lookups by name raise the matching `NotFound` error; `find_*` variants return None instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from tfctl import errors
from tfctl.persistence.ids import new_id
from tfctl.persistence.models import (
    PolicyAttachment,
    Run,
    RunArtifact,
    RunLog,
    SpecVersion,
    Stack,
    StateVersion,
    Workspace,
)
from tfctl.persistence.types import utcnow


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether `exc` is a UNIQUE constraint violation (not a foreign key or NOT NULL one)."""
    sqlstate = getattr(exc.orig, "sqlstate", None)  # psycopg
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(exc.orig)  # sqlite3


def find_stack(*, session: Session, name: str, for_update: bool = False) -> Stack | None:
    """The stack named `name`; `for_update` locks its row (PostgreSQL) until commit."""
    query = select(Stack).where(Stack.name == name)
    return session.exec(query.with_for_update() if for_update else query).first()


def get_stack(*, session: Session, name: str) -> Stack:
    stack = find_stack(session=session, name=name)
    if stack is None:
        raise errors.StackNotFound(
            f"no stack named '{name}'; `tfctl stack list` shows the stacks, "
            "`tfctl stack push FILE` adds one"
        )
    return stack


def create_stack(*, session: Session, name: str, kind: str) -> Stack:
    stack = Stack(id=new_id("stk"), name=name, kind=kind)
    session.add(stack)
    session.flush()
    return stack


def list_stacks(*, session: Session) -> list[tuple[Stack, SpecVersion | None]]:
    """Every stack with its latest version, by name."""
    latest = (
        select(SpecVersion.stack_id, func.max(SpecVersion.version).label("version"))
        .group_by(col(SpecVersion.stack_id))
        .subquery()
    )
    query = (
        select(Stack, SpecVersion)
        .outerjoin(latest, latest.c.stack_id == Stack.id)
        .outerjoin(
            SpecVersion,
            (col(SpecVersion.stack_id) == Stack.id)
            & (col(SpecVersion.version) == latest.c.version),
        )
        .order_by(col(Stack.name))
    )
    return [(stack, version) for stack, version in session.exec(query).all()]


def latest_spec_version(*, session: Session, stack: Stack) -> SpecVersion | None:
    query = (
        select(SpecVersion)
        .where(SpecVersion.stack_id == stack.id)
        .order_by(col(SpecVersion.version).desc())
        .limit(1)
    )
    return session.exec(query).first()


def get_spec_version(*, session: Session, stack: Stack, version: int | None = None) -> SpecVersion:
    """Version `version` of `stack`, or its latest when `version` is None."""
    if version is None:
        found = latest_spec_version(session=session, stack=stack)
    else:
        query = select(SpecVersion).where(
            SpecVersion.stack_id == stack.id, SpecVersion.version == version
        )
        found = session.exec(query).first()
    if found is None:
        raise errors.SpecVersionNotFound(
            f"stack '{stack.name}' has no version {version}; "
            f"`tfctl stack show {stack.name}` shows the latest"
        )
    return found


def list_spec_versions(*, session: Session, stack: Stack) -> list[SpecVersion]:
    query = (
        select(SpecVersion)
        .where(SpecVersion.stack_id == stack.id)
        .order_by(col(SpecVersion.version))
    )
    return list(session.exec(query).all())


def create_spec_version(
    *,
    session: Session,
    stack: Stack,
    version: int,
    spec_hash: str,
    canonical_json: str,
    author: str,
    source: str | None,
) -> SpecVersion:
    row = SpecVersion(
        id=new_id("ver"),
        stack_id=stack.id,
        version=version,
        spec_hash=spec_hash,
        canonical_json=canonical_json,
        author=author,
        source=source,
    )
    stack.updated_at = row.created_at = utcnow()
    session.add_all([row, stack])
    session.flush()
    return row


def find_workspace(*, session: Session, name: str, for_update: bool = False) -> Workspace | None:
    """The workspace named `name`; `for_update` locks its row (PostgreSQL) until commit, so
    no run can be inserted for it (the foreign key check waits) before this transaction ends."""
    query = select(Workspace).where(Workspace.name == name)
    return session.exec(query.with_for_update() if for_update else query).first()


def get_workspace(*, session: Session, name: str, for_update: bool = False) -> Workspace:
    workspace = find_workspace(session=session, name=name, for_update=for_update)
    if workspace is None:
        raise errors.WorkspaceNotFound(
            f"no workspace named '{name}'; `tfctl workspace list` shows the workspaces, "
            "`tfctl workspace create NAME --stack S` adds one"
        )
    return workspace


def create_workspace(
    *,
    session: Session,
    name: str,
    stack: Stack,
    backend: str,
    backend_config: dict[str, Any],
    variables: dict[str, Any],
) -> Workspace:
    """Insert workspace `name`. `AlreadyExists` when the name is taken, also when another
    transaction took it after this one looked (the unique index decides the race)."""
    if find_workspace(session=session, name=name) is not None:
        raise _workspace_exists(name)
    workspace = Workspace(
        id=new_id("ws"),
        name=name,
        stack_id=stack.id,
        backend=backend,
        backend_config=backend_config,
        variables=variables,
    )
    session.add(workspace)
    try:
        session.flush()
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise _workspace_exists(name) from exc
        raise
    return workspace


def _workspace_exists(name: str) -> errors.AlreadyExists:
    return errors.AlreadyExists(
        f"workspace '{name}' already exists; `tfctl workspace show {name}` shows it"
    )


def update_workspace(
    *,
    session: Session,
    workspace: Workspace,
    backend: str,
    backend_config: dict[str, Any],
    variables: dict[str, Any],
) -> Workspace:
    workspace.backend = backend
    workspace.backend_config = backend_config
    workspace.variables = variables
    workspace.updated_at = utcnow()
    session.add(workspace)
    session.flush()
    return workspace


def delete_workspace(*, session: Session, workspace: Workspace) -> dict[str, int]:
    """Delete the workspace and every row that points at it: its runs with their logs and
    plan artifacts, its state versions and its policy attachments. Returns how many of
    each went: `runs`, `run_logs`, `run_artifacts`, `state_versions`, `policy_attachments`."""
    runs = select(Run.id).where(Run.workspace_id == workspace.id).scalar_subquery()
    statements = {
        "run_logs": delete(RunLog).where(col(RunLog.run_id).in_(runs)),
        "run_artifacts": delete(RunArtifact).where(col(RunArtifact.run_id).in_(runs)),
        "state_versions": delete(StateVersion).where(
            col(StateVersion.workspace_id) == workspace.id
        ),
        "runs": delete(Run).where(col(Run.workspace_id) == workspace.id),
        "policy_attachments": delete(PolicyAttachment).where(
            col(PolicyAttachment.workspace_id) == workspace.id
        ),
    }
    counts = {
        table: int(session.exec(statement).rowcount) for table, statement in statements.items()
    }
    session.exec(delete(Workspace).where(col(Workspace.id) == workspace.id))
    return {table: counts[table] for table in sorted(counts)}


def workspace_run_ids(*, session: Session, workspace_id: str) -> list[str]:
    return list(session.exec(select(Run.id).where(Run.workspace_id == workspace_id)).all())


def list_workspaces(*, session: Session) -> list[tuple[Workspace, Stack]]:
    query = (
        select(Workspace, Stack)
        .join(Stack, col(Stack.id) == Workspace.stack_id)
        .order_by(col(Workspace.name))
    )
    return [(workspace, stack) for workspace, stack in session.exec(query).all()]


def get_stack_by_id(*, session: Session, stack_id: str) -> Stack:
    stack = session.get(Stack, stack_id)
    if stack is None:  # only possible if the store was edited by hand
        raise errors.StackNotFound(f"no stack with id '{stack_id}'")
    return stack


def get_workspace_by_id(*, session: Session, workspace_id: str) -> Workspace:
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:  # only possible if the store was edited by hand
        raise errors.WorkspaceNotFound(f"no workspace with id '{workspace_id}'")
    return workspace


def get_spec_version_by_id(*, session: Session, version_id: str) -> SpecVersion:
    row = session.get(SpecVersion, version_id)
    if row is None:  # only possible if the store was edited by hand
        raise errors.SpecVersionNotFound(f"no spec version with id '{version_id}'")
    return row
