"""RunBook: a run's life in the job store — its row, its workspace, its final status.

Opening a run inserts its row and takes the workspace in one transaction (a second
state-changing run is refused, naming the holder; a holder whose process stopped
heartbeating is declared lost and freed). Ending a run is one status transition that also
moves its plan parent, supersedes older plans, or hands the workspace to an auto-apply
child. The terraform side lives in `runtime.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store
from tfctl.persistence.kinds import Operation, PlanMode, RunStatus
from tfctl.persistence.types import utcnow
from tfctl.runs.status import NOT_APPLICABLE, transition
from tfctl.runs.views import RunView, view

if TYPE_CHECKING:
    from sqlmodel import Session

    from tfctl.context import AppContext
    from tfctl.persistence.models import Run, Workspace
    from tfctl.policy.gate import Block


@dataclass(frozen=True, slots=True)
class Labels:
    """Optional labels every run command accepts (`--experiment-id`, `--test-id`)."""

    experiment_id: str | None = None
    test_id: str | None = None


NO_LABELS = Labels()


class RunBook:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    # --- opening -----------------------------------------------------------------------

    def open(
        self,
        workspace: str,
        *,
        operation: Operation,
        mode: PlanMode,
        labels: Labels,
        parent: RunView | None = None,
        override_reason: str | None = None,
        confirm: str | None = None,
    ) -> Run:
        """Insert the run as `running` and take the workspace, in one transaction."""
        with self.ctx.store.write() as session:
            run = self.insert(
                session, workspace, operation=operation, mode=mode, labels=labels,
                parent=parent, status=RunStatus.RUNNING, override_reason=override_reason,
                confirm=confirm,
            )  # fmt: skip
            ws = store.get_workspace_by_id(session=session, workspace_id=run.workspace_id)
            self._take_workspace(session, ws, run)
        return run

    def enqueue(
        self,
        workspace: str,
        *,
        operation: Operation,
        mode: PlanMode,
        labels: Labels,
        parent: RunView | None,
        auto_apply: bool,
        override_reason: str | None = None,
        confirm: str | None = None,
    ) -> RunView:
        if operation is Operation.PLAN and mode is PlanMode.DESTROY and auto_apply:
            require_destroy_confirmation(workspace, None, confirm)  # approved in advance
        with self.ctx.store.write() as session:
            run = self.insert(
                session, workspace, operation=operation, mode=mode, labels=labels,
                parent=parent, status=RunStatus.QUEUED, auto_apply=auto_apply,
                override_reason=override_reason, confirm=confirm,
            )  # fmt: skip
            return view(session, run)

    def insert(
        self,
        session: Session,
        workspace: str,
        *,
        operation: Operation,
        mode: PlanMode,
        labels: Labels,
        parent: RunView | None,
        status: RunStatus,
        auto_apply: bool = False,
        override_reason: str | None = None,
        confirm: str | None = None,
    ) -> Run:
        """A new run row; a plan records the stack's latest version, an apply its plan's
        (refused unless the plan may be applied — a destroy plan only with `confirm` equal
        to the workspace's name —; a policy override is recorded on it)."""
        ws = store.get_workspace(session=session, name=workspace)
        policy_results = None
        if parent is not None:
            plan = run_store.get_run(session=session, run_id=parent.id)
            policy_results = self._gate(ws, plan, override_reason, confirm)
            version_id = parent.spec_version_id
        else:
            stack = store.get_stack_by_id(session=session, stack_id=ws.stack_id)
            version_id = store.get_spec_version(session=session, stack=stack).id
        now = utcnow() if status is RunStatus.RUNNING else None
        return run_store.create_run(
            session=session,
            workspace_id=ws.id,
            spec_version_id=version_id,
            parent_run_id=parent.id if parent else None,
            operation=operation.value,
            plan_mode=mode.value,
            status=status.value,
            auto_apply=auto_apply,
            policy_results=policy_results,
            actor=self.ctx.actor,
            host=self.ctx.host,
            terraform_bin=self.ctx.settings.terraform_bin,
            terraform_version=parent.terraform_version if parent else None,
            experiment_id=labels.experiment_id,
            test_id=labels.test_id,
            started_at=now,
            heartbeat_at=now,
        )

    def _gate(
        self, ws: Workspace, plan: Run, override_reason: str | None, confirm: str | None
    ) -> dict[str, Any] | None:
        """Refuse an apply of `plan` unless it may be applied (`check_applicable`); returns
        the override record for the apply run when a soft_mandatory block was overridden."""
        from tfctl.policy.gate import override_record

        required = self.ctx.settings.policy_require_engine
        block = check_applicable(ws, plan, override_reason=override_reason,
                                 require_engine=required, confirm=confirm)  # fmt: skip
        if block is None or override_reason is None:
            return None
        return override_record(block, actor=self.ctx.actor, reason=override_reason,
                               plan_id=plan.id, at=utcnow())  # fmt: skip

    def _take_workspace(self, session: Session, ws: Workspace, run: Run) -> None:
        holder_id = run_store.acquire_workspace(session=session, workspace_id=ws.id, run_id=run.id)
        if holder_id is None:
            return
        holder = run_store.get_run(session=session, run_id=holder_id)
        if not self._release_if_stale(session, ws, holder):
            since = holder.started_at.isoformat(timespec="seconds") if holder.started_at else "?"
            raise errors.WorkspaceBusy(
                f"workspace '{ws.name}' is busy: run {holder.id} ({holder.operation}, "
                f"{holder.status}, by {holder.actor} on {holder.host} since {since}); wait for "
                f"it (`tfctl runs logs {holder.id} --follow`) or cancel it"
            )
        if run_store.acquire_workspace(session=session, workspace_id=ws.id, run_id=run.id):
            raise errors.WorkspaceBusy(f"workspace '{ws.name}' was taken by another run; retry")

    def _release_if_stale(self, session: Session, ws: Workspace, holder: Run) -> bool:
        """Free a lock whose run ended or whose process stopped heartbeating."""
        beat = holder.heartbeat_at or holder.started_at
        stale_after = timedelta(seconds=self.ctx.settings.heartbeat_timeout)
        if (
            holder.status == RunStatus.RUNNING
            and beat is not None
            and utcnow() - beat < stale_after
        ):
            return False
        if holder.status == RunStatus.RUNNING:
            declare_lost(session, holder)
        run_store.release_workspace(session=session, workspace_id=ws.id, run_id=holder.id)
        return True

    # --- ending ------------------------------------------------------------------------

    def finish(self, run_id: str, done: dict[str, Any], to: RunStatus) -> Run | None:
        """End the run in `to`. A plan approved in advance (`auto_apply`) that now awaits
        approval gets its apply child here, in the same transaction, and hands it the
        workspace, so no other run can slip in between plan and apply."""
        with self.ctx.store.write() as session:
            run = run_store.get_run(session=session, run_id=run_id)
            fields = dict(done, finished_at=utcnow())
            held = self._held_by_policy(session, run, done, to)
            if held is not None:
                fields["message"] = held
            if not transition(session=session, run_id=run_id, to=to, **fields):
                raise errors.Cancelled(stopped_message(run))
            if run.parent_run_id is not None:
                transition(session=session, run_id=run.parent_run_id, to=to,
                                     message=f"applied by run {run.id}")  # fmt: skip
                return None
            run_store.supersede_older_plans(
                session=session, workspace_id=run.workspace_id, newer_run_id=run_id
            )
            if to is RunStatus.AWAITING_APPROVAL and run.auto_apply and held is None:
                return self._auto_apply_child(session, run)
        return None

    def _held_by_policy(
        self, session: Session, run: Run, done: dict[str, Any], to: RunStatus
    ) -> str | None:
        """Why a plan approved in advance is not applied after all: policy blocks it. It
        stays awaiting approval, for a person to look at (and override, if soft)."""
        from tfctl.policy.gate import blocked_by, refusal

        if not (to is RunStatus.AWAITING_APPROVAL and run.auto_apply):
            return None
        required = self.ctx.settings.policy_require_engine
        block = blocked_by(done.get("policy_results"), require_engine=required)
        if block is None:
            return None
        ws = store.get_workspace_by_id(session=session, workspace_id=run.workspace_id)
        return "not applied automatically: " + refusal(block, plan_id=run.id, workspace=ws.name)

    def _auto_apply_child(self, session: Session, plan: Run) -> Run:
        ws = store.get_workspace_by_id(session=session, workspace_id=plan.workspace_id)
        labels = Labels(experiment_id=plan.experiment_id, test_id=plan.test_id)
        # approved in advance: a destroy plan's name was confirmed when it was queued
        child = self.insert(session, ws.name, operation=Operation.APPLY,
                            mode=PlanMode(plan.plan_mode), labels=labels,
                            parent=view(session, plan), status=RunStatus.RUNNING,
                            confirm=ws.name)  # fmt: skip
        child.worker = plan.worker
        run_store.hand_over_workspace(
            session=session, workspace_id=ws.id, from_run_id=plan.id, to_run_id=child.id
        )
        return child

    def fail(self, run_id: str, done: dict[str, Any], exc: BaseException) -> BaseException:
        """Record why the run ended early; returns the error the caller should raise (a
        run cancelled or halted by someone else becomes `Cancelled`, exit code 4)."""
        cancelled = isinstance(
            exc, (errors.TerraformCancelled, errors.Cancelled, KeyboardInterrupt)
        )
        to = RunStatus.CANCELLED if cancelled else RunStatus.ERRORED
        message = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else str(exc)
        code = getattr(exc, "exit_code", 4 if cancelled else 1)
        with self.ctx.store.write() as session:
            run = run_store.get_run(session=session, run_id=run_id)
            fields = dict(done, exit_code=done.get("exit_code", code), finished_at=utcnow())
            moved = transition(session=session, run_id=run.id, to=to, message=message, **fields)
            if not moved:  # someone else ended it first (cancel, halt): keep their status
                run_store.update_run(session=session, run_id=run.id, **fields)
            if run.parent_run_id is not None:
                note = f"its apply {run.id} {to.value}: {message}"
                transition(session=session, run_id=run.parent_run_id, to=to,
                                     message=note)  # fmt: skip
            session.refresh(run)
            if run.status == RunStatus.CANCELLED:
                return errors.Cancelled(stopped_message(run))
        return exc

    # --- applicability -----------------------------------------------------------------

    def applicable_plan(
        self, workspace: str, plan_run_id: str | None = None, *, override_reason: str | None = None
    ) -> RunView:
        """The plan an apply would apply, or `RunRefused` saying why it cannot be applied
        (`PolicyBlocked` when its policy results block it; see `check_applicable`). A destroy
        plan's confirmation is not asked here: the apply itself refuses it without one."""
        with self.ctx.store.read() as session:
            ws = store.get_workspace(session=session, name=workspace)
            plan = _find_plan(session, ws, plan_run_id)
            check_applicable(ws, plan, override_reason=override_reason,
                             require_engine=self.ctx.settings.policy_require_engine,
                             confirm=ws.name)  # fmt: skip
            return view(session, plan)

    def has_pending_plan(self, workspace: str) -> bool:
        with self.ctx.store.read() as session:
            ws = store.get_workspace(session=session, name=workspace)
            latest = run_store.latest_plan(session=session, workspace_id=ws.id)
            return latest is not None and latest.status == RunStatus.AWAITING_APPROVAL


def declare_lost(session: Session, run: Run) -> bool:
    """Mark a running run whose process stopped heartbeating `errored`, free its workspace,
    and end its plan parent. It is never re-run by itself: an apply needs a new plan."""
    beat = run.heartbeat_at or run.started_at
    who = f"worker {run.worker}" if run.worker else f"its process on {run.host}"
    when = f"{beat:%Y-%m-%d %H:%M:%S}Z" if beat else "never"
    message = f"{who} stopped heartbeating (last at {when}); the run was not retried"
    if not transition(session=session, run_id=run.id, to=RunStatus.ERRORED,
                                message=message, finished_at=utcnow()):  # fmt: skip
        return False
    run_store.release_workspace(session=session, workspace_id=run.workspace_id, run_id=run.id)
    if run.parent_run_id is not None:
        transition(session=session, run_id=run.parent_run_id, to=RunStatus.ERRORED,
                             message=f"its apply {run.id} was lost: {message}")  # fmt: skip
    return True


def stopped_message(run: Run) -> str:
    if run.halted:
        reason = f": {run.halt_reason}" if run.halt_reason else ""
        return f"run {run.id} was halted by {run.halted_by}{reason}"
    return f"run {run.id} was cancelled ({run.message or 'no reason given'})"


def require_destroy_confirmation(workspace: str, plan_id: str | None, confirm: str | None) -> None:
    """A destroy plan is applied only when its workspace's name was typed again (`--confirm`
    without a terminal), whoever applies it and by whatever path."""
    if confirm == workspace:
        return
    what = f"plan {plan_id} is a destroy plan" if plan_id else "a destroy"
    given = f"'{confirm}' is not the workspace's name; " if confirm else ""
    raise errors.ConfirmationRequired(
        f"{given}{what}: applying it destroys everything workspace '{workspace}' manages; "
        f"type the workspace's name when asked, or pass --confirm {workspace}",
        workspace=workspace, run_id=plan_id,
    )  # fmt: skip


def _find_plan(session: Session, ws: Workspace, plan_run_id: str | None) -> Run:
    if plan_run_id is not None:
        plan = run_store.get_run(session=session, run_id=plan_run_id)
        if plan.workspace_id != ws.id:
            raise errors.RunRefused(f"run {plan.id} is not a run of workspace '{ws.name}'")
        return plan
    latest = run_store.latest_plan(session=session, workspace_id=ws.id)
    if latest is None:
        raise errors.RunRefused(
            f"workspace '{ws.name}' has no plan to apply; run `tfctl plan {ws.name}` first"
        )
    return latest


def check_applicable(
    ws: Workspace,
    plan: Run,
    *,
    override_reason: str | None = None,
    require_engine: bool = False,
    confirm: str | None = None,
) -> Block | None:
    """Refuse, saying why and what to do, unless `plan` is a plan awaiting approval that its
    policy results let through: `RunRefused` (exit 2) for a plan in another status,
    `ConfirmationRequired` (exit 2) for a destroy plan unless `confirm` is the workspace's
    name, `PolicyBlocked` (exit 3) for a failed hard_mandatory policy, a failed
    soft_mandatory one without `override_reason`, or an unchecked plan when
    `require_engine`. Returns the soft block that `override_reason` overrides, if any."""
    from tfctl.policy.gate import enforce

    if plan.operation != Operation.PLAN:
        raise errors.RunRefused(f"run {plan.id} is an apply, not a plan")
    status = RunStatus(plan.status)
    if status is RunStatus.AWAITING_APPROVAL:
        if plan.plan_mode == PlanMode.DESTROY:
            require_destroy_confirmation(ws.name, plan.id, confirm)
        return enforce(plan.policy_results, plan_id=plan.id, workspace=ws.name,
                       override_reason=override_reason, require_engine=require_engine)  # fmt: skip
    reason = ""
    if plan.halted:
        reason = f" (halted by {plan.halted_by}: {plan.halt_reason or 'no reason given'})"
    elif plan.message:
        reason = f" ({plan.message})"
    why = NOT_APPLICABLE[status].format(id=plan.id, workspace=ws.name, reason=reason)
    raise errors.RunRefused(f"plan {plan.id} cannot be applied: {why}")
