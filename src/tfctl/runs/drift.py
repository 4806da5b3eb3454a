"""Drift assessments (DESIGN.md "Drift detection"): does what a workspace manages still match
its stack's current spec version?

An assessment is a plan run of mode `assessment`:

- a normal plan of the stack's latest spec version (not refresh-only): terraform's
  `resource_drift` lists what changed outside tfctl, its `resource_changes` what the current
  version would change (state edited or lost, a newer version pushed but not applied);
- never applied (`check_applicable` refuses it), never stored as a plan to apply, never
  superseding a pending plan; its working directory goes when it ends;
- it blocks no run: it does not hold the workspace and terraform reads the state without its
  lock (`-lock=false`), so a plan or apply started meanwhile runs as usual. It starts only
  while the workspace is idle (else it is skipped), and when a state-changing run overlapped
  its plan (an apply still running, or a new state version, by the time terraform is done),
  what it read may be half-written: it ends `superseded`, its result void;
- it ends `no_changes` (in sync) or `drifted`, with the plan's summary on the run.

A workspace's drift is its latest conclusive assessment (in sync, drifted or failed).
Workers with `--assess-every` claim due workspaces one conditional UPDATE at a time
(`persistence.drift.claim_assessment`) and queue an assessment for each; a workspace's first
time is spread over the interval by its id, so they do not all start at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence import drift as drift_store
from tfctl.persistence import runs as run_store
from tfctl.persistence import store
from tfctl.persistence.kinds import PlanMode, RunStatus
from tfctl.persistence.types import utcnow
from tfctl.runs.status import ACTIVE, transition

if TYPE_CHECKING:
    from sqlmodel import Session

    from tfctl.persistence.db import Store
    from tfctl.persistence.models import Run, Workspace
    from tfctl.runs.views import RunView

S = RunStatus
#: Assessments that say something about drift: the drift view is the newest of these.
CONCLUSIVE: frozenset[RunStatus] = frozenset({S.NO_CHANGES, S.DRIFTED, S.ERRORED})
RESULTS = {S.NO_CHANGES: "in_sync", S.DRIFTED: "drifted", S.ERRORED: "failed",
           S.CANCELLED: "failed", S.SUPERSEDED: "skipped"}  # fmt: skip
NOT_ASSESSED = "not_assessed"

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str, *, option: str = "--assess-every") -> float:
    """`90s`, `15m`, `1h`, `1h30m` or plain seconds (`600`) → seconds (at least 1)."""
    value = text.strip()
    match = _DURATION.match(value)
    seconds: float | None = None
    if value and match:
        hours, minutes, secs = match.groups()
        seconds = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)
    else:
        with contextlib.suppress(ValueError):
            seconds = float(value)
    if seconds is None or not math.isfinite(seconds) or seconds < 1:
        raise errors.InvalidInput(
            f"{option} {text!r}: expected a duration of at least 1s, such as 90s, 15m, 1h or 1h30m"
        )
    return seconds


# --- what differs --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Differences:
    """What an assessment found: resources changed outside tfctl (terraform's
    `resource_drift`), resources the current spec version would change, and root outputs
    it would change. Each resource is `{"address", "action"}`."""

    changed_outside: tuple[dict[str, str], ...] = ()
    would_change: tuple[dict[str, str], ...] = ()
    outputs: tuple[str, ...] = ()

    @classmethod
    def of(cls, summary: Mapping[str, Any] | None) -> Differences:
        summary = summary or {}
        return cls(
            changed_outside=_acting(summary.get("drift"), moves=False),
            would_change=_acting(summary.get("resources"), moves=True),
            outputs=tuple(o["name"] for o in summary.get("outputs") or ()
                          if o.get("action") != "no-op"),
        )  # fmt: skip

    def __bool__(self) -> bool:
        return bool(self.changed_outside or self.would_change or self.outputs)

    def fingerprint(self) -> str:
        """Equal for the same drift (what a notification is sent once for)."""
        parts = sorted(f"{kind}:{r['address']}:{r['action']}" for kind, items in
                       (("outside", self.changed_outside), ("change", self.would_change))
                       for r in items)  # fmt: skip
        parts += sorted(f"output:{name}" for name in self.outputs)
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def counts(self) -> dict[str, int]:
        return {"changed_outside": len(self.changed_outside),
                "would_change": len(self.would_change), "outputs": len(self.outputs)}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"changed_outside": [dict(r) for r in self.changed_outside],
                "would_change": [dict(r) for r in self.would_change],
                "outputs": list(self.outputs)}  # fmt: skip


def _acting(
    entries: Iterable[Mapping[str, Any]] | None, *, moves: bool
) -> tuple[dict[str, str], ...]:
    """The entries that do something. With `moves`, an object moved to a new address or
    imported counts (the plan would do that); a moved object alone is not drift, as
    terraform's own `has_drift` says."""

    def moved(e: Mapping[str, Any]) -> bool:
        return bool(e.get("previous_address")) and e.get("previous_address") != e["address"]

    acting = [e for e in entries or () if e.get("action") != "no-op"
              or (moves and (e.get("importing") or moved(e)))]  # fmt: skip
    return tuple(
        {"address": str(e["address"]),
         "action": str(e["action"]) if e.get("action") != "no-op" else
         ("import" if e.get("importing") else "move")}
        for e in acting
    )  # fmt: skip


def landing(summary: Mapping[str, Any], overlap: str | None) -> tuple[RunStatus, str | None]:
    """The status an assessment ends in, and its message."""
    if overlap is not None:
        return S.SUPERSEDED, f"superseded: {overlap} while it was assessed; its result is void"
    return (S.DRIFTED if Differences.of(summary) else S.NO_CHANGES), None


# --- not blocking anyone ------------------------------------------------------------------


def refuse_if_busy(session: Session, ws: Workspace) -> None:
    """`WorkspaceBusy` while a run holds `ws` or one of its runs is queued or running
    (another assessment included): an assessment starts only on an idle workspace."""
    active = run_store.runs_in_status(session=session, statuses=ACTIVE, workspace_id=ws.id)
    holder = ws.locked_by_run_id or (active[0].id if active else None)
    if holder is None:
        return
    run = run_store.get_run(session=session, run_id=holder)
    raise errors.WorkspaceBusy(
        f"workspace '{ws.name}' is busy: run {run.id} ({run.operation} {run.plan_mode}, "
        f"{run.status}); not assessed now",
        workspace=ws.name, run_id=run.id,
    )  # fmt: skip


def at_current_version(db: Store, run_id: str) -> Run:
    """The assessment, set to its stack's latest spec version now that it runs (it may have
    been queued before a newer version was pushed): drift is measured against what the stack
    says today."""
    with db.write() as session:
        run = run_store.get_run(session=session, run_id=run_id)
        ws = store.get_workspace_by_id(session=session, workspace_id=run.workspace_id)
        stack = store.get_stack_by_id(session=session, stack_id=ws.stack_id)
        latest = store.get_spec_version(session=session, stack=stack).id
        if latest != run.spec_version_id:
            run_store.update_run(session=session, run_id=run.id, spec_version_id=latest)
            session.refresh(run)
        return run


def state_mark(db: Store, workspace_id: str) -> int:
    """Taken before terraform reads the state: see `overlap`."""
    with db.read() as session:
        return drift_store.state_version_count(session=session, workspace_id=workspace_id)


def overlap(db: Store, workspace_id: str, mark: int) -> str | None:
    """What changed the state while the assessment read it, if anything: an apply of the
    workspace still running, or a state version recorded since `mark` was taken (an apply
    records one before it ends). None: the state it read was nobody's work in progress."""
    with db.read() as session:
        running = drift_store.applies_running(session=session, workspace_id=workspace_id)
        count = drift_store.state_version_count(session=session, workspace_id=workspace_id)
    if running:
        return f"apply {running[0]} was running"
    if count != mark:
        return "a run changed the state"
    return None


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assessment:
    """One workspace's outcome of `tfctl drift check`; `to_dict()` is its `--json` shape.
    `result`: in_sync, drifted, failed, skipped (busy, opted out, never applied, or void),
    or queued (`--queue`)."""

    workspace: str
    result: str
    run_id: str | None = None
    message: str | None = None
    differences: Differences = field(default_factory=Differences)

    @classmethod
    def of(cls, run: RunView) -> Assessment:
        result = RESULTS.get(RunStatus(run.status), "queued")
        return cls(run.workspace, result, run.id, run.message, Differences.of(run.summary))

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "result": self.result, "run_id": self.run_id,
                "message": self.message, **self.differences.to_dict(),
                "counts": self.differences.counts()}  # fmt: skip


def exit_code(results: Iterable[Assessment]) -> int:
    """0 all in sync (or skipped, queued), 2 some drifted, 1 some failed (it wins)."""
    found = {a.result for a in results}
    return 1 if "failed" in found else 2 if "drifted" in found else 0


@dataclass(frozen=True, slots=True)
class DriftView:
    """A workspace's drift, from its latest conclusive assessment; `to_dict()` is the
    documented `--json` shape (`tfctl drift status`, and `drift` in `workspace show`)."""

    workspace: str
    assess: bool
    result: str
    run_id: str | None
    assessed_at: datetime | None
    message: str | None
    differences: Differences
    next_assessment_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        when = self.assessed_at.isoformat() if self.assessed_at else None
        due = self.next_assessment_at.isoformat() if self.next_assessment_at else None
        return {"workspace": self.workspace, "assess": self.assess, "result": self.result,
                "run_id": self.run_id, "assessed_at": when, "message": self.message,
                **self.differences.to_dict(), "counts": self.differences.counts(),
                "next_assessment_at": due}  # fmt: skip


def drift_views(db: Store, names: Iterable[str] | None = None) -> list[DriftView]:
    """The drift of each workspace (of `names`, which must exist; else of all), by name."""
    with db.read() as session:
        if names is not None:
            rows = sorted((store.get_workspace(session=session, name=n) for n in set(names)),
                          key=lambda ws: ws.name)  # fmt: skip
        else:
            rows = [ws for ws, _ in store.list_workspaces(session=session)]
        drift = latest_drift(session, rows, every=names is None)
        return [drift[ws.id] for ws in rows]


def latest_drift(
    session: Session, workspaces: Iterable[Workspace], *, every: bool = False
) -> dict[str, DriftView]:
    """The drift of each of `workspaces`, by workspace id (`every`: they are all there are,
    so no id list is sent)."""
    rows = list(workspaces)
    ids = None if every else [ws.id for ws in rows]
    latest = drift_store.latest_assessments(session=session, statuses=CONCLUSIVE,
                                            workspace_ids=ids)  # fmt: skip
    return {ws.id: drift_view(ws, latest.get(ws.id)) for ws in rows}


def drift_view(ws: Workspace, run: Run | None) -> DriftView:
    if run is None:
        return DriftView(ws.name, ws.assess, NOT_ASSESSED, None, None, None, Differences(),
                         ws.next_assessment_at)  # fmt: skip
    return DriftView(ws.name, ws.assess, RESULTS[RunStatus(run.status)], run.id,
                     run.finished_at, run.message, Differences.of(run.summary),
                     ws.next_assessment_at)  # fmt: skip


def targets(db: Store, names: Iterable[str] | None) -> tuple[list[str], list[Assessment]]:
    """The workspaces `drift check` assesses, and those it skips. Named ones must exist
    (else `WorkspaceNotFound`, before anything runs) and are all assessed; without names,
    every workspace except those opted out or never applied."""
    with db.read() as session:
        if names is not None:
            return [store.get_workspace(session=session, name=n).name for n in names], []
        chosen, skipped = [], []
        for ws, _ in store.list_workspaces(session=session):
            if not ws.assess:
                why = f"assessments are off for it (`tfctl workspace update {ws.name} --assess`)"
                skipped.append(Assessment(ws.name, "skipped", message=why))
            elif not drift_store.has_state(session=session, workspace_id=ws.id):
                skipped.append(Assessment(ws.name, "skipped", message="nothing applied yet"))
            else:
                chosen.append(ws.name)
        return chosen, skipped


# --- the schedule ---------------------------------------------------------------------------


def first_offset(workspace_id: str, every: float) -> timedelta:
    """Where in the interval a workspace's assessments fall: fixed by its id, so many
    workspaces spread over the interval instead of starting together."""
    digest = int.from_bytes(hashlib.sha256(workspace_id.encode()).digest()[:8], "big")
    return timedelta(seconds=digest % max(1, int(every * 1000)) / 1000)


def claim_due(db: Store, *, every: float, limit: int, now: datetime | None = None) -> list[str]:
    """Claim up to `limit` workspaces whose assessment is due and move each one's next
    assessment an interval on; returns their names. Concurrent callers (other workers)
    never claim the same workspace for the same interval: the store decides."""
    now = now or utcnow()
    claimed = []
    with db.write() as session:
        for ws in drift_store.unscheduled(session=session):
            at = now + first_offset(ws.id, every)
            drift_store.schedule_first(session=session, workspace_id=ws.id, at=at)
    with db.write() as session:
        due = drift_store.due_workspaces(session=session, now=now, busy=ACTIVE, limit=limit)
        next_at = now + timedelta(seconds=every)
        for ws in due:
            if drift_store.claim_assessment(session=session, workspace_id=ws.id, now=now,
                                            next_at=next_at):  # fmt: skip
                claimed.append(ws.name)
    return claimed


def cancel_queued(db: Store, *, actor: str, reason: str) -> list[str]:
    """Cancel the assessments `actor` (a stopping worker) queued that nobody claimed yet, so
    none is left behind holding up its workspace's queue."""
    with db.write() as session:
        queued = run_store.runs_in_status(session=session, statuses=[S.QUEUED])
        return [
            run.id
            for run in queued
            if run.plan_mode == PlanMode.ASSESSMENT and run.actor == actor
            and transition(session=session, run_id=run.id, to=S.CANCELLED, message=reason,
                           finished_at=utcnow())
        ]  # fmt: skip
