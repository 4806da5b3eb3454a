"""RunService: the one API every front end calls to start, watch and stop runs.

The CLI, the HTTP routes and pages, the MCP tools, the Celery task and drift assessments are
thin wrappers of this class: none of them opens a store session, touches the ledger or
starts a process. Each method that acts takes the `actor` who asked (a user, a token's name,
`mcp:<client>`, a worker) and records it; None means the context's actor.

Runs either execute in this process (`plan`, `apply`: blocking, the log streamed to the
observer) or are queued (`enqueue_plan`, `enqueue_apply`) for whatever executes queued runs:
`tfctl worker`, `serve`'s embedded slots, Celery — each claims with `claim_next` and calls
`execute`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tfctl.persistence.kinds import Operation, PlanMode
from tfctl.runs.ledger import NO_LABELS as NO_LABELS
from tfctl.runs.ledger import Labels as Labels
from tfctl.runs.ledger import RunLedger, RunRequest
from tfctl.runs.ledger import require_destroy_confirmation as require_destroy_confirmation
from tfctl.runs.views import LogPage, RunPage, RunView

if TYPE_CHECKING:
    from tfctl.context import AppContext
    from tfctl.policy import PolicyChecker
    from tfctl.runs.control import HaltReport
    from tfctl.runs.drift import Assessment, DriftView
    from tfctl.runs.executor import RunExecutor, RunObserver
    from tfctl.terraform.runner import TerraformExecutor


class RunService:
    def __init__(
        self,
        ctx: AppContext,
        *,
        observer: RunObserver | None = None,
        executor: TerraformExecutor | None = None,
        policy_checker: PolicyChecker | None = None,
    ) -> None:
        self.ctx = ctx
        self.ledger = RunLedger(ctx)
        self._observer = observer
        self._terraform = executor
        self._policy_checker = policy_checker
        self._runner: RunExecutor | None = None

    # --- in this process -------------------------------------------------------------

    def plan(
        self,
        workspace: str,
        *,
        mode: PlanMode = PlanMode.NORMAL,
        actor: str | None = None,
        labels: Labels = NO_LABELS,
        reinit: bool = False,
    ) -> RunView:
        """Plan `workspace` against its stack's latest spec version, here and now. Ends
        `awaiting_approval` (older awaiting plans become `superseded`) or `no_changes`.
        `terraform init` is skipped when nothing it depends on changed since the
        workspace's last init here (runs/workdir.py), unless `reinit`."""
        runner = self.runner  # refuse a missing or too old terraform before a run exists
        _ = runner.executor
        request = RunRequest(workspace, Operation.PLAN, self._actor(actor), mode, labels,
                             reinit=reinit)  # fmt: skip
        return runner.execute(self.ledger.open(request))

    def apply(
        self,
        workspace: str,
        *,
        plan_run_id: str | None = None,
        plan_sha256: str | None = None,
        confirm: str | None = None,
        override_reason: str | None = None,
        actor: str | None = None,
        labels: Labels = NO_LABELS,
        reinit: bool = False,
    ) -> RunView:
        """Apply exactly the approved plan `plan_run_id` (default: the workspace's newest
        plan) in a child run, here and now, then record the resulting state version.
        `reinit`: initialise the plan's terraform directory again first.
        Refused, before anything runs, unless the plan may be applied — checked once, in
        the transaction that opens the apply: `RunRefused` (not awaiting approval),
        `ConfirmationRequired` (a destroy plan without `confirm` = the workspace's name),
        `PlanMismatch` (`plan_sha256` given and different), `PolicyBlocked` (unless
        `override_reason` covers a soft_mandatory failure)."""
        runner = self.runner
        _ = runner.executor
        request = RunRequest(
            workspace, Operation.APPLY, self._actor(actor), labels=labels,
            plan_run_id=plan_run_id, plan_sha256=plan_sha256,
            override_reason=override_reason, confirm=confirm, reinit=reinit,
        )  # fmt: skip
        return runner.execute(self.ledger.open(request))

    # --- queued ----------------------------------------------------------------------

    def enqueue_plan(
        self,
        workspace: str,
        *,
        mode: PlanMode = PlanMode.NORMAL,
        auto_apply: bool = False,
        confirm: str | None = None,
        actor: str | None = None,
        labels: Labels = NO_LABELS,
        reinit: bool = False,
    ) -> RunView:
        """Queue a plan and return at once. With `auto_apply` it is applied as soon as it
        awaits approval (the caller approved in advance; a destroy plan only with `confirm`
        = the workspace's name), unless policy blocks it. `reinit` is recorded on the run:
        whoever executes it runs `terraform init` again."""
        request = RunRequest(workspace, Operation.PLAN, self._actor(actor), mode, labels,
                             confirm=confirm, auto_apply=auto_apply,
                             reinit=reinit)  # fmt: skip
        return self._published(self.ledger.enqueue(request))

    def enqueue_apply(
        self,
        workspace: str,
        *,
        plan_run_id: str | None = None,
        plan_sha256: str | None = None,
        confirm: str | None = None,
        override_reason: str | None = None,
        actor: str | None = None,
        labels: Labels = NO_LABELS,
        reinit: bool = False,
    ) -> RunView:
        """Queue the apply of an approved plan; refused now, as `apply` would refuse it."""
        request = RunRequest(
            workspace, Operation.APPLY, self._actor(actor), labels=labels,
            plan_run_id=plan_run_id, plan_sha256=plan_sha256,
            override_reason=override_reason, confirm=confirm, reinit=reinit,
        )  # fmt: skip
        return self._published(self.ledger.enqueue(request))

    def enqueue(
        self,
        workspace: str,
        *,
        operation: Operation,
        mode: PlanMode = PlanMode.NORMAL,
        plan_run_id: str | None = None,
        auto_apply: bool = False,
        confirm: str | None = None,
        override_reason: str | None = None,
        actor: str | None = None,
        labels: Labels = NO_LABELS,
        reinit: bool = False,
    ) -> RunView:
        """`enqueue_plan` or `enqueue_apply` by `operation`."""
        if operation is Operation.APPLY:
            return self.enqueue_apply(workspace, plan_run_id=plan_run_id, confirm=confirm,
                                      override_reason=override_reason, actor=actor,
                                      labels=labels, reinit=reinit)  # fmt: skip
        return self.enqueue_plan(workspace, mode=mode, auto_apply=auto_apply, confirm=confirm,
                                 actor=actor, labels=labels, reinit=reinit)  # fmt: skip

    def claim_next(self, *, worker: str) -> str | None:
        """Claim the oldest runnable queued run for `worker` (atomically: a run is claimed
        once, whoever else asks), after declaring runs whose lease expired lost."""
        from tfctl.persistence.runs import claim_next

        self.ledger.reap_lost()
        with self.ctx.store.write() as session:
            run = claim_next(session=session, worker=worker)
            return None if run is None else run.id

    def claim(self, run_id: str, *, worker: str) -> bool:
        """Claim the queued run `run_id` for `worker` if it may start now (its workspace is
        free and no older queued run of it waits): True when `worker` now holds it. False
        when it is no longer queued (claimed by someone else, finished, cancelled: a Celery
        message delivered twice changes nothing) or must wait its turn."""
        from tfctl.persistence.runs import claim_run

        self.ledger.reap_lost()
        with self.ctx.store.write() as session:
            return claim_run(session=session, run_id=run_id, worker=worker) is not None

    def execute(self, run_id: str) -> RunView:
        """Execute a claimed run (it is `running` and holds its workspace)."""
        from tfctl.persistence.runs import get_run

        with self.ctx.store.read() as session:
            run = get_run(session=session, run_id=run_id)
        return self.runner.execute(run)

    def reap_lost(self) -> list[str]:
        return self.ledger.reap_lost()

    # --- reading ---------------------------------------------------------------------

    def get(self, run_id: str) -> RunView:
        """The run `run_id` (any unique abbreviation of its id)."""
        from tfctl.runs.views import show_run

        return show_run(self.ctx.store, run_id)

    def list_runs(
        self, *, workspace: str | None = None, statuses: Sequence[str] = (), limit: int = 50
    ) -> list[RunView]:
        """Newest first."""
        from tfctl.runs.views import list_runs

        return list_runs(self.ctx.store, workspace=workspace, status=list(statuses), limit=limit)

    def run_page(
        self,
        *,
        workspace: str | None = None,
        statuses: Sequence[str] = (),
        limit: int = 50,
        after: str | None = None,
        before: str | None = None,
    ) -> RunPage:
        """A page of runs, newest first: after the cursor `after` (the `next` of the page
        before) or older than the run `before` (any abbreviation of its id); its `next`
        names the page after it (None: no more runs)."""
        from tfctl.runs.views import run_page

        return run_page(self.ctx.store, workspace=workspace, status=list(statuses),
                        limit=limit, after=after, before=before)  # fmt: skip

    def short_ids(self, run_ids: Iterable[str]) -> dict[str, str]:
        """The shortest unique abbreviation of each run id (the end of it), for tables: any
        command that takes a run id accepts it."""
        from tfctl.runs.views import short_ids

        return short_ids(self.ctx.store, list(run_ids))

    def children(self, run_id: str) -> list[RunView]:
        from tfctl.runs.views import children

        return children(self.ctx.store, run_id)

    def pending_plan(self, workspace: str) -> RunView | None:
        """The workspace's newest plan if it awaits approval."""
        return self.ledger.pending_plan(workspace)

    def preview(
        self, workspace: str, plan_run_id: str | None = None, *, override_reason: str | None = None
    ) -> RunView:
        """The plan an apply would apply, refused now if it could not be (so nobody is asked
        to approve what will be refused). The apply checks again and decides."""
        return self.ledger.preview(workspace, plan_run_id, override_reason=override_reason)

    def logs(self, run_id: str, *, after: int = 0, limit: int = 1000) -> LogPage:
        """At most `limit` log lines after sequence number `after`, and whether the log is
        complete (the run is done)."""
        from tfctl.runs.views import log_page

        return log_page(self.ctx.store, run_id, after=after, limit=limit)

    def follow(
        self, run_id: str, *, follow: bool = True, poll_interval: float = 0.5
    ) -> Iterator[tuple[str, str]]:
        """`(stream, line)` of the run's log; with `follow`, until the run is done."""
        from tfctl.runs.views import follow_logs

        return follow_logs(self.ctx.store, run_id, follow=follow, poll_interval=poll_interval)

    def waiting_for(self, views: Iterable[RunView]) -> dict[str, str]:
        """For each queued run, what it waits for (a run, a worker)."""
        from tfctl.runs.views import waiting_for

        return waiting_for(self.ctx.store, list(views),
                           heartbeat_timeout=self.ctx.settings.heartbeat_timeout)  # fmt: skip

    def workers(self) -> list[dict[str, object]]:
        """Live workers, the `tfctl worker list --json` shape."""
        from tfctl.runs.views import list_workers

        return list_workers(self.ctx.store, heartbeat_timeout=self.ctx.settings.heartbeat_timeout)

    def saved_plan_json(
        self, plan: RunView
    ) -> contextlib.AbstractContextManager[tuple[Path, set[str]]]:
        """`terraform show -json` of a recorded plan in a private temporary file (removed on
        exit: it holds secrets in clear text), with the plan's sensitive values."""
        return self.runner.saved_plan_json(plan)

    # --- control ---------------------------------------------------------------------

    def cancel(self, run_id: str, *, actor: str | None = None) -> RunView:
        """Cancel a queued, running or awaiting run; a running terraform notices within a
        poll interval (wherever it runs) and is interrupted gracefully."""
        from tfctl.runs.control import cancel

        return cancel(self.ctx.store, run_id, actor=self._actor(actor))

    def discard(self, run_id: str, *, actor: str | None = None) -> RunView:
        """Discard a plan that awaits approval; it can never be applied afterwards."""
        from tfctl.runs.control import discard

        return discard(self.ctx.store, run_id, actor=self._actor(actor))

    def halt(
        self, *, actor: str | None = None, workspace: str | None = None, reason: str | None = None
    ) -> HaltReport:
        """The kill switch: cancel every queued, running and awaiting run (of `workspace`,
        or of all), marked halted."""
        from tfctl.runs.control import halt
        from tfctl.runs.notices import announce_halt

        report = halt(self.ctx.store, actor=self._actor(actor), workspace=workspace,
                      reason=reason)  # fmt: skip
        announce_halt(self.ctx, report)
        return report

    # --- drift assessments (runs/drift.py) ---------------------------------------------

    def assess(
        self,
        workspaces: Sequence[str] | None = None,
        *,
        queue: bool = False,
        actor: str | None = None,
        on_result: Callable[[Assessment], None] | None = None,
        reinit: bool = False,
    ) -> list[Assessment]:
        """Assess `workspaces` (None: every workspace that takes part, see
        `drift.targets`) for drift, one after the other here, or queued for workers
        (`queue`). An assessment is a plan that is never applied, never supersedes a pending
        plan and blocks no run; a busy workspace is skipped. Unknown names are refused before
        anything runs. `on_result` is told each result as it comes. `reinit`: each
        assessment runs `terraform init` again."""
        from tfctl.runs.drift import targets

        names, results = targets(self.ctx.store, workspaces)
        if names and not queue:
            _ = self.runner.executor  # refuse a missing or too old terraform first
        for name in names:
            result = self._assess_one(name, queue=queue, actor=actor, reinit=reinit)
            results.append(result)
            if on_result is not None:
                on_result(result)
        return sorted(results, key=lambda a: a.workspace)

    def _assess_one(
        self, name: str, *, queue: bool, actor: str | None, reinit: bool = False
    ) -> Assessment:
        from tfctl import errors
        from tfctl.runs.drift import Assessment

        try:
            if queue:
                return Assessment.of(self.enqueue_plan(name, mode=PlanMode.ASSESSMENT,
                                                       actor=actor, reinit=reinit))  # fmt: skip
            return Assessment.of(self.plan(name, mode=PlanMode.ASSESSMENT, actor=actor,
                                           reinit=reinit))  # fmt: skip
        except errors.WorkspaceBusy as exc:
            return Assessment(name, "skipped", exc.run_id, exc.message)
        except errors.TfctlError as exc:  # recorded on its run; the others go on
            return Assessment(name, "failed", exc.run_id, exc.message)

    def drift_status(self, workspaces: Sequence[str] | None = None) -> list[DriftView]:
        """Each workspace's latest conclusive assessment (in sync, drifted, failed), by name."""
        from tfctl.runs.drift import drift_views

        return drift_views(self.ctx.store, workspaces)

    def schedule_assessments(
        self, *, every: float, limit: int, actor: str | None = None
    ) -> list[RunView]:
        """Queue an assessment for up to `limit` idle workspaces whose turn has come (each
        at most once per `every` seconds across all callers: the store decides)."""
        from tfctl import errors
        from tfctl.runs.drift import claim_due

        queued = []
        for name in claim_due(self.ctx.store, every=every, limit=limit):
            try:
                queued.append(self.enqueue_plan(name, mode=PlanMode.ASSESSMENT, actor=actor))
            except errors.WorkspaceBusy:  # a run started since: its next turn comes
                continue
        return queued

    # --- the pieces --------------------------------------------------------------------

    @property
    def runner(self) -> RunExecutor:
        if self._runner is None:
            from tfctl.runs.executor import RunExecutor

            self._runner = RunExecutor(self.ctx, self.ledger, executor=self._terraform,
                                       observer=self._observer,
                                       policy_checker=self._policy_checker)  # fmt: skip
        return self._runner

    @property
    def executor(self) -> TerraformExecutor:
        """The one TerraformExecutor runs use (terraform's version checked on first use)."""
        return self.runner.executor

    @property
    def policy_checker(self) -> PolicyChecker:
        return self.runner.policy_checker

    def run_dir(self, run_id: str) -> Path:
        return self.ctx.settings.runs_dir / run_id

    def state_path(self, workspace: str) -> Path:
        from tfctl.settings import local_state_path

        return local_state_path(self.ctx.settings.home, workspace)

    def _actor(self, actor: str | None) -> str:
        return actor if actor is not None else self.ctx.actor

    # --- Celery (TFCTL_CELERY_BROKER_URL) -----------------------------------------------

    def _published(self, run: RunView) -> RunView:
        """With a Celery broker set, also send the queued run as the task
        `tfctl.execute_run` (tfctl.runs.publish). The store stays the ledger: a lost or
        repeated message changes nothing, so a broker failure is only a warning."""
        if self.ctx.settings.celery_broker_url:
            from tfctl.runs.publish import publish

            publish(self.ctx.settings, run.id)
        return run
