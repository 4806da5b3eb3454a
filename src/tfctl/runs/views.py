"""Reading runs: the view users see (`--json` shape), lists, logs, discard and cancel."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store
from tfctl.persistence.kinds import RunStatus
from tfctl.persistence.types import utcnow
from tfctl.runs.status import TERMINAL, transition

if TYPE_CHECKING:
    from sqlmodel import Session

    from tfctl.persistence.db import Store
    from tfctl.persistence.models import Run


@dataclass(frozen=True, slots=True)
class RunView:
    """A run as users see it. `to_dict()` is the documented, stable `--json` shape."""

    id: str
    workspace: str
    operation: str
    plan_mode: str
    status: str
    parent_run_id: str | None
    spec_version_id: str | None
    actor: str
    host: str
    worker: str | None
    terraform_version: str | None
    exit_code: int | None
    message: str | None
    plan_sha256: str | None
    summary: dict[str, Any] | None
    policy_results: dict[str, Any] | None
    auto_apply: bool
    halted: bool
    halt_reason: str | None
    halted_by: str | None
    experiment_id: str | None
    test_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: Run, workspace: str) -> RunView:
        fields = {name: getattr(run, name) for name in cls.__slots__ if name != "workspace"}
        return cls(workspace=workspace, **fields)

    @property
    def has_changes(self) -> bool:
        """A plan with something to apply (terraform's detailed exit code 2)."""
        return self.operation == "plan" and self.exit_code == 2

    @property
    def action(self) -> str:
        """What the run does, in a user's words: `plan`, `destroy-plan`, `refresh-plan`, or
        for the apply of such a plan `apply`, `destroy`, `refresh`."""
        return run_action(self.operation, self.plan_mode)

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or utcnow()) - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        for key in ("created_at", "started_at", "finished_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["duration_seconds"] = None if self.duration is None else round(self.duration, 3)
        data["action"] = self.action
        return data


def run_action(operation: str, plan_mode: str) -> str:
    """`destroy` for the apply of a destroy plan, `destroy-plan` for the plan itself, ..."""
    word = {"destroy": "destroy", "refresh-only": "refresh"}.get(plan_mode)
    if operation == "apply":
        return word or "apply"
    return f"{word}-plan" if word else "plan"


def view(session: Session, run: Run) -> RunView:
    workspace = store.get_workspace_by_id(session=session, workspace_id=run.workspace_id)
    return RunView.of(run, workspace.name)


def show_run(db: Store, run_id: str) -> RunView:
    with db.read() as session:
        return view(session, run_store.get_run(session=session, run_id=run_id))


def list_runs(
    db: Store, *, workspace: str | None = None, status: list[str] | None = None, limit: int = 50
) -> list[RunView]:
    """Newest first; `status` values must be run statuses."""
    for value in status or []:
        if value not in RunStatus.__members__.values():
            known = ", ".join(s.value for s in RunStatus)
            raise errors.InvalidInput(
                f"--status {value!r}: unknown status; expected one of {known}"
            )
    with db.read() as session:
        workspace_id = None
        if workspace is not None:
            workspace_id = store.get_workspace(session=session, name=workspace).id
        rows = run_store.list_runs(
            session=session, workspace_id=workspace_id, statuses=status or [], limit=limit
        )
        return [RunView.of(run, name) for run, name in rows]


def follow_logs(
    db: Store,
    run_id: str,
    *,
    follow: bool = False,
    poll_interval: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[str, str]]:
    """`(stream, line)` of a run's stored log; with `follow`, keep reading until the run
    reaches a final status (from any machine that shares the store)."""
    with db.read() as session:
        run_id = run_store.get_run(session=session, run_id=run_id).id
    seq = 0
    while True:
        with db.read() as session:
            rows = run_store.read_logs(session=session, run_id=run_id, after_seq=seq)
            finished = _finished(session, run_id)
        for row in rows:
            seq = row.seq
            yield row.stream, row.line
        if rows or not follow:
            if not follow:
                return
            continue
        if finished:
            return
        sleep(poll_interval)


def _finished(session: Session, run_id: str) -> bool:
    run = run_store.get_run(session=session, run_id=run_id)
    return RunStatus(run.status) in TERMINAL or run.status in (
        RunStatus.AWAITING_APPROVAL,
        RunStatus.NO_CHANGES,
    )


def discard(db: Store, run_id: str, *, actor: str) -> RunView:
    """Discard a plan that awaits approval; it can never be applied afterwards."""
    return _end(db, run_id, RunStatus.DISCARDED, f"discarded by {actor}")


def cancel(db: Store, run_id: str, *, actor: str) -> RunView:
    """Cancel a queued, running or awaiting run. A running terraform notices within a second
    (its process polls the store) and is interrupted gracefully."""
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
                + f" can be {to.value}"
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


def waiting_for(db: Store, views: list[RunView], *, heartbeat_timeout: float) -> dict[str, str]:
    """For each queued run in `views`, what it waits for: the run holding its workspace, an
    earlier queued run of the same workspace, or a worker."""
    from datetime import timedelta

    from tfctl.persistence.workers import live_workers

    queued = [v for v in views if v.status == RunStatus.QUEUED]
    if not queued:
        return {}
    since = utcnow() - timedelta(seconds=heartbeat_timeout)
    reasons = {}
    with db.read() as session:
        workers = live_workers(session=session, since=since)
        for run in queued:
            reasons[run.id] = _wait_reason(session, run, alive=bool(workers))
    return reasons


def _wait_reason(session: Session, run: RunView, *, alive: bool) -> str:
    workspace = store.get_workspace(session=session, name=run.workspace)
    if workspace.locked_by_run_id and workspace.locked_by_run_id != run.id:
        return f"workspace {run.workspace} (held by run {workspace.locked_by_run_id})"
    earlier = [
        r.id
        for r in run_store.runs_in_status(
            session=session, statuses=[RunStatus.QUEUED], workspace_id=workspace.id
        )
        if r.id < run.id
    ]
    if earlier:
        return f"run {earlier[0]} (queued earlier for {run.workspace})"
    return "a free worker slot" if alive else "a worker (none is alive: start `tfctl worker`)"
