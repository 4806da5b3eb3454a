"""`tfctl runs`: what ran, what is running, and its logs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tfctl.cli.context import JSON_OPTION, app_context, print_json, stdout_console, table

app = typer.Typer(
    help="Runs: list, show, follow logs, discard plans, cancel.", no_args_is_help=True
)

if TYPE_CHECKING:
    from tfctl.runs.service import RunService


def _runs(ctx: typer.Context) -> RunService:
    from tfctl.runs.service import RunService

    return RunService(app_context(ctx))


RunId = Annotated[
    str, typer.Argument(help="A run id (or a unique prefix of one).", show_default=False)
]
Json = Annotated[bool, JSON_OPTION]


@app.command("list")
def list_(
    ctx: typer.Context,
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Only this workspace.")
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help="Only runs in this status (repeatable)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs, newest first.")] = 50,
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            help="Only runs older than this run (its id or short id): the next page is "
            "--before the last run listed.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """List runs, newest first, a page at a time (--limit, --before)."""
    from tfctl.cli.progress import changes_text

    runs = _runs(ctx)
    page = runs.run_page(workspace=workspace, statuses=status or (), limit=limit, before=before)
    views = list(page.runs)
    waits = runs.waiting_for(views)
    if as_json:
        print_json([dict(run.to_dict(), waiting_for=waits.get(run.id)) for run in views])
        return
    columns = ["ID", "WORKSPACE", "OPERATION", "STATUS", "ACTOR", "CREATED", "CHANGES"]
    out = table(*columns, *(["WAITING FOR"] if waits else []))
    short = runs.short_ids(run.id for run in views)  # what a person types to name the run
    for run in views:
        out.add_row(
            short[run.id], run.workspace, run.action.replace("-", " "),
            run.status + (" (halted)" if run.halted else ""),
            run.actor, run.created_at.strftime("%Y-%m-%d %H:%M:%S"), changes_text(run.summary),
            *([waits.get(run.id, "-")] if waits else []),
        )  # fmt: skip
    stdout_console().print(out)
    if page.next is not None:
        _more_hint(workspace, status or [], limit, short[views[-1].id])


def _more_hint(workspace: str | None, statuses: list[str], limit: int, last: str) -> None:
    """On stderr, the command that lists the next page."""
    import shlex

    from tfctl.cli.context import note

    argv = ["tfctl", "runs", "list"]
    argv += ["--workspace", workspace] if workspace else []
    argv += [arg for value in statuses for arg in ("--status", value)]
    argv += ["--limit", str(limit)] if limit != 50 else []
    note(f"older runs: {shlex.join([*argv, '--before', last])}")


@app.command()
def show(ctx: typer.Context, run_id: RunId, as_json: Json = False) -> None:
    """Show a run: status, who ran it where, its plan summary."""
    from tfctl.cli.progress import print_summary

    run = _runs(ctx).get(run_id)
    if as_json:
        print_json(run.to_dict())
        return
    fields = [
        ("run", run.id), ("workspace", run.workspace),
        ("operation", f"{run.action.replace('-', ' ')} ({run.operation}, {run.plan_mode})"),
        ("status", run.status + (" (halted)" if run.halted else "")), ("parent", run.parent_run_id),
        ("actor", f"{run.actor} on {run.host}"), ("terraform", run.terraform_version),
        ("created", run.created_at.isoformat()),
        ("finished", run.finished_at.isoformat() if run.finished_at else None),
        ("exit code", run.exit_code), ("plan sha256", run.plan_sha256), ("message", run.message),
        ("experiment", run.experiment_id), ("test", run.test_id),
    ]  # fmt: skip
    for label, value in fields:
        if value is not None:
            print(f"{label + ':':<13}{value}")
    if run.summary:
        print_summary(stdout_console(), run.summary)
    if run.policy_results:
        from tfctl.cli.policy import print_results

        print_results(run.policy_results)


@app.command()
def logs(
    ctx: typer.Context,
    run_id: RunId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")
    ] = False,
) -> None:
    """Print a run's log from the job store (from any machine that shares it)."""
    for _stream, line in _runs(ctx).follow(run_id, follow=follow):
        print(line, flush=True)


@app.command()
def discard(ctx: typer.Context, run_id: RunId, as_json: Json = False) -> None:
    """Discard a plan that awaits approval; it can never be applied afterwards."""
    run = _runs(ctx).discard(run_id)
    print_json(run.to_dict()) if as_json else print(f"run {run.id}: {run.status}")


@app.command()
def cancel(ctx: typer.Context, run_id: RunId, as_json: Json = False) -> None:
    """Cancel a queued, running or awaiting run; a running terraform is interrupted gracefully."""
    run = _runs(ctx).cancel(run_id)
    print_json(run.to_dict()) if as_json else print(f"run {run.id}: {run.status}")
