"""`--queue` and `--wait`: hand a run to the workers, and optionally follow it to its end."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from tfctl.cli.context import note, print_json

if TYPE_CHECKING:
    from tfctl.context import AppContext
    from tfctl.persistence.kinds import Operation, PlanMode
    from tfctl.runs.executor import TerraformRuntime
    from tfctl.runs.ledger import Labels
    from tfctl.runs.views import RunView


def submit(
    runtime: TerraformRuntime,
    workspace: str,
    *,
    operation: Operation,
    mode: PlanMode,
    labels: Labels,
    plan_run_id: str | None = None,
    auto_apply: bool = False,
    wait: bool = False,
    as_json: bool = False,
    detailed_exitcode: bool = False,
    confirm: str | None = None,
) -> None:
    """Queue the run; print its id (or, with `wait`, follow it and exit by its outcome)."""
    run = runtime.enqueue(workspace, operation=operation, mode=mode, plan_run_id=plan_run_id,
                          auto_apply=auto_apply, labels=labels, confirm=confirm)  # fmt: skip
    _warn_without_workers(runtime.ctx)
    if not wait:
        if as_json:
            print_json(run.to_dict())
        else:
            print(f"queued {run.action} run {run.id}; follow it with "
                  f"`tfctl runs logs {run.id} --follow`")  # fmt: skip
        return
    final = follow(runtime.ctx, run.id)
    _report(runtime.ctx, final, as_json=as_json, detailed_exitcode=detailed_exitcode)


def follow(ctx: AppContext, run_id: str) -> RunView:
    """Stream the run's log to stderr until it ends (and its auto-apply child, if any)."""
    from tfctl.persistence import runs as run_store
    from tfctl.runs.views import follow_logs, show_run

    while True:
        for _stream, line in follow_logs(ctx.store, run_id, follow=True):
            note(f"{run_id} | {line}")
        final = show_run(ctx.store, run_id)
        with ctx.store.read() as session:
            children = run_store.children(session=session, run_id=run_id)
        if not (final.auto_apply and children):
            return final
        run_id = children[-1].id  # the plan was approved in advance: follow its apply


def _report(ctx: AppContext, run: RunView, *, as_json: bool, detailed_exitcode: bool) -> None:
    from tfctl import errors
    from tfctl.persistence.kinds import RunStatus

    if as_json:
        print_json(run.to_dict())
    else:
        print(f"{run.workspace}: {run.action} run {run.id} {run.status}")
    if run.auto_apply and run.status == RunStatus.AWAITING_APPROVAL:
        # approved in advance, yet not applied: the policy gate held it back
        raise errors.PolicyBlocked(f"run {run.id} was not applied: {run.message or 'blocked'}")
    if run.status == RunStatus.CANCELLED:
        raise errors.Cancelled(f"run {run.id} was cancelled: {run.message or 'no reason given'}")
    if run.status == RunStatus.ERRORED:
        raise errors.RunError(f"run {run.id} failed: {run.message or 'see its log'}")
    if detailed_exitcode and run.has_changes:
        ctx.has_changes = True
        raise typer.Exit(2)


def _warn_without_workers(ctx: AppContext) -> None:
    from tfctl.runs.worker import list_workers

    if not list_workers(ctx):
        note(
            "no worker has heartbeated recently: the run waits in the queue until one starts "
            "(`tfctl worker`)"
        )
