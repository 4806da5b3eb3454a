"""What each MCP tool does, in plain Python: the run service and the functions behind the
CLI's `--json`, with the caller's name recorded as the actor and, over HTTP, its token's role
checked as the REST API checks it. Nothing here knows the MCP SDK (see `server.py`).

Results are the CLI's `--json` shapes (sensitive values are redacted where they are stored:
state outputs, logs); lists come wrapped in an object (`{"runs": [...]}`) so that a tool
answers one JSON document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence.kinds import PlanMode
from tfctl.server.tokens import Role

if TYPE_CHECKING:
    from tfctl.context import AppContext
    from tfctl.runs.service import RunService
    from tfctl.runs.views import RunView


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls a tool. `actor` is recorded on the runs it starts or stops (`mcp:<client>`
    over stdio, the token's name over HTTP); `role` is the token's role over HTTP, None over
    stdio (the local user, limited only by TFCTL_MCP_ENABLE_OPERATIONS)."""

    actor: str
    role: Role | None = None

    def require(self, needed: Role, what: str) -> None:
        if self.role is not None and not self.role.allows(needed):
            raise errors.RunRefused(
                f"token '{self.actor}' has the {self.role.value} role; {what} needs {needed.value}"
            )


class Tools:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @property
    def service(self) -> RunService:
        from tfctl.runs.service import RunService

        return RunService(self.ctx)

    # --- reading ---------------------------------------------------------------------------

    def list_stacks(self) -> dict[str, Any]:
        from tfctl.stacks import list_stacks

        return {"stacks": list_stacks(self.ctx.store)}

    def get_stack(self, name: str, version: int | None = None) -> dict[str, Any]:
        from tfctl.stacks import show_version

        return show_version(self.ctx.store, name, version).to_dict()

    def list_workspaces(self) -> dict[str, Any]:
        from tfctl.workspaces import list_workspaces

        return {"workspaces": [view.to_dict() for view in list_workspaces(self.ctx.store)]}

    def get_workspace(self, name: str) -> dict[str, Any]:
        """The workspace with its latest run and current state (as `GET /terraform/workspaces/
        NAME` answers)."""
        from tfctl.workspaces import show_workspace

        data = show_workspace(self.ctx.store, name).to_dict()
        latest = self.service.list_runs(workspace=name, limit=1)
        data["latest_run"] = latest[0].to_dict() if latest else None
        data["current_state"] = self._current_state(name)
        return data

    def list_runs(
        self, workspace: str | None = None, statuses: list[str] | None = None, limit: int = 20
    ) -> dict[str, Any]:
        svc = self.service
        views = svc.list_runs(workspace=workspace, statuses=statuses or (), limit=limit)
        waits = svc.waiting_for(views)
        return {"runs": [dict(run.to_dict(), waiting_for=waits.get(run.id)) for run in views]}

    def get_run(self, run_id: str) -> dict[str, Any]:
        svc = self.service
        run = svc.get(run_id)
        return dict(run.to_dict(), waiting_for=svc.waiting_for([run]).get(run.id))

    def get_run_logs(self, run_id: str, after: int = 0, limit: int = 200) -> dict[str, Any]:
        return self.service.logs(run_id, after=after, limit=limit).to_dict()

    def get_state_outputs(self, workspace: str) -> dict[str, Any]:
        """The outputs of the newest state version (sensitive values redacted)."""
        state = self._current_state(workspace)
        if state is None:
            raise errors.NotFound(
                f"workspace '{workspace}' has no state version yet: nothing was applied; "
                "create_plan, then apply it"
            )
        keys = ("workspace", "serial", "run_id", "created_at", "outputs")
        return {key: state[key] for key in keys}

    def get_drift_status(self, workspace: str | None) -> dict[str, Any]:
        """The drift of every workspace, or of one (`tfctl drift status --json`'s shape)."""
        from tfctl.runs.service import RunService

        names = None if workspace is None else [workspace]
        views = RunService(self.ctx).drift_status(names)
        return {"workspaces": [view.to_dict() for view in views]}

    def _current_state(self, workspace: str) -> dict[str, Any] | None:
        from tfctl.state_versions import show_state
        from tfctl.workspaces import show_workspace

        show_workspace(self.ctx.store, workspace)  # an unknown workspace is an error
        try:
            return show_state(self.ctx.store, workspace)
        except errors.NotFound:
            return None

    # --- starting runs (queued for the workers) --------------------------------------------

    def create_plan(
        self, caller: Caller, workspace: str, mode: PlanMode = PlanMode.NORMAL,
        experiment_id: str | None = None, test_id: str | None = None, *, reinit: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        from tfctl.runs.service import Labels

        what = "creating a destroy plan" if mode is PlanMode.DESTROY else "creating a plan"
        caller.require(Role.OPERATOR, what)
        labels = Labels(experiment_id=experiment_id, test_id=test_id)
        run = self.service.enqueue_plan(workspace, mode=mode, actor=caller.actor, labels=labels,
                                        reinit=reinit)  # fmt: skip
        return self._queued(run)

    def apply_run(
        self, caller: Caller, run_id: str, plan_sha256: str, confirm: str | None = None
    ) -> dict[str, Any]:
        """Queue the apply of exactly the plan `run_id` whose SHA-256 is `plan_sha256`; a
        destroy plan also needs `confirm` = its workspace's name. Never a policy override."""
        svc = self.service
        plan = svc.get(run_id)
        if plan.plan_mode == PlanMode.DESTROY:
            caller.require(Role.ADMIN, "applying a destroy plan")
        else:
            caller.require(Role.OPERATOR, "applying a plan")
        run = svc.enqueue_apply(plan.workspace, plan_run_id=plan.id, plan_sha256=plan_sha256,
                                confirm=confirm, actor=caller.actor)  # fmt: skip
        return self._queued(run)

    # --- stopping runs -----------------------------------------------------------------------

    def discard_run(self, caller: Caller, run_id: str) -> dict[str, Any]:
        caller.require(Role.OPERATOR, "discarding a plan")
        return self.service.discard(run_id, actor=caller.actor).to_dict()

    def cancel_run(self, caller: Caller, run_id: str) -> dict[str, Any]:
        caller.require(Role.OPERATOR, "cancelling a run")
        return self.service.cancel(run_id, actor=caller.actor).to_dict()

    def halt(self, caller: Caller, reason: str, workspace: str | None = None) -> dict[str, Any]:
        """The kill switch; the `tfctl halt --json` shape."""
        caller.require(Role.ADMIN, "halting")
        report = self.service.halt(actor=caller.actor, workspace=workspace, reason=reason)
        return report.to_dict()

    # --- what a queued run waits for ---------------------------------------------------------

    def _queued(self, run: RunView) -> dict[str, Any]:
        """The queued run, what it waits for, and in words what happens next (saying so when
        no worker is alive to execute it)."""
        svc = self.service
        waiting = svc.waiting_for([run]).get(run.id)
        alive = bool(svc.workers())
        return dict(run.to_dict(), waiting_for=waiting, note=self._note(run, alive=alive))

    def _note(self, run: RunView, *, alive: bool) -> str:
        follow = f"follow it with get_run('{run.id}') and get_run_logs('{run.id}')"
        if alive:
            return f"queued for the workers; {follow}"
        if self.ctx.settings.celery_broker_url:
            return (
                "queued and published to the Celery queue 'terraform'; no tfctl worker is "
                "alive, so it runs when a Celery worker (`celery -A tfctl.celery worker -Q "
                f"terraform`) takes it; {follow}"
            )
        return (
            "queued, but no worker is alive: it waits until one starts (`tfctl worker`, or "
            f"`tfctl serve` with worker slots, on a machine sharing this store); {follow}"
        )
