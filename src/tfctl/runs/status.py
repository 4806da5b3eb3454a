"""The run state machine: the one place that says which status may follow which.

Every status change goes through `persistence.runs.transition`, a conditional UPDATE that
succeeds only from an allowed predecessor. Two processes racing to finish, cancel or halt
one run can therefore never produce an illegal sequence: the loser's update matches no row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tfctl.persistence.kinds import RunStatus
from tfctl.persistence.types import utcnow

if TYPE_CHECKING:
    from sqlmodel import Session

S = RunStatus

#: status → the statuses it may move to.
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED, S.ERRORED}),
    # A plan run ends awaiting approval or with no changes; an apply run ends applied. A drift
    # assessment ends with no changes (in sync) or drifted, or superseded when a state-changing
    # run overlapped it (it reads the state without terraform's lock; runs/drift.py).
    S.RUNNING: frozenset(
        {
            S.AWAITING_APPROVAL,
            S.NO_CHANGES,
            S.DRIFTED,
            S.SUPERSEDED,
            S.APPLIED,
            S.ERRORED,
            S.CANCELLED,
        }
    ),
    # A plan whose apply failed is spent (the state moved under it): it ends errored.
    S.AWAITING_APPROVAL: frozenset({S.APPLIED, S.DISCARDED, S.SUPERSEDED, S.CANCELLED, S.ERRORED}),
}

TERMINAL: frozenset[RunStatus] = frozenset(set(RunStatus) - set(TRANSITIONS))

#: Statuses in which a run holds or waits for its workspace.
ACTIVE: frozenset[RunStatus] = frozenset({S.QUEUED, S.RUNNING})

#: Statuses a halt stops: waiting for the workspace, running, or waiting for approval.
HALTABLE: frozenset[RunStatus] = frozenset({S.QUEUED, S.RUNNING, S.AWAITING_APPROVAL})

#: Statuses after which a run's log grows no more (a plan that awaits approval is done
#: planning; its apply is another run).
LOG_COMPLETE: frozenset[RunStatus] = TERMINAL | {S.AWAITING_APPROVAL}


def lease_cutoff(timeout: float, now: datetime | None = None) -> datetime:
    """A run's heartbeat is its lease: one whose last beat is older than this has expired
    (its process is presumed dead; the run may be declared lost). Workers count as alive by
    the same rule."""
    return (now or utcnow()) - timedelta(seconds=timeout)


def predecessors(target: RunStatus) -> frozenset[RunStatus]:
    """The statuses from which a run may move to `target`."""
    return frozenset(source for source, targets in TRANSITIONS.items() if target in targets)


def can_move(source: RunStatus, target: RunStatus) -> bool:
    return target in TRANSITIONS.get(source, frozenset())


#: Why an apply of a plan in this status is refused, and what to do instead.
NOT_APPLICABLE: dict[RunStatus, str] = {
    S.QUEUED: "it has not run yet; wait for it (`tfctl runs logs {id} --follow`)",
    S.RUNNING: "it is still planning; wait for it (`tfctl runs logs {id} --follow`)",
    S.NO_CHANGES: "it found nothing to change",
    S.DRIFTED: "it is a drift assessment, which is never applied; run `tfctl plan {workspace}` "
    "for a plan you can apply",
    S.APPLIED: "it was already applied",
    S.DISCARDED: "it was discarded; run `tfctl plan {workspace}` again",
    S.SUPERSEDED: "a newer plan of {workspace} replaced it; apply that one or plan again",
    S.ERRORED: "it failed{reason}; run `tfctl plan {workspace}` again",
    S.CANCELLED: "it was cancelled{reason}; run `tfctl plan {workspace}` again",
}


def transition(*, session: Session, run_id: str, to: RunStatus, **fields: Any) -> bool:
    """Move the run to `to` if its current status may be followed by `to` (TRANSITIONS);
    set `fields` with it. Returns False, changing nothing, when the run has moved on."""
    from tfctl.persistence.runs import set_status

    return set_status(session=session, run_id=run_id, to=to, from_=predecessors(to), **fields)
