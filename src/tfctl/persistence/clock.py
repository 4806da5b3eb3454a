"""The job store's own clock, for leases.

A run's heartbeat is its lease, and whether a lease expired must not depend on which
machine asks: workers on hosts whose clocks disagree would otherwise declare each other's
runs lost too early. So heartbeats are stamped, and expiry is judged, by the store's clock:
PostgreSQL's `clock_timestamp()` (the time of the call, not `now()`, which is the start of
the transaction: a claim whose transaction began before the previous run's finish
committed would otherwise record a start before that finish), and for SQLite, which has no
server, this host's clock — the only clock every process sharing a SQLite file has.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tfctl.persistence.types import utcnow

if TYPE_CHECKING:
    from sqlmodel import Session


def store_now(session: Session) -> datetime:
    """The store's current time, as an aware UTC datetime."""
    if session.get_bind().dialect.name != "postgresql":
        return utcnow()
    from sqlalchemy import func, select

    now: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
    return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
