"""Stopping runs: the incident kill switch (halt), cancel, discard.

Halt stops every unfinished run of a workspace, or of all of them.

`halt` only writes the job store. A running run is stopped by its own process (the CLI that
started it, or the worker that claimed it): its `RunGuard` sees the status `cancelled` within
a poll interval and the executor interrupts terraform's whole process group (SIGINT, then
SIGKILL after a grace period). That process then records the state terraform wrote, flushes
the log and sets the run's finish time, so nothing of the interrupted run is lost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store
from tfctl.persistence.kinds import RunStatus
from tfctl.persistence.types import utcnow
from tfctl.runs.status import HALTABLE, transition
from tfctl.runs.views import RunView, show_run

if TYPE_CHECKING:
    from sqlmodel import Session

    from tfctl.persistence.db import Store
    from tfctl.persistence.models import Run


@dataclass(frozen=True, slots=True)
class HaltedRun:
    """One run a halt stopped, as it was just before: `previous_status` is what it was."""

    id: str
    workspace: str
    operation: str
    plan_mode: str
    previous_status: str
    actor: str
    host: str


@dataclass(frozen=True, slots=True)
class HaltReport:
    """What a halt did. `to_dict()` is the documented, stable `tfctl halt --json` shape."""

    halted: tuple[HaltedRun, ...]
    workspace: str | None
    reason: str | None
    halted_by: str
    at: datetime

    @property
    def still_stopping(self) -> tuple[HaltedRun, ...]:
        """The runs that were running: their processes are interrupting terraform."""
        return tuple(r for r in self.halted if r.previous_status == RunStatus.RUNNING)

    def to_dict(self) -> dict[str, Any]:
        return {
            "halted": [asdict(run) for run in self.halted],
            "workspace": self.workspace,
            "reason": self.reason,
            "halted_by": self.halted_by,
            "at": self.at.isoformat(),
        }


def halt(
    db: Store, *, actor: str, workspace: str | None = None, reason: str | None = None
) -> HaltReport:
    """Mark every queued, running and awaiting_approval run of `workspace` (default: of every
    workspace) `cancelled` and `halted`, in one write transaction, and report them.

    Only runs still in one of those statuses when the update reaches them are changed, so a
    run that finishes concurrently keeps its outcome and is not reported. A halted plan can
    never be applied. Halting again is harmless: it finds nothing to halt. Raises
    `WorkspaceNotFound` for an unknown `workspace`.
    """
    reason = reason.strip() if reason and reason.strip() else None
    at = utcnow()
    with db.write() as session:
        workspace_id = None
        if workspace is not None:
            workspace_id = store.get_workspace(session=session, name=workspace).id
        candidates = run_store.runs_in_status(
            session=session, statuses=HALTABLE, workspace_id=workspace_id
        )
        # Described before updating: the ORM refreshes a loaded row's status with its update.
        seen = [_describe(session, run) for run in candidates]
        stopped = [run for run in seen if _stop(session, run, actor=actor, reason=reason, at=at)]
    return HaltReport(tuple(stopped), workspace, reason, actor, at)


def halt_message(actor: str, reason: str | None) -> str:
    """The message a halted run carries: "halted by ACTOR: REASON"."""
    return f"halted by {actor}: {reason}" if reason else f"halted by {actor}"


def _stop(
    session: Session, run: HaltedRun, *, actor: str, reason: str | None, at: datetime
) -> bool:
    """Cancel one run through the state machine; False if it had already moved on."""
    # The conditional update, not the earlier read, decides: a run that ended meanwhile is
    # left alone. (A queued run claimed meanwhile gets a finish time its process overwrites.)
    fields: dict[str, Any] = {
        "halted": True,
        "halt_reason": reason,
        "halted_by": actor,
        "message": halt_message(actor, reason),
    }
    # A running run's process is still stopping terraform: it sets the finish time (and the
    # exit code) itself when terraform has exited and the state is recorded.
    if run.previous_status != RunStatus.RUNNING:
        fields["finished_at"] = at
    return transition(session=session, run_id=run.id, to=RunStatus.CANCELLED, **fields)


def _describe(session: Session, run: Run) -> HaltedRun:
    name = store.get_workspace_by_id(session=session, workspace_id=run.workspace_id).name
    return HaltedRun(
        id=run.id,
        workspace=name,
        operation=run.operation,
        plan_mode=run.plan_mode,
        previous_status=run.status,
        actor=run.actor,
        host=run.host,
    )


def discard(db: Store, run_id: str, *, actor: str) -> RunView:
    """Discard a plan that awaits approval; it can never be applied afterwards."""
    return _end(db, run_id, RunStatus.DISCARDED, f"discarded by {actor}")


def cancel(db: Store, run_id: str, *, actor: str) -> RunView:
    """Cancel a queued, running or awaiting run. A running terraform notices within a poll
    interval (its process polls the store) and is interrupted gracefully."""
    return _end(db, run_id, RunStatus.CANCELLED, f"cancelled by {actor}")


def _end(db: Store, run_id: str, to: RunStatus, message: str) -> RunView:
    with db.write() as session:
        run = run_store.get_run(session=session, run_id=run_id)
        moved = transition(
            session=session, run_id=run.id, to=to, message=message, finished_at=utcnow()
        )
        if not moved:
            raise errors.RunRefused(
                f"run {run.id} is {run.status}; only "
                + ("awaiting plans" if to is RunStatus.DISCARDED else "unfinished runs")
                + f" can be {to.value}",
                run_id=run.id,
            )
    return show_run(db, run.id)


def cancel_worker_runs(db: Store, *, worker: str, reason: str) -> list[str]:
    """Cancel the runs `worker` is executing (it is stopping); their processes notice and
    interrupt terraform gracefully."""
    with db.write() as session:
        running = run_store.runs_in_status(session=session, statuses=[RunStatus.RUNNING])
        cancelled = [
            run.id
            for run in running
            if run.worker == worker
            and transition(session=session, run_id=run.id, to=RunStatus.CANCELLED, message=reason)
        ]
    return cancelled
