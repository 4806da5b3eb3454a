"""TerraformRuntime: plan, apply, destroy and refresh a workspace, recording every run.

A run opens by inserting its row and taking the workspace in one transaction (a second
state-changing run is refused, naming the holder). It renders the configuration, drives the
executor with a log sink and a guard that heartbeats and notices cancellation, and ends in
one status transition. Apply runs are children of plan runs and apply exactly the plan
file whose SHA-256 was recorded; afterwards the resulting state is snapshotted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tfctl import errors
from tfctl.lifecycle import NOT_APPLICABLE
from tfctl.persistence import runs as run_store
from tfctl.persistence import store
from tfctl.persistence.kinds import Operation, PlanMode, RunStatus
from tfctl.persistence.types import utcnow
from tfctl.runguard import RunGuard
from tfctl.runlog import RunLogSink
from tfctl.runs import RunView, show_run, view

if TYPE_CHECKING:
    from sqlmodel import Session

    from tfctl.context import AppContext
    from tfctl.persistence.models import Run, Workspace
    from tfctl.terraform.runner import TerraformExecutor

PLAN_FILE = "tfplan.binary"


class RunObserver(Protocol):
    """What a front end sees of a run: its start, its phases, each log line, its end."""

    def started(self, run: RunView) -> None: ...
    def phase(self, name: str) -> None: ...
    def line(self, stream: str, text: str) -> None: ...
    def finished(self, run: RunView) -> None: ...


class _Silent:
    def started(self, run: RunView) -> None:
        pass

    def phase(self, name: str) -> None:
        pass

    def line(self, stream: str, text: str) -> None:
        pass

    def finished(self, run: RunView) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Labels:
    """Optional labels every run command accepts (`--experiment-id`, `--test-id`)."""

    experiment_id: str | None = None
    test_id: str | None = None


@dataclass
class _Execution:
    run_id: str
    workspace_id: str
    sink: RunLogSink
    guard: RunGuard
    done: dict[str, Any] = field(default_factory=dict)

    @property
    def kw(self) -> dict[str, Any]:
        return {"on_line": self.sink, "should_cancel": self.guard.should_cancel}


class TerraformRuntime:
    """Plan / apply / destroy / refresh for one application context."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        executor: TerraformExecutor | None = None,
        observer: RunObserver | None = None,
    ) -> None:
        self.ctx = ctx
        self._executor = executor
        self.observer: RunObserver = observer or _Silent()
        self._scrub_secrets: set[str] = set()

    # --- public operations -------------------------------------------------------------

    def plan(
        self, workspace: str, *, mode: PlanMode = PlanMode.NORMAL, labels: Labels = Labels()
    ) -> RunView:
        """Plan `workspace` against its stack's latest spec version. Ends `awaiting_approval`
        (older awaiting plans become `superseded`) or `no_changes`."""
        executor = self.executor
        run = self._open(workspace, operation=Operation.PLAN, mode=mode, labels=labels)
        with self._executing(run) as ex:
            work = self.run_dir(run.id) / "work"
            self._render(run, work, ex)
            self.observer.phase("init")
            executor.init(work, **ex.kw)
            self.observer.phase("plan")
            result = executor.plan(work, self._plan_options(mode), **ex.kw)
            self.observer.phase("summary")
            summary = self._summarise(work, ex)
            changes = _has_changes(summary, mode)
            if changes != (result.exit_code == 2):
                ex.sink.note(f"terraform exited {result.exit_code}, but the plan has "
                             f"{'' if changes else 'no '}changes; going by the plan")  # fmt: skip
            ex.done = {
                "exit_code": 2 if changes else 0,
                "summary": summary,
                "terraform_version": summary.get("terraform_version"),
                "plan_sha256": _sha256(work / PLAN_FILE),
                "work_dir": str(work),
            }
            self._finish(ex, RunStatus.AWAITING_APPROVAL if changes else RunStatus.NO_CHANGES)
        return self._ended(run.id)

    def apply(
        self, workspace: str, *, plan_run_id: str | None = None, labels: Labels = Labels()
    ) -> RunView:
        """Apply exactly the approved plan `plan_run_id` (default: the workspace's pending
        plan) in a child run, then record the resulting state version."""
        plan = self.applicable_plan(workspace, plan_run_id)
        executor = self.executor
        child = self._open(workspace, operation=Operation.APPLY, mode=PlanMode(plan.plan_mode),
                           labels=labels, parent=plan)  # fmt: skip
        with self._executing(child) as ex:
            work = self._verified_plan_dir(plan)
            self.observer.phase("apply")
            try:
                from tfctl.terraform.commands import ApplyOptions

                result = executor.apply(work, ApplyOptions(plan_file=PLAN_FILE), **ex.kw)
                ex.done["exit_code"] = result.exit_code
            finally:
                self._snapshot_state(work, ex)
            self._finish(ex, RunStatus.APPLIED)
        return self._ended(child.id)

    def applicable_plan(self, workspace: str, plan_run_id: str | None = None) -> RunView:
        """The plan an apply would apply, or `RunRefused` saying why it cannot be applied."""
        with self.ctx.store.read() as session:
            ws = store.get_workspace(session=session, name=workspace)
            plan = self._find_plan(session, ws, plan_run_id)
            self._check_applicable(session, ws, plan)
            return view(session, plan)

    def has_pending_plan(self, workspace: str) -> bool:
        with self.ctx.store.read() as session:
            ws = store.get_workspace(session=session, name=workspace)
            latest = run_store.latest_plan(session=session, workspace_id=ws.id)
            return latest is not None and latest.status == RunStatus.AWAITING_APPROVAL

    @property
    def executor(self) -> TerraformExecutor:
        if self._executor is None:
            from tfctl.terraform.commands import TerraformEnv
            from tfctl.terraform.runner import TerraformExecutor

            settings = self.ctx.settings
            env = TerraformEnv(
                binary=settings.terraform_bin,
                cli_config_file=_str(settings.terraform_cli_config_file),
                plugin_cache_dir=_str(settings.terraform_plugin_cache_dir),
            )
            self._executor = TerraformExecutor(env)
            self._executor.version()  # refuse a missing or too old binary before any run
        return self._executor

    def run_dir(self, run_id: str) -> Path:
        return self.ctx.settings.runs_dir / run_id

    def state_path(self, workspace: str) -> Path:
        return self.ctx.settings.home.expanduser() / "workspaces" / workspace / "terraform.tfstate"

    # --- opening and ending runs ---------------------------------------------------------

    def _open(
        self,
        workspace: str,
        *,
        operation: Operation,
        mode: PlanMode,
        labels: Labels,
        parent: RunView | None = None,
    ) -> Run:
        """Insert the run as `running` and take the workspace, in one transaction."""
        with self.ctx.store.write() as session:
            ws = store.get_workspace(session=session, name=workspace)
            if parent is not None:
                self._check_applicable(
                    session, ws, run_store.get_run(session=session, run_id=parent.id)
                )
            stack = store.get_stack_by_id(session=session, stack_id=ws.stack_id)
            version = store.get_spec_version(session=session, stack=stack)
            now = utcnow()
            run = run_store.create_run(
                session=session,
                workspace_id=ws.id,
                spec_version_id=parent.spec_version_id if parent else version.id,
                parent_run_id=parent.id if parent else None,
                operation=operation.value,
                plan_mode=mode.value,
                status=RunStatus.RUNNING.value,
                actor=self.ctx.actor,
                host=self.ctx.host,
                terraform_bin=self.ctx.settings.terraform_bin,
                terraform_version=parent.terraform_version if parent else None,
                experiment_id=labels.experiment_id,
                test_id=labels.test_id,
                started_at=now,
                heartbeat_at=now,
            )
            self._take_workspace(session, ws, run)
        return run

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
            run_store.transition(
                session=session, run_id=holder.id, to=RunStatus.ERRORED, finished_at=utcnow(),
                message=f"its process stopped (no heartbeat since {beat}); the workspace was freed",
            )  # fmt: skip
        run_store.release_workspace(session=session, workspace_id=ws.id, run_id=holder.id)
        return True

    @contextlib.contextmanager
    def _executing(self, run: Run) -> Iterator[_Execution]:
        """Log sink and guard for `run`; whatever escapes ends the run errored or cancelled,
        the workspace is always released and the log always flushed."""
        sink = RunLogSink(self.ctx.store, run.id, self.run_dir(run.id), observer=self.observer.line)
        sink.add_secrets(self._scrub_secrets)
        ex = _Execution(run.id, run.workspace_id, sink, RunGuard(self.ctx.store, run.id))
        with self.ctx.store.read() as session:
            self.observer.started(view(session, run_store.get_run(session=session, run_id=run.id)))
        try:
            yield ex
        except BaseException as exc:
            self._fail(ex, exc)
            raise self._as_tfctl_error(ex, exc) from exc
        finally:
            sink.close()
            with self.ctx.store.write() as session:
                run_store.release_workspace(
                    session=session, workspace_id=run.workspace_id, run_id=run.id
                )

    def _finish(self, ex: _Execution, to: RunStatus) -> None:
        with self.ctx.store.write() as session:
            run = run_store.get_run(session=session, run_id=ex.run_id)
            fields = dict(ex.done, finished_at=utcnow())
            if not run_store.transition(session=session, run_id=ex.run_id, to=to, **fields):
                raise errors.Cancelled(self._stopped_message(run))
            if run.parent_run_id is not None:
                run_store.transition(session=session, run_id=run.parent_run_id, to=to,
                                     message=f"applied by run {run.id}")  # fmt: skip
            elif to is RunStatus.AWAITING_APPROVAL or to is RunStatus.NO_CHANGES:
                run_store.supersede_older_plans(
                    session=session, workspace_id=ex.workspace_id, newer_run_id=ex.run_id
                )

    def _fail(self, ex: _Execution, exc: BaseException) -> None:
        cancelled = isinstance(
            exc, (errors.TerraformCancelled, errors.Cancelled, KeyboardInterrupt)
        )
        to = RunStatus.CANCELLED if cancelled else RunStatus.ERRORED
        message = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else str(exc)
        code = getattr(exc, "exit_code", 4 if cancelled else 1)
        with self.ctx.store.write() as session:
            run = run_store.get_run(session=session, run_id=ex.run_id)
            fields = dict(ex.done, exit_code=ex.done.get("exit_code", code), finished_at=utcnow())
            if not run_store.transition(
                session=session, run_id=run.id, to=to, message=message, **fields
            ):
                run_store.update_run(session=session, run_id=run.id, **fields)
            if run.parent_run_id is not None:
                parent_to = RunStatus.CANCELLED if cancelled else RunStatus.ERRORED
                note = f"its apply {run.id} {to.value}: {message}"
                run_store.transition(
                    session=session, run_id=run.parent_run_id, to=parent_to, message=note
                )

    def _as_tfctl_error(self, ex: _Execution, exc: BaseException) -> BaseException:
        with self.ctx.store.read() as session:
            run = run_store.get_run(session=session, run_id=ex.run_id)
        if run.status == RunStatus.CANCELLED:
            return errors.Cancelled(self._stopped_message(run))
        return exc

    def _stopped_message(self, run: Run) -> str:
        if run.halted:
            reason = f": {run.halt_reason}" if run.halt_reason else ""
            return f"run {run.id} was halted by {run.halted_by}{reason}"
        return f"run {run.id} was cancelled ({run.message or 'no reason given'})"

    def _ended(self, run_id: str) -> RunView:
        ended = show_run(self.ctx.store, run_id)
        self.observer.finished(ended)
        return ended

    # --- the steps -------------------------------------------------------------------------

    def _render(self, run: Run, work: Path, ex: _Execution) -> None:
        from tfctl.codegen.render import render_workspace
        from tfctl.spec import TerraformStackSpec

        with self.ctx.store.read() as session:
            ws = store.get_workspace_by_id(session=session, workspace_id=run.workspace_id)
            assert run.spec_version_id is not None
            row = store.get_spec_version_by_id(session=session, version_id=run.spec_version_id)
        spec = TerraformStackSpec.model_validate_json(row.canonical_json)
        values = {**spec.variables, **ws.variables}
        state = self.state_path(ws.name)
        state.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        rendered = render_workspace(
            spec=spec, variables=values, backend=ws.backend, backend_config=ws.backend_config,
            local_state_path=state, out_dir=work,
        )  # fmt: skip
        secrets = {str(values[n]) for n in rendered.sensitive_variables if n in values}
        secrets |= {os.environ[f"TF_VAR_{n}"] for n in rendered.sensitive_variables
                    if f"TF_VAR_{n}" in os.environ}  # fmt: skip
        self._remember_secrets(ex, secrets)
        ex.sink.note(f"rendered stack {spec.name} version {row.version} into {work}")

    def _plan_options(self, mode: PlanMode) -> Any:
        from tfctl.terraform.commands import PlanOptions

        return PlanOptions(
            out=PLAN_FILE,
            destroy=mode is PlanMode.DESTROY,
            refresh_only=mode is PlanMode.REFRESH_ONLY,
            detailed_exitcode=True,
        )

    def _summarise(self, work: Path, ex: _Execution) -> dict[str, Any]:
        """Summarise `show -json` of the plan. The JSON holds secrets in clear text: it is
        read once for the summary and the secret values, then deleted."""
        from tfctl.terraform.summary import read_plan

        plan_json = work.parent / "plan.json"
        try:
            self.executor.show_json(work, PLAN_FILE, plan_json, **ex.kw)
            plan_summary, secrets = read_plan(plan_json)  # one streaming pass, ~2x file size
        finally:
            plan_json.unlink(missing_ok=True)
        self._remember_secrets(ex, secrets)
        summary = plan_summary.to_json_dict()
        scrubbed: dict[str, Any] = json.loads(ex.sink.scrub(json.dumps(summary)))
        return scrubbed

    def _remember_secrets(self, ex: _Execution, secrets: set[str]) -> None:
        self._scrub_secrets |= secrets
        ex.sink.add_secrets(secrets)

    def _verified_plan_dir(self, plan: RunView) -> Path:
        """The plan's working directory, if its plan file is exactly the one recorded."""
        with self.ctx.store.read() as session:
            work_dir = run_store.get_run(session=session, run_id=plan.id).work_dir
        work = Path(work_dir or "")
        if not work_dir or not (work / PLAN_FILE).is_file():
            raise errors.RunRefused(
                f"the plan file of run {plan.id} is not on this machine (planned on {plan.host} "
                f"in {work_dir}); apply it there, or run `tfctl plan {plan.workspace}` here"
            )
        if _sha256(work / PLAN_FILE) != plan.plan_sha256:
            raise errors.RunRefused(
                f"the plan file of run {plan.id} changed after it was planned (its SHA-256 no "
                f"longer matches); it will not be applied. Run `tfctl plan {plan.workspace}`"
            )
        return work

    def _snapshot_state(self, work: Path, ex: _Execution) -> None:
        """Record the workspace's state after an apply (even a failed or interrupted one:
        terraform writes what it did). Only a changed state makes a new state version."""
        from tfctl.terraform.state import sensitive_values, snapshot_state

        try:
            raw = self.executor.state_pull(work, on_line=ex.sink)
        except errors.TfctlError as exc:
            ex.sink.note(f"could not read the state after the run: {exc}")
            return
        snapshot = snapshot_state(raw)
        self._remember_secrets(ex, sensitive_values(raw))
        with self.ctx.store.write() as session:
            latest = run_store.state_versions(
                session=session, workspace_id=ex.workspace_id, limit=1
            )
            if snapshot.lineage is None or (latest and latest[0].sha256 == snapshot.sha256):
                return
            run_store.record_state_version(
                session=session, workspace_id=ex.workspace_id, run_id=ex.run_id,
                serial=snapshot.serial, lineage=snapshot.lineage, sha256=snapshot.sha256,
                terraform_version=snapshot.terraform_version,
                resource_count=snapshot.resource_count, resources=list(snapshot.resources),
                outputs=json.loads(ex.sink.scrub(json.dumps(snapshot.to_json_dict()["outputs"]))),
            )  # fmt: skip
        ex.sink.note(
            f"recorded state serial {snapshot.serial} ({snapshot.resource_count} resources)"
        )

    # --- applicability -----------------------------------------------------------------

    def _find_plan(self, session: Session, ws: Workspace, plan_run_id: str | None) -> Run:
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

    def _check_applicable(self, session: Session, ws: Workspace, plan: Run) -> None:
        if plan.operation != Operation.PLAN:
            raise errors.RunRefused(f"run {plan.id} is an apply, not a plan")
        status = RunStatus(plan.status)
        if status is RunStatus.AWAITING_APPROVAL:
            return
        reason = ""
        if plan.halted:
            reason = f" (halted by {plan.halted_by}: {plan.halt_reason or 'no reason given'})"
        elif plan.message:
            reason = f" ({plan.message})"
        why = NOT_APPLICABLE[status].format(id=plan.id, workspace=ws.name, reason=reason)
        raise errors.RunRefused(f"plan {plan.id} cannot be applied: {why}")


def _has_changes(summary: dict[str, Any], mode: PlanMode) -> bool:
    """Whether a plan has anything to apply, from its content rather than terraform's exit
    code: a refresh-only plan's `-detailed-exitcode` is 0 or 2 at random when resources
    have several sensitive attributes (hashicorp/terraform#35117, measured on 1.11.4).
    For a refresh-only plan, drift is the change; for other plans it is only reported."""
    drift = mode is PlanMode.REFRESH_ONLY and bool(summary.get("has_drift"))
    return bool(summary.get("has_changes")) or drift


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _str(value: object) -> str | None:
    return None if value is None else str(value)
