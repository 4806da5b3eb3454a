"""Keyword-only store functions for drift assessments: the schedule kept on each workspace,
and the assessments (plan runs of mode `assessment`) read back per workspace.

Claiming a workspace's next assessment is one conditional UPDATE of its
`next_assessment_at`, so however many workers schedule, one of them claims a due workspace
per interval: the others' UPDATE matches no row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from tfctl.persistence.kinds import PlanMode, RunStatus
from tfctl.persistence.models import Run, StateVersion, Workspace


def unscheduled(*, session: Session) -> list[Workspace]:
    """Workspaces that take part in scheduled assessments but were never scheduled."""
    query = select(Workspace).where(
        col(Workspace.assess).is_(True), col(Workspace.next_assessment_at).is_(None)
    )
    return list(session.exec(query.order_by(col(Workspace.id))).all())


def schedule_first(*, session: Session, workspace_id: str, at: datetime) -> None:
    """Set a never-scheduled workspace's first assessment time (a no-op once it has one)."""
    statement = (
        update(Workspace)
        .where(col(Workspace.id) == workspace_id, col(Workspace.next_assessment_at).is_(None))
        .values(next_assessment_at=at)
    )
    session.exec(statement)


def due_workspaces(
    *, session: Session, now: datetime, busy: Iterable[RunStatus], limit: int
) -> list[Workspace]:
    """Up to `limit` workspaces whose assessment is due at `now`, longest overdue first:
    opted in, applied at least once (a state version), free, with no run in a `busy` status."""
    active = select(Run.id).where(
        Run.workspace_id == Workspace.id, col(Run.status).in_([s.value for s in busy])
    )
    applied = select(StateVersion.id).where(StateVersion.workspace_id == Workspace.id)
    query = (
        select(Workspace)
        .where(col(Workspace.assess).is_(True), col(Workspace.next_assessment_at) <= now)
        .where(col(Workspace.locked_by_run_id).is_(None), ~active.exists(), applied.exists())
        .order_by(col(Workspace.next_assessment_at), col(Workspace.id))
        .limit(limit)
    )
    return list(session.exec(query).all())


def claim_assessment(
    *, session: Session, workspace_id: str, now: datetime, next_at: datetime
) -> bool:
    """Move a due workspace's next assessment to `next_at`; True for the one caller whose
    UPDATE found it still due (every other concurrent caller gets False)."""
    statement = (
        update(Workspace)
        .where(col(Workspace.id) == workspace_id, col(Workspace.assess).is_(True))
        .where(col(Workspace.next_assessment_at) <= now)
        .values(next_assessment_at=next_at)
    )
    return bool(session.exec(statement).rowcount)


def set_assess(*, session: Session, workspace: Workspace, assess: bool) -> Workspace:
    workspace.assess = assess
    session.add(workspace)
    session.flush()
    return workspace


def has_state(*, session: Session, workspace_id: str) -> bool:
    """Whether a state version was ever recorded for the workspace (it was applied)."""
    query = select(StateVersion.id).where(StateVersion.workspace_id == workspace_id).limit(1)
    return session.exec(query).first() is not None


def latest_assessments(
    *, session: Session, statuses: Iterable[RunStatus], workspace_ids: Iterable[str] | None = None
) -> dict[str, Run]:
    """Each workspace's (of `workspace_ids`, else every one's) newest assessment in one of
    `statuses`, by workspace id."""
    rank = func.row_number().over(
        partition_by=col(Run.workspace_id),
        order_by=(col(Run.created_at).desc(), col(Run.id).desc()),
    )
    conditions = [
        col(Run.plan_mode) == PlanMode.ASSESSMENT.value,
        col(Run.status).in_([s.value for s in statuses]),
    ]
    if workspace_ids is not None:
        conditions.append(col(Run.workspace_id).in_(list(workspace_ids)))
    ranked = select(col(Run.id).label("run_id"), rank.label("rank")).where(*conditions).subquery()
    query = select(Run).join(ranked, ranked.c.run_id == Run.id).where(ranked.c.rank == 1)
    return {run.workspace_id: run for run in session.exec(query).all()}


def previous_assessment(*, session: Session, run: Run, statuses: Iterable[RunStatus]) -> Run | None:
    """The workspace's newest assessment before `run` in one of `statuses`."""
    query = (
        select(Run)
        .where(Run.workspace_id == run.workspace_id, Run.id != run.id)
        .where(col(Run.plan_mode) == PlanMode.ASSESSMENT.value)
        .where(col(Run.status).in_([s.value for s in statuses]))
        .where(col(Run.created_at) <= run.created_at)
        .order_by(col(Run.created_at).desc(), col(Run.id).desc())
        .limit(1)
    )
    return session.exec(query).first()


def applies_running(*, session: Session, workspace_id: str) -> list[str]:
    """Ids of the workspace's apply runs that are running now (they may be writing state)."""
    query = select(Run.id).where(
        Run.workspace_id == workspace_id,
        col(Run.operation) == "apply",
        col(Run.status) == RunStatus.RUNNING.value,
    )
    return list(session.exec(query).all())


def state_version_count(*, session: Session, workspace_id: str) -> int:
    """How many state versions the workspace has: a new one means an apply wrote state."""
    query = select(func.count()).select_from(StateVersion)
    return int(session.exec(query.where(StateVersion.workspace_id == workspace_id)).one())
