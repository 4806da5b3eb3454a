"""RunLedger: a run's life in the job store — its row, its workspace, its final status.

Opening a run inserts its row and takes the workspace in one transaction (a second
state-changing run is refused, naming the holder; a holder whose lease expired is declared
lost and freed). An apply opens only after its plan passed `check_applicable` inside that
same transaction: the one check that decides. Ending a run is one status transition that
also moves its plan parent, supersedes older plans, or hands the workspace to an auto-apply
child. The terraform side lives in `executor.py`; the status rules in `status.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store
from tfctl.persistence.clock import store_now
from tfctl.persistence.kinds import Operation, PlanMode, RunStatus
from tfctl.persistence.types import utcnow
from tfctl.runs.status import NOT_APPLICABLE, lease_cutoff, transition
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


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an execution learned about its run, written with its final status. A field left
    None is not written (an apply never overwrites the plan's summary it never had)."""

    exit_code: int | None = None
    summary: dict[str, Any] | None = None
    terraform_version: str | None = None
    plan_sha256: str | None = None
    work_dir: str | None = None
    policy_results: dict[str, Any] | None = None
    #: what the run's `terraform init` was done or skipped for (runs/workdir.py)
    init_sha256: str | None = None

    def columns(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One run to open: what it does, who asked, and (for an apply) which plan with what
    approval. `plan_run_id` None for an apply means the workspace's pending plan."""

    workspace: str
    operation: Operation
    actor: str
    mode: PlanMode = PlanMode.NORMAL
    labels: Labels = NO_LABELS
    plan_run_id: str | None = None
    plan_sha256: str | None = None
    override_reason: str | None = None
    confirm: str | None = None
    auto_apply: bool = False
    #: run `terraform init` again even if nothing it depends on changed (`--reinit`)
    reinit: bool = False


class RunLedger:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    # --- opening -----------------------------------------------------------------------

    def open(self, request: RunRequest) -> Run:
        """Insert the run as `running` and take the workspace, in one transaction."""
        with self.ctx.store.write() as session:
            if request.mode is PlanMode.ASSESSMENT:
                return self._assessment(session, request, status=RunStatus.RUNNING)
            run = self._insert(session, request, status=RunStatus.RUNNING)
            ws = store.get_workspace_by_id(session=session, workspace_id=run.workspace_id)
            self._take_workspace(session, ws, run)
        return run

    def enqueue(self, request: RunRequest) -> RunView:
        """Insert the run as `queued`. A destroy plan approved in advance (auto-apply) needs
        its confirmation now, when it is approved."""
        if request.mode is PlanMode.DESTROY and request.auto_apply:
            require_destroy_confirmation(request.workspace, None, request.confirm)
        with self.ctx.store.write() as session:
            if request.mode is PlanMode.ASSESSMENT:
                return view(session, self._assessment(session, request, status=RunStatus.QUEUED))
            return view(session, self._insert(session, request, status=RunStatus.QUEUED))

    def _assessment(self, session: Session, request: RunRequest, *, status: RunStatus) -> Run:
        """A drift assessment never holds its workspace (runs/drift.py): it is opened or
        queued only while the workspace is idle, decided under its row lock
        (`WorkspaceBusy` otherwise), and never applied automatically."""
        from tfctl.runs.drift import refuse_if_busy

        ws = store.get_workspace(session=session, name=request.workspace, for_update=True)
        refuse_if_busy(session, ws)
        plan_only = replace(request, operation=Operation.PLAN, auto_apply=False)
        return self._insert(session, plan_only, status=status)

    def _insert(self, session: Session, request: RunRequest, *, status: RunStatus) -> Run:
        """A new run row; a plan records the stack's latest version, an apply its plan's
        (refused unless the plan may be applied: `check_applicable`; a policy override is
        recorded on it)."""
        ws = store.get_workspace(session=session, name=request.workspace)
        policy_results, parent = None, None
        if request.operation is Operation.APPLY:
            parent = find_plan(session, ws, request.plan_run_id)
            if request.plan_sha256 is not None and request.plan_sha256 != parent.plan_sha256:
                raise errors.PlanMismatch(
                    f"plan {parent.id} has SHA-256 {parent.plan_sha256}, not "
                    f"{request.plan_sha256}; review the plan you mean to apply",
                    workspace=ws.name, run_id=parent.id,
                )  # fmt: skip
            policy_results = self._gate(ws, parent, request)
            version_id = parent.spec_version_id
        else:
            stack = store.get_stack_by_id(session=session, stack_id=ws.stack_id)
            version_id = store.get_spec_version(session=session, stack=stack).id
        now = store_now(session) if status is RunStatus.RUNNING else None  # the lease starts
        return run_store.create_run(
            session=session,
            workspace_id=ws.id,
            spec_version_id=version_id,
            parent_run_id=parent.id if parent else None,
            operation=request.operation,
            plan_mode=PlanMode(parent.plan_mode) if parent else request.mode,
            status=status,
            auto_apply=request.auto_apply,
            reinit=request.reinit,
            policy_results=policy_results,
            actor=request.actor,
            host=self.ctx.host,
            terraform_bin=self.ctx.settings.terraform_bin,
            terraform_version=parent.terraform_version if parent else None,
            experiment_id=request.labels.experiment_id,
            test_id=request.labels.test_id,
            started_at=now,
            heartbeat_at=now,
        )

    def _gate(self, ws: Workspace, plan: Run, request: RunRequest) -> dict[str, Any] | None:
        """Refuse an apply of `plan` unless it may be applied (`check_applicable`); returns
        the override record for the apply run when a soft_mandatory block was overridden."""
        from tfctl.policy.gate import override_record

        reason = request.override_reason
        required = self.ctx.settings.policy_require_engine
        block = check_applicable(ws, plan, override_reason=reason, confirm=request.confirm,
                                 require_engine=required)  # fmt: skip
        if block is None or reason is None:
            return None
        return override_record(block, actor=request.actor, reason=reason, plan_id=plan.id,
                               at=utcnow())  # fmt: skip

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
                f"it (`tfctl runs logs {holder.id} --follow`) or cancel it",
                workspace=ws.name, run_id=holder.id,
            )  # fmt: skip
        if run_store.acquire_workspace(session=session, workspace_id=ws.id, run_id=run.id):
            raise errors.WorkspaceBusy(
                f"workspace '{ws.name}' was taken by another run; retry", workspace=ws.name
            )

    def _release_if_stale(self, session: Session, ws: Workspace, holder: Run) -> bool:
        """Free a lock whose run ended or whose lease (heartbeat) expired, by the store's
        clock (this machine's may run ahead)."""
        beat = holder.heartbeat_at or holder.started_at
        cutoff = lease_cutoff(self.ctx.settings.heartbeat_timeout, store_now(session))
        if holder.status == RunStatus.RUNNING and beat is not None and beat > cutoff:
            return False
        if holder.status == RunStatus.RUNNING:
            declare_lost(session, holder)
        run_store.release_workspace(session=session, workspace_id=ws.id, run_id=holder.id)
        return True

    def release(self, run: Run) -> None:
        with self.ctx.store.write() as session:
            run_store.release_workspace(
                session=session, workspace_id=run.workspace_id, run_id=run.id
            )

    # --- ending ------------------------------------------------------------------------

    def finish(
        self, run_id: str, outcome: Outcome, to: RunStatus, *, message: str | None = None
    ) -> Run | None:
        """End the run in `to` (with `message`, if given), then notify whoever should know
        (`runs.notices`). A plan approved in advance (`auto_apply`) that now awaits
        approval gets its apply child here, in the same transaction, and hands it the
        workspace, so no other run can slip in between plan and apply."""
        child = self._finish(run_id, outcome, to, message)
        self._announce(run_id)
        return child

    def _finish(
        self, run_id: str, outcome: Outcome, to: RunStatus, message: str | None
    ) -> Run | None:
        with self.ctx.store.write() as session:
            run = run_store.get_run(session=session, run_id=run_id)
            # the store's clock, as the auto-apply child's start: one instant, not two clocks
            columns = dict(outcome.columns(), finished_at=store_now(session))
            held = self._held_by_policy(session, run, outcome, to)
            if held is not None or message is not None:
                columns["message"] = held or message
            if not transition(session=session, run_id=run_id, to=to, **columns):
                session.refresh(run)  # ended by someone else: say how, and keep it
                raise ended_elsewhere(run)
            if run.parent_run_id is not None:
                transition(session=session, run_id=run.parent_run_id, to=to,
                           message=f"applied by run {run.id}")  # fmt: skip
                return None
            if run.plan_mode == PlanMode.ASSESSMENT:
                return None  # never replaces a plan awaiting approval, never applied
            run_store.supersede_older_plans(
                session=session, workspace_id=run.workspace_id, newer_run_id=run_id
            )
            if to is RunStatus.AWAITING_APPROVAL and run.auto_apply and held is None:
                return self._auto_apply_child(session, run)
        return None

    def _held_by_policy(
        self, session: Session, run: Run, outcome: Outcome, to: RunStatus
    ) -> str | None:
        """Why a plan approved in advance is not applied after all: policy blocks it. It
        stays awaiting approval, for a person to look at (and override, if soft)."""
        from tfctl.policy.gate import blocked_by, refusal

        if not (to is RunStatus.AWAITING_APPROVAL and run.auto_apply):
            return None
        required = self.ctx.settings.policy_require_engine
        block = blocked_by(outcome.policy_results, require_engine=required)
        if block is None:
            return None
        ws = store.get_workspace_by_id(session=session, workspace_id=run.workspace_id)
        return "not applied automatically: " + refusal(block, plan_id=run.id, workspace=ws.name)

    def _auto_apply_child(self, session: Session, plan: Run) -> Run:
        ws = store.get_workspace_by_id(session=session, workspace_id=plan.workspace_id)
        # approved in advance: a destroy plan's name was confirmed when it was queued
        request = RunRequest(
            ws.name, Operation.APPLY, actor=plan.actor, plan_run_id=plan.id, confirm=ws.name,
            labels=Labels(experiment_id=plan.experiment_id, test_id=plan.test_id),
        )  # fmt: skip
        child = self._insert(session, request, status=RunStatus.RUNNING)
        child.worker = plan.worker
        run_store.hand_over_workspace(
            session=session, workspace_id=ws.id, from_run_id=plan.id, to_run_id=child.id
        )
        return child

    def fail(self, run_id: str, outcome: Outcome, exc: BaseException) -> BaseException:
        """Record why the run ended early; returns the error the caller should raise (a
        run cancelled or halted by someone else becomes `Cancelled`, exit code 4)."""
        cancelled = isinstance(
            exc, (errors.TerraformCancelled, errors.Cancelled, KeyboardInterrupt)
        )
        to = RunStatus.CANCELLED if cancelled else RunStatus.ERRORED
        message = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else str(exc)
        code = getattr(exc, "exit_code", 4 if cancelled else 1)
        columns = dict(outcome.columns(), finished_at=utcnow())
        columns.setdefault("exit_code", code)
        with self.ctx.store.write() as session:
            run = run_store.get_run(session=session, run_id=run_id)
            columns["finished_at"] = store_now(session)  # one clock for every run's times
            moved = transition(session=session, run_id=run.id, to=to, message=message, **columns)
            if not moved:  # someone else ended it first (cancel, halt, lost): keep what they
                # wrote (status, message, finish time); add only what nobody recorded yet
                run_store.fill_run(session=session, run_id=run.id, **columns)
            if run.parent_run_id is not None:
                note = f"its apply {run.id} {to.value}: {message}"
                transition(session=session, run_id=run.parent_run_id, to=to, message=note)
            session.refresh(run)
            stopped = run.status == RunStatus.CANCELLED
            error = errors.Cancelled(stopped_message(run), run_id=run.id) if stopped else exc
        self._announce(run_id)
        return error

    def _announce(self, run_id: str) -> None:
        """Tell the webhooks (TFCTL_NOTIFY_WEBHOOK_URL) about the run's end if it needs a
        person; never waits, never raises."""
        from tfctl.runs.notices import announce_run

        announce_run(self.ctx, run_id)

    # --- reading -----------------------------------------------------------------------

    def preview(
        self, workspace: str, plan_run_id: str | None = None, *, override_reason: str | None = None
    ) -> RunView:
        """The plan an apply would apply, refused now (`RunRefused`, `PolicyBlocked`) when it
        could not be, so a person is not asked to approve what will be refused. Only a
        preview: the apply's own transaction checks again and decides. A destroy plan's
        confirmation is asked after the preview, so it is not checked here."""
        with self.ctx.store.read() as session:
            ws = store.get_workspace(session=session, name=workspace)
            plan = find_plan(session, ws, plan_run_id)
            check_applicable(ws, plan, override_reason=override_reason, confirm=ws.name,
                             require_engine=self.ctx.settings.policy_require_engine)  # fmt: skip
            return view(session, plan)

    def pending_plan(self, workspace: str) -> RunView | None:
        """The workspace's newest plan if it awaits approval."""
        with self.ctx.store.read() as session:
            ws = store.get_workspace(session=session, name=workspace)
            latest = run_store.latest_plan(session=session, workspace_id=ws.id)
            if latest is None or latest.status != RunStatus.AWAITING_APPROVAL:
                return None
            return view(session, latest)

    def reap_lost(self) -> list[str]:
        """Declare `running` runs whose lease expired (their worker or process died) lost:
        `errored`, workspace freed, never re-run by themselves. Returns their ids."""
        with self.ctx.store.write() as session:
            # by the store's clock: no run is declared lost before its lease expired there
            cutoff = lease_cutoff(self.ctx.settings.heartbeat_timeout, store_now(session))
            stale = run_store.stale_holders(session=session, older_than=cutoff)
            lost = [run.id for run in stale if declare_lost(session, run)]
            for run in run_store.orphaned_locks(session=session, older_than=cutoff):
                # cancelled or halted after its process died: nobody else will let go
                run_store.release_workspace(session=session, workspace_id=run.workspace_id,
                                            run_id=run.id)  # fmt: skip
                run_store.fill_run(session=session, run_id=run.id, finished_at=store_now(session))
        for run_id in lost:
            self._announce(run_id)
        return lost


def declare_lost(session: Session, run: Run) -> bool:
    """Mark a running run whose lease expired `errored`, free its workspace, and end its plan
    parent. It is never re-run by itself: an apply needs a new plan."""
    beat = run.heartbeat_at or run.started_at
    who = f"worker {run.worker}" if run.worker else f"its process on {run.host}"
    when = f"{beat:%Y-%m-%d %H:%M:%S}Z" if beat else "never"
    message = f"{who} stopped heartbeating (last at {when}); the run was not retried"
    if not transition(session=session, run_id=run.id, to=RunStatus.ERRORED,
                      message=message, finished_at=store_now(session)):  # fmt: skip
        return False
    run_store.release_workspace(session=session, workspace_id=run.workspace_id, run_id=run.id)
    if run.parent_run_id is not None:
        transition(session=session, run_id=run.parent_run_id, to=RunStatus.ERRORED,
                   message=f"its apply {run.id} was lost: {message}")  # fmt: skip
    return True


def ended_elsewhere(run: Run) -> errors.TfctlError:
    """The error for a run that another process ended while this one ran it: `Cancelled`
    (exit 4) for a cancel or halt, else the status it was given and why."""
    if run.status == RunStatus.CANCELLED:
        return errors.Cancelled(stopped_message(run), run_id=run.id)
    why = f": {run.message}" if run.message else ""
    return errors.RunError(
        f"run {run.id} was ended {run.status} by another process{why}; its outcome here was "
        "not recorded over that", run_id=run.id,
    )  # fmt: skip


def stopped_message(run: Run) -> str:
    if run.halted:
        reason = f": {run.halt_reason}" if run.halt_reason else ""
        return f"run {run.id} was halted by {run.halted_by}{reason}"
    return f"run {run.id} was cancelled ({run.message or 'no reason given'})"


def find_plan(session: Session, ws: Workspace, plan_run_id: str | None) -> Run:
    """The plan `plan_run_id` of `ws`, or the workspace's newest plan."""
    if plan_run_id is not None:
        plan = run_store.get_run(session=session, run_id=plan_run_id)
        if plan.workspace_id != ws.id:
            raise errors.RunRefused(
                f"run {plan.id} is not a run of workspace '{ws.name}'",
                workspace=ws.name, run_id=plan.id,
            )  # fmt: skip
        return plan
    latest = run_store.latest_plan(session=session, workspace_id=ws.id)
    if latest is None:
        raise errors.RunRefused(
            f"workspace '{ws.name}' has no plan to apply; run `tfctl plan {ws.name}` first",
            workspace=ws.name,
        )
    return latest


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
        raise errors.RunRefused(
            f"run {plan.id} is an apply, not a plan", workspace=ws.name, run_id=plan.id
        )
    if plan.plan_mode == PlanMode.ASSESSMENT:
        raise errors.RunRefused(
            f"run {plan.id} is a drift assessment: it is never applied; run "
            f"`tfctl plan {ws.name}` for a plan you can apply",
            workspace=ws.name, run_id=plan.id,
        )  # fmt: skip
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
    raise errors.RunRefused(
        f"plan {plan.id} cannot be applied: {why}", workspace=ws.name, run_id=plan.id
    )
