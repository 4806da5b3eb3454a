"""RunExecutor: where a run executes.

Given a run the ledger opened (it is `running` and holds its workspace), it renders the
configuration, drives terraform through the one TerraformExecutor with a log sink and a
guard that heartbeats and notices cancellation, summarises the plan and runs the policy
gate, applies exactly the plan file whose SHA-256 was recorded, snapshots the resulting
state, and ends the run in one status transition. Front ends do not call it: they call
`RunService`, which opens runs and hands them here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store
from tfctl.persistence.kinds import Operation, PlanMode, RunStatus
from tfctl.policy.gate import report_lines
from tfctl.runs import backends, drift, preload
from tfctl.runs.guard import ASK_WAIT, RunGuard, Stop
from tfctl.runs.ledger import Outcome, RunLedger
from tfctl.runs.log import RunLogSink
from tfctl.runs.views import RunView, show_run, view
from tfctl.terraform.process import GRACE_PERIOD

if TYPE_CHECKING:
    from tfctl.context import AppContext
    from tfctl.persistence.models import Run
    from tfctl.policy import PolicyChecker
    from tfctl.runs.workdir import Configuration, Lease, WorkDirs
    from tfctl.terraform.runner import TerraformExecutor

PLAN_FILE = "tfplan.binary"
#: How long a run's process waits for the job store to answer again before giving up on
#: recording its end (another worker then declares the run lost once its lease expired).
STORE_WAIT = 600.0
#: How long closing the log waits for the store to take its last lines.
SINK_WAIT = 10.0
log = logging.getLogger(__name__)


def stop_grace(lease: float) -> float:
    """The grace period between SIGINT and SIGKILL: terraform's 10 s, shortened for a short
    lease so that a fenced terraform is gone before the lease can expire (the guard fences
    at half the lease, noticed within about 2 s)."""
    return min(GRACE_PERIOD, max(1.0, lease / 2 - 2 * ASK_WAIT))


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


@dataclass
class _Execution:
    run_id: str
    workspace_id: str
    sink: RunLogSink
    guard: RunGuard
    outcome: Outcome = field(default_factory=Outcome)
    grace_period: float = 10.0
    #: the run's own environment for terraform: sensitive variables as TF_VAR_<name>
    env: dict[str, str] = field(default_factory=dict)
    #: files that hold secrets in clear text, removed when the execution ends
    forget: list[Path] = field(default_factory=list)
    #: the initialised terraform directory the run uses (runs/workdir.py), until it ends
    workdir: Lease | None = None

    @property
    def kw(self) -> dict[str, Any]:
        """The options of every terraform command of the run; none starts once the guard
        said stop (cancelled, halted, declared lost, or the lease in doubt)."""
        self.guard.raise_if_stopped()
        kw = {"on_line": self.sink, "should_cancel": self.guard.should_cancel,
              "grace_period": self.grace_period}  # fmt: skip
        return {**kw, "extra_env": self.env} if self.env else kw


class RunExecutor:
    """Executes runs the ledger opened, for one application context. Built lazily by
    `RunService`; the terraform executor and policy checker are made on first use."""

    def __init__(
        self,
        ctx: AppContext,
        ledger: RunLedger,
        *,
        executor: TerraformExecutor | None = None,
        observer: RunObserver | None = None,
        policy_checker: PolicyChecker | None = None,
    ) -> None:
        self.ctx = ctx
        self.ledger = ledger
        self._executor = executor
        self._policy_checker = policy_checker
        self.observer: RunObserver = observer or _Silent()
        self._scrub_secrets: set[str] = set()

    def execute(self, run: Run) -> RunView:
        """Execute an opened run: a plan (and its auto-apply child), or an apply."""
        if run.operation == Operation.PLAN:
            return self._execute_plan(run)
        return self._execute_apply(run)

    def _execute_plan(self, run: Run) -> RunView:
        mode = PlanMode(run.plan_mode)
        assessing = mode is PlanMode.ASSESSMENT  # a drift assessment: see runs/drift.py
        with self._executing(run) as ex:
            if assessing:  # measured against what the stack says now, whenever it was queued
                run = drift.at_current_version(self.ctx.store, run.id)
            executor = self.executor
            work = self.run_dir(run.id) / "work"
            config = self._render(run, work, ex)
            backends.before_init(self.ctx, run.workspace_id, note=ex.sink.note)
            self._init(run, work, ex, config)
            mark = drift.state_mark(self.ctx.store, run.workspace_id) if assessing else 0
            self.observer.phase("plan")
            preload.start()  # what the steps after the plan import, while terraform plans
            result = executor.plan(work, self._plan_options(mode), **ex.kw)
            overlap = drift.overlap(self.ctx.store, run.workspace_id, mark) if assessing else None
            self.observer.phase("summary")
            summary, sensitive, policy = self._summarise(run, work, ex, gate=not assessing)
            changes = _has_changes(summary, mode)
            if changes != (result.exit_code == 2):
                ex.sink.note(f"terraform exited {result.exit_code}, but the plan has "
                             f"{'' if changes else 'no '}changes; going by the plan")  # fmt: skip
            if changes and not assessing:  # an assessment is never applied: nothing to share
                shared = self._share_plan(run.id, work, sensitive=sensitive or bool(ex.env))
                ex.sink.note(shared)
            landed, message = _landing(summary, mode, changes=changes, overlap=overlap)
            ex.outcome = replace(
                ex.outcome,  # with the init hash
                exit_code=2 if changes or landed is RunStatus.DRIFTED else 0,
                summary=summary,
                terraform_version=summary.get("terraform_version"),
                plan_sha256=None if assessing else _sha256(work / PLAN_FILE),
                work_dir=None if assessing else str(work),
                policy_results=policy,
            )
            ex.sink.flush(patience=STORE_WAIT)  # the log is complete when the run ends
            child = self.ledger.finish(run.id, ex.outcome, landed, message=message)
        if child is not None:  # approved in advance (auto_apply): apply it now
            self._ended(run.id)
            return self._execute_apply(child)
        return self._ended(run.id)

    def _execute_apply(self, child: Run) -> RunView:
        from tfctl.terraform.commands import ApplyOptions

        with self._executing(child) as ex:
            executor = self.executor
            plan = show_run(self.ctx.store, child.parent_run_id or "")
            if plan.status != RunStatus.AWAITING_APPROVAL:  # e.g. an apply queued while an
                # earlier apply of it ran, which failed: a spent plan is never applied again
                raise errors.RunRefused(
                    f"plan {plan.id} is {plan.status} now; it is not applied again. Run "
                    f"`tfctl plan {plan.workspace}`", workspace=plan.workspace, run_id=plan.id,
                )  # fmt: skip
            planned = f"{plan.created_at:%Y-%m-%d %H:%M:%S}Z"
            ex.sink.note(f"applying {plan.action.replace('-', ' ')} {plan.id} (planned by "
                         f"{plan.actor} at {planned})")  # fmt: skip
            backends.before_init(self.ctx, child.workspace_id, note=ex.sink.note)
            work = self._plan_workdir(plan, child, ex)
            if self._open_secrets(child.workspace_id, ex, environment=False):
                ex.forget.append(work / PLAN_FILE)  # it holds their values in clear text
            for line in report_lines(child.policy_results):  # an override, with its reason
                ex.sink.note(line)
            self.observer.phase("apply")
            try:
                result = executor.apply(work, ApplyOptions(plan_file=PLAN_FILE), **ex.kw)
                ex.outcome = replace(ex.outcome, exit_code=result.exit_code)
            except errors.StateLocked:
                raise  # terraform changed nothing; the state is another operation's
            except BaseException:
                self._snapshot_state(work, ex)  # a failed or interrupted apply wrote state
                raise
            self._snapshot_state(work, ex)
            backends.after_apply(self.ctx, ex.workspace_id, note=ex.sink.note)
            ex.sink.flush(patience=STORE_WAIT)  # the log is complete when the run ends
            self.ledger.finish(child.id, ex.outcome, RunStatus.APPLIED)
        return self._ended(child.id)

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
            # refuse a missing or too old binary before any run (asked once per binary file)
            self._executor.version(
                cache=settings.home.expanduser() / "cache" / "terraform-version.json"
            )
        return self._executor

    @property
    def policy_checker(self) -> PolicyChecker:
        if self._policy_checker is None:
            from tfctl.policy import PolicyChecker

            self._policy_checker = PolicyChecker(
                require_engine=self.ctx.settings.policy_require_engine
            )
        return self._policy_checker

    def run_dir(self, run_id: str) -> Path:
        return self.ctx.settings.runs_dir / run_id

    def state_path(self, workspace: str) -> Path:
        from tfctl.settings import local_state_path

        return local_state_path(self.ctx.settings.home, workspace)

    @contextlib.contextmanager
    def _executing(self, run: Run) -> Iterator[_Execution]:
        """Log sink and guard for `run`; whatever escapes ends the run errored or cancelled,
        the workspace is always released and the log always flushed."""
        sink = RunLogSink(self.ctx.store, run.id, self.run_dir(run.id), observer=self.observer.line)
        sink.add_secrets(self._scrub_secrets)
        lease = self.ctx.settings.heartbeat_timeout
        guard = RunGuard(self.ctx.store, run.id, heartbeat_interval=self.ctx.settings.
                         heartbeat_interval, lease=lease)  # fmt: skip
        ex = _Execution(run.id, run.workspace_id, sink, guard, grace_period=stop_grace(lease))
        guard.start()
        # A store outage is waited out (the guard fences terraform meanwhile), then recorded.
        with self.ctx.store.waiting(STORE_WAIT):
            try:
                with self.ctx.store.read() as session:
                    run_row = run_store.get_run(session=session, run_id=run.id)
                    self.observer.started(view(session, run_row))
                yield ex
            except BaseException as exc:
                if ex.workdir is not None:  # errored: the next run with its hash re-inits
                    ex.workdir.ended(run.id, exc)
                raise self._failed(ex, exc) from exc
            finally:
                if ex.workdir is not None:
                    ex.workdir.release()
                guard.close()
                sink.close(patience=SINK_WAIT)
                self._release(run)
                for path in ex.forget:
                    path.unlink(missing_ok=True)
                if run.plan_mode == PlanMode.ASSESSMENT:  # its log is in the store; never applied
                    shutil.rmtree(self.run_dir(run.id), ignore_errors=True)

    def _failed(self, ex: _Execution, exc: BaseException) -> BaseException:
        """Record how the run ended early, once the store has its log; returns the error to
        raise. Terraform stopped by the guard for another reason than a cancel is recorded
        with that reason (lost contact with the job store, declared lost elsewhere)."""
        from sqlalchemy.exc import OperationalError

        error = exc
        fenced = ex.guard.stopped in (Stop.FENCED, Stop.LOST, Stop.ENDED)
        if fenced and isinstance(exc, errors.TerraformCancelled | errors.StoreError |
                                 OperationalError):  # fmt: skip
            error = ex.guard.stop_error() or exc
        if error is not exc:
            ex.sink.note(str(error))
        ex.sink.flush(patience=STORE_WAIT)  # the log first: it is complete when the run ends
        return self.ledger.fail(ex.run_id, ex.outcome, error)

    def _release(self, run: Run) -> None:
        try:
            self.ledger.release(run)
        except Exception:  # never hides how the run ended; a lost run's lock is freed by
            # the next worker once its lease expired
            log.warning("could not release workspace of run %s", run.id, exc_info=True)

    def _ended(self, run_id: str) -> RunView:
        ended = show_run(self.ctx.store, run_id)
        self.observer.finished(ended)
        return ended

    # --- the steps -------------------------------------------------------------------------

    def _render(self, run: Run, work: Path, ex: _Execution) -> Configuration:
        from tfctl.codegen.render import render_workspace
        from tfctl.runs.workdir import Configuration
        from tfctl.spec import TerraformStackSpec

        with self.ctx.store.read() as session:
            ws = store.get_workspace_by_id(session=session, workspace_id=run.workspace_id)
            if run.spec_version_id is None:  # every plan row records one; never guess
                raise errors.RunError(f"run {run.id} records no spec version", run_id=run.id)
            row = store.get_spec_version_by_id(session=session, version_id=run.spec_version_id)
        spec = TerraformStackSpec.model_validate_json(row.canonical_json)
        sensitive = self._open_secrets(ws.id, ex, environment=True)  # never in a file
        merged = {**spec.variables, **ws.variables}
        values = {name: value for name, value in merged.items() if name not in sensitive}
        state = self.state_path(ws.name)
        state.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        rendered = render_workspace(
            spec=spec, variables=values, backend=ws.backend, backend_config=ws.backend_config,
            local_state_path=state, out_dir=work, from_environment=tuple(sensitive),
        )  # fmt: skip
        secrets = {str(values[n]) for n in rendered.sensitive_variables if n in values}
        secrets |= {os.environ[f"TF_VAR_{n}"] for n in rendered.sensitive_variables
                    if f"TF_VAR_{n}" in os.environ}  # fmt: skip
        self._remember_secrets(ex, secrets)
        ex.sink.note(f"rendered stack {spec.name} version {row.version} into {work}")
        return Configuration.of(ws.backend, ws.backend_config, spec.module_source)

    def _init(
        self, run: Run, work: Path, ex: _Execution, config: Configuration | None = None,
        *, sha256: str | None = None,
    ) -> None:  # fmt: skip
        """`terraform init` in `work`, or not: skipped when the workspace has a ready
        directory for the run's init hash (`sha256`, else computed from `work` and
        `config`); see runs/workdir.py. The hash is recorded on the run."""
        from tfctl.runs.workdir import Configuration, InitInputs, init_sha256
        from tfctl.runs.workdir import pending_hashes as pending

        executor, home = self.executor, self.ctx.settings.home.expanduser()
        if sha256 is None:
            config = config or Configuration.of_run(self.ctx.store, run)
            sha256 = init_sha256(work, InitInputs.of(config, executor, home))
        self.observer.phase("init")
        ex.workdir = self._workdirs().prepare(
            work, workspace_id=run.workspace_id, run_id=run.id, sha256=sha256,
            reinit=run.reinit, init=lambda: executor.init(work, **ex.kw), note=ex.sink.note,
            check=ex.guard.raise_if_stopped,
            protect=lambda: pending(self.ctx.store, run.workspace_id),
        )  # fmt: skip
        ex.outcome = replace(ex.outcome, init_sha256=sha256)

    def _open_secrets(
        self, workspace_id: str, ex: _Execution, *, environment: bool
    ) -> dict[str, str]:
        """The workspace's sensitive variables (`--var-sensitive`), decrypted in this process
        only: scrubbed from every later log line and, with `environment`, given to this
        run's terraform commands as TF_VAR_<name>."""
        from tfctl.secrets import load_keyring, open_all, terraform_environment

        with self.ctx.store.read() as session:
            ws = store.get_workspace_by_id(session=session, workspace_id=workspace_id)
            if not ws.sensitive_variables:
                return {}
            values = open_all(load_keyring(self.ctx.settings), ws)
        self._remember_secrets(ex, set(values.values()))
        if environment:
            ex.env.update(terraform_environment(values))
        return values

    def _plan_options(self, mode: PlanMode) -> Any:
        from tfctl.terraform.commands import PlanOptions

        return PlanOptions(
            out=PLAN_FILE,
            destroy=mode is PlanMode.DESTROY,
            refresh_only=mode is PlanMode.REFRESH_ONLY,
            detailed_exitcode=True,
            # an assessment reads the state without terraform's lock, so it never makes a
            # plan or apply started meanwhile fail on it (runs/drift.py)
            lock=mode is not PlanMode.ASSESSMENT,
        )

    def _summarise(
        self, run: Run, work: Path, ex: _Execution, *, gate: bool = True
    ) -> tuple[dict[str, Any], bool, dict[str, Any] | None]:
        """Summarise `show -json` of the plan, say whether it holds sensitive values, and run
        the policy gate on it (with `gate`: not for a plan nobody applies). The JSON holds
        secrets in clear text: it is deleted right after these two reads, and never stored.

        `show -json` is needed even with no policy attached: `plan -json`'s stream carries
        no values, so it cannot say which values are sensitive (they must be scrubbed from
        the apply's log before it starts: `terraform_data.output` copies a sensitive input
        unmarked), nor whether the plan file must be encrypted before it is shared, nor
        the outputs' before/after and the attributes that force a replacement that the
        stored summary shows."""
        from tfctl.policy.service import check_plan
        from tfctl.terraform.summary import read_plan

        plan_json = work.parent / "plan.json"
        try:
            self.executor.show_json(work, PLAN_FILE, plan_json, **ex.kw)
            plan_summary, secrets = read_plan(plan_json)  # one streaming pass, ~2x file size
            self._remember_secrets(ex, secrets)  # before policy messages are scrubbed
            policy = None
            if gate:
                policy = check_plan(self.ctx.store, self.policy_checker, run.workspace_id,
                                    plan_json, scrub=ex.sink.scrub, note=ex.sink.note)  # fmt: skip
        finally:
            plan_json.unlink(missing_ok=True)
        summary = plan_summary.to_json_dict()
        scrubbed: dict[str, Any] = json.loads(ex.sink.scrub(json.dumps(summary)))
        return scrubbed, bool(secrets), policy

    def _share_plan(self, run_id: str, work: Path, *, sensitive: bool) -> str:
        from tfctl.runs import artifacts

        key = self.ctx.settings.artifact_key
        return artifacts.save(self.ctx.store, run_id, work, sensitive=sensitive, key=key)

    def _remember_secrets(self, ex: _Execution, secrets: set[str]) -> None:
        self._scrub_secrets |= secrets
        ex.sink.add_secrets(secrets)

    def _plan_workdir(self, plan: RunView, child: Run, ex: _Execution) -> Path:
        """The plan's working directory, verified to hold exactly the recorded plan file,
        with the initialised directory of the plan's init hash (initialised again if it is
        not ready, or with --reinit). A directory outside this machine's runs root (another
        worker's, another machine's) is not used: the plan is restored from the job store
        and initialised here."""
        row = self._plan_row(plan)
        work = self._recorded_workdir(row)
        if work is None:
            work = self.run_dir(plan.id) / "work"
            if not (work / PLAN_FILE).is_file():
                self._restore(plan, work)
                ex.sink.note(f"restored plan {plan.id} (planned on {plan.host}) into {work}")
            self._init(child, work, ex)
        elif row.init_sha256 is not None:  # else: the plan's own .terraform/
            self._init(child, work, ex, sha256=row.init_sha256)
        if _sha256(work / PLAN_FILE) != plan.plan_sha256:
            raise errors.RunRefused(
                f"the plan file of run {plan.id} changed after it was planned (its SHA-256 no "
                f"longer matches); it will not be applied. Run `tfctl plan {plan.workspace}`",
                workspace=plan.workspace, run_id=plan.id,
            )  # fmt: skip
        return work

    def _workdirs(self) -> WorkDirs:
        from tfctl.runs.workdir import WorkDirs

        return WorkDirs(self.ctx.settings.home.expanduser() / "workdirs")

    def _plan_row(self, plan: RunView) -> Run:
        with self.ctx.store.read() as session:
            return run_store.get_run(session=session, run_id=plan.id)

    def _recorded_workdir(self, plan: Run) -> Path | None:
        """The plan's own working directory when it is under this machine's runs root and
        still holds a plan file; None otherwise."""
        work = Path(plan.work_dir) if plan.work_dir else self.run_dir(plan.id) / "work"
        root = self.ctx.settings.runs_dir.resolve()
        return work if work.is_relative_to(root) and (work / PLAN_FILE).is_file() else None

    def _restore(self, plan: RunView, dest: Path) -> None:
        from tfctl.runs import artifacts

        artifacts.restore(self.ctx.store, plan.id, dest, key=self.ctx.settings.artifact_key)

    @contextlib.contextmanager
    def saved_plan_json(self, plan: RunView) -> Iterator[tuple[Path, set[str]]]:
        """`terraform show -json` of a recorded plan, in a private temporary file that is
        removed on exit (it holds secrets in clear text), with the plan's sensitive values.
        The plan's own directory is used when it holds exactly the recorded plan file; else
        the plan is restored from the job store into a scratch directory."""
        import tempfile

        from tfctl.terraform.summary import read_plan

        if plan.operation != Operation.PLAN or not plan.plan_sha256:
            raise errors.InvalidInput(
                f"run {plan.id} is not a plan with a saved plan file", run_id=plan.id
            )
        with (
            tempfile.TemporaryDirectory(prefix="tfctl-plan-") as tmp,
            contextlib.ExitStack() as used,
        ):
            row = self._plan_row(plan)
            work = self._recorded_workdir(row)
            if work is None or _sha256(work / PLAN_FILE) != plan.plan_sha256:
                work = Path(tmp) / "work"
                self._restore(plan, work)
                self.executor.init(work)
            elif row.init_sha256 is not None:  # its initialised directory
                lease = self._workdirs().prepare(
                    work, workspace_id=row.workspace_id, run_id=row.id, sha256=row.init_sha256,
                    reinit=False, init=lambda: self.executor.init(work), note=log.info,
                )  # fmt: skip
                used.callback(lease.release)
            plan_json = Path(tmp) / "plan.json"
            self.executor.show_json(work, PLAN_FILE, plan_json)
            _, secrets = read_plan(plan_json)
            yield plan_json, secrets

    def _snapshot_state(self, work: Path, ex: _Execution) -> None:
        """Record the workspace's state after an apply (even a failed or interrupted one:
        terraform writes what it did). Only a changed state makes a new state version."""
        from tfctl.terraform.state import sensitive_values, snapshot_state

        try:  # a state file left torn by a full disk is a note, never the run's error
            raw = self._read_state(work, ex)
            snapshot = snapshot_state(raw)
        except errors.TfctlError as exc:
            ex.sink.note(f"could not read the state after the run: {exc}")
            return
        self._remember_secrets(ex, sensitive_values(raw))
        with self.ctx.store.write() as session:
            latest = run_store.state_versions(
                session=session, workspace_id=ex.workspace_id, limit=1
            )
            if snapshot.lineage is None or (latest and latest[0].sha256 == snapshot.sha256):
                return
            if (
                latest
                and latest[0].lineage == snapshot.lineage
                and latest[0].serial > snapshot.serial
            ):
                # a process that lost its lease records late: a later run's state stays latest
                newer = latest[0]
                ex.sink.note(f"state serial {snapshot.serial} not recorded: run {newer.run_id} "
                             f"recorded the newer serial {newer.serial}")  # fmt: skip
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

    def _read_state(self, work: Path, ex: _Execution) -> bytes:
        """The state after a run, as `terraform state pull` prints it: for the `local`
        backend read from its file (the same bytes and SHA-256, one terraform process
        fewer), else pulled from the backend."""
        from tfctl.terraform.state import local_state_file, state_file_as_pulled

        path = local_state_file(work)
        raw = None if path is None else state_file_as_pulled(path)
        if raw is not None:
            return raw
        # not `ex.kw`: a cancelled or fenced apply still records what terraform wrote
        return self.executor.state_pull(work, on_line=ex.sink, extra_env=ex.env or None)


def _has_changes(summary: dict[str, Any], mode: PlanMode) -> bool:
    """Whether a plan has anything to apply, from its content rather than terraform's exit
    code: a refresh-only plan's `-detailed-exitcode` is 0 or 2 at random when resources
    have several sensitive attributes (hashicorp/terraform#35117, measured on 1.11.4).
    For a refresh-only plan, drift is the change; for other plans it is only reported."""
    drift = mode is PlanMode.REFRESH_ONLY and bool(summary.get("has_drift"))
    return bool(summary.get("has_changes")) or drift


def _landing(
    summary: dict[str, Any], mode: PlanMode, *, changes: bool, overlap: str | None
) -> tuple[RunStatus, str | None]:
    """Where a plan ends: awaiting approval or no changes; an assessment in sync (no
    changes), drifted, or superseded when a state-changing run overlapped it."""
    if mode is PlanMode.ASSESSMENT:
        return drift.landing(summary, overlap)
    return (RunStatus.AWAITING_APPROVAL if changes else RunStatus.NO_CHANGES), None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _str(value: object) -> str | None:
    return None if value is None else str(value)
