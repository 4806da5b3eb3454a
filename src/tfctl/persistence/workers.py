"""Keyword-only store functions for worker processes and their liveness."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from tfctl.persistence.ids import new_id
from tfctl.persistence.models import Run, Worker
from tfctl.persistence.types import utcnow


def register_worker(*, session: Session, **fields: Any) -> Worker:
    now = utcnow()
    worker = Worker(id=new_id("wkr"), started_at=now, heartbeat_at=now, **fields)
    session.add(worker)
    session.flush()
    return worker


def worker_heartbeat(*, session: Session, worker_id: str, runs_done: int) -> None:
    statement = (
        update(Worker)
        .where(col(Worker.id) == worker_id)
        .values(heartbeat_at=utcnow(), runs_done=runs_done, status="running")
    )
    session.exec(statement)


def stop_worker(*, session: Session, worker_id: str, runs_done: int) -> None:
    statement = (
        update(Worker)
        .where(col(Worker.id) == worker_id)
        .values(status="stopped", stopped_at=utcnow(), runs_done=runs_done)
    )
    session.exec(statement)


def live_workers(*, session: Session, since: datetime) -> list[Worker]:
    """Workers that heartbeated after `since` and have not stopped."""
    query = (
        select(Worker)
        .where(col(Worker.status) == "running", col(Worker.heartbeat_at) >= since)
        .order_by(col(Worker.started_at))
    )
    return list(session.exec(query).all())


def current_runs(*, session: Session, worker_names: list[str]) -> dict[str, list[str]]:
    """The ids of the running runs of each worker name."""
    query = select(Run.worker, Run.id).where(
        col(Run.worker).in_(worker_names), col(Run.status) == "running"
    )
    found: dict[str, list[str]] = {}
    for worker, run_id in session.exec(query).all():
        found.setdefault(worker or "", []).append(run_id)
    return found
