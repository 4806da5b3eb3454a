"""Which run events need a person, as webhook notices (`tfctl.notify`): a plan awaiting
approval, a failed run, new drift, a halt.

Deciding reads the store; sending hands the notice to a detached process. Neither ever
raises into the run that triggered it, and nothing is read when no webhook is set. Drift
and a failing assessment are told once, when they are new: not again while the next
assessments find the same.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tfctl import notify
from tfctl.notify import Notice
from tfctl.persistence import drift as drift_store
from tfctl.persistence import runs as run_store
from tfctl.persistence import store
from tfctl.persistence.kinds import PlanMode, RunStatus
from tfctl.runs.drift import CONCLUSIVE, Differences
from tfctl.runs.views import run_action

if TYPE_CHECKING:
    from sqlmodel import Session

    from tfctl.context import AppContext
    from tfctl.persistence.models import Run
    from tfctl.runs.control import HaltReport

log = logging.getLogger(__name__)
S = RunStatus
_COUNTS = ("add", "change", "destroy", "replace", "import", "forget", "move")


def announce_run(ctx: AppContext, run_id: str) -> None:
    """Notify about the run's new status if it needs a person. Never raises."""
    if not notify.webhook_urls(ctx.settings.notify_webhook_url):
        return
    try:
        with ctx.store.read() as session:
            notice = run_notice(session, run_store.get_run(session=session, run_id=run_id))
        if notice is not None:
            notify.send(ctx.settings, notice)
    except Exception:  # a notification must never change how a run ends
        log.warning("could not notify about run %s", run_id, exc_info=True)


def announce_halt(ctx: AppContext, report: HaltReport) -> None:
    """Notify that a halt was called (whatever it found to stop). Never raises."""
    if not notify.webhook_urls(ctx.settings.notify_webhook_url):
        return
    try:
        notify.send(ctx.settings, halt_notice(report))
    except Exception:
        log.warning("could not notify about the halt", exc_info=True)


def run_notice(session: Session, run: Run) -> Notice | None:
    """The notice a run in its current status is worth, if any."""
    workspace = store.get_workspace_by_id(session=session, workspace_id=run.workspace_id).name
    if run.plan_mode == PlanMode.ASSESSMENT:
        return _assessment_notice(session, run, workspace)
    status, what = RunStatus(run.status), f"{run_action(run.operation, run.plan_mode)} {run.id}"
    counts = _counts(run.summary)
    if status is S.AWAITING_APPROVAL and not run_store.children(session=session, run_id=run.id):
        changes = ", ".join(f"{n} to {k}" for k, n in counts.items() if n) or "changes"
        return Notice("plan_awaiting_approval",
                      f"{what} of workspace {workspace} awaits approval ({changes})",
                      workspace, run.id, counts)  # fmt: skip
    if status is S.ERRORED:
        return Notice(
            "run_failed",
            f"{what} of workspace {workspace} failed",
            workspace,
            run.id,
            counts,
            {"operation": run.operation, "plan_mode": run.plan_mode},
        )
    return None


def _assessment_notice(session: Session, run: Run, workspace: str) -> Notice | None:
    status = RunStatus(run.status)
    if status not in (S.DRIFTED, S.ERRORED):
        return None
    previous = drift_store.previous_assessment(session=session, run=run, statuses=CONCLUSIVE)
    before = previous.status if previous is not None else None
    if status is S.ERRORED:
        return None if before == status else Notice(
            "run_failed", f"drift assessment {run.id} of workspace {workspace} failed",
            workspace, run.id, {}, {"operation": run.operation, "plan_mode": run.plan_mode},
        )  # fmt: skip
    found = Differences.of(run.summary)
    told = Differences.of(previous.summary) if previous is not None else None
    if before == status and told is not None and told.fingerprint() == found.fingerprint():
        return None  # this drift was told already
    counts = found.counts()
    parts = [f"{counts['changed_outside']} changed outside tfctl",
             f"{counts['would_change']} the current spec version would change"]  # fmt: skip
    parts += [f"{counts['outputs']} output(s) would change"] if counts["outputs"] else []
    return Notice("drift", f"workspace {workspace} drifted: {', '.join(parts)}", workspace,
                  run.id, counts, {"resources": found.to_dict()})  # fmt: skip


def halt_notice(report: HaltReport) -> Notice:
    scope = f"workspace {report.workspace}" if report.workspace else "every workspace"
    why = f": {report.reason}" if report.reason else ""
    stopped = len(report.halted)
    details: dict[str, Any] = {"halted_by": report.halted_by, "reason": report.reason,
                               "halted": [run.id for run in report.halted]}  # fmt: skip
    return Notice("halt", f"halt of {scope} by {report.halted_by}{why} ({stopped} run(s) "
                  "stopped)", report.workspace, None, {"halted": stopped}, details)  # fmt: skip


def _counts(summary: dict[str, Any] | None) -> dict[str, int]:
    summary = summary or {}
    return {key: int(summary.get(key) or 0) for key in _COUNTS}
