"""`tfctl drift`: assess workspaces for drift, and show what the latest assessments found."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tfctl.cli.context import (
    JSON_OPTION,
    app_context,
    complete_workspaces,
    note,
    print_json,
    stdout_console,
    table,
)

if TYPE_CHECKING:
    from tfctl.runs.drift import Differences

app = typer.Typer(
    help=(
        "Drift detection: does what each workspace manages still match its stack's current "
        "spec version?\n\n"
        "An assessment is a plan that is never applied: it never replaces a plan awaiting "
        "approval and never blocks a run (a busy workspace is skipped). `tfctl worker "
        "--assess-every 1h` assesses every workspace on a schedule; TFCTL_NOTIFY_WEBHOOK_URL "
        "is told about new drift."
    ),
    no_args_is_help=True,
)

Json = Annotated[bool, JSON_OPTION]
Workspaces = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="WORKSPACE",
        help="The workspaces to assess (or --all).",
        show_default=False,
        autocompletion=complete_workspaces,
    ),
]


@app.command()
def check(
    ctx: typer.Context,
    workspaces: Workspaces = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all", help="Every workspace, except those opted out and those never applied."
        ),
    ] = False,
    queue: Annotated[
        bool, typer.Option("--queue", help="Queue the assessments for workers; return at once.")
    ] = False,
    as_json: Json = False,
    reinit: Annotated[
        bool,
        typer.Option(
            "--reinit",
            help="Run `terraform init` again for each assessment, although nothing it "
            "depends on changed.",
        ),
    ] = False,
) -> None:
    """Assess workspaces for drift: plan each against its stack's current spec version.

    A workspace is `in_sync`, or `drifted` with the resources changed outside tfctl and the
    resources the current spec version would change (edited state, a newer version not
    applied yet). A workspace with a queued or running run is skipped. Exit 0 when all are in
    sync (or skipped, or queued), 2 when some drifted, 1 when an assessment failed.
    """
    from tfctl import errors
    from tfctl.runs.drift import exit_code
    from tfctl.runs.service import RunService

    if bool(workspaces) == all_:
        raise errors.InvalidInput("name the workspaces to assess, or pass --all (not both)")
    svc = RunService(app_context(ctx))
    results = svc.assess(
        workspaces or None, queue=queue, reinit=reinit,
        on_result=lambda a: note(f"{a.workspace}: {a.result.replace('_', ' ')}"),
    )  # fmt: skip
    if as_json:
        print_json([result.to_dict() for result in results])
    else:
        out = table("WORKSPACE", "RESULT", "CHANGED OUTSIDE", "WOULD CHANGE", "RUN", "NOTE")
        for r in results:
            counts = r.differences.counts()
            out.add_row(r.workspace, r.result.replace("_", " "), str(counts["changed_outside"]),
                        str(counts["would_change"]), r.run_id or "-", r.message or "")  # fmt: skip
        stdout_console().print(out)
        for r in results:
            _print_differences(r.workspace, r.differences)
    raise typer.Exit(exit_code(results))


@app.command()
def status(
    ctx: typer.Context,
    workspaces: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="WORKSPACE",
            help="Only these workspaces (default: all).",
            show_default=False,
            autocompletion=complete_workspaces,
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Each workspace's latest assessment: when, the result, what differs, the run."""
    from tfctl.runs.service import RunService

    views = RunService(app_context(ctx)).drift_status(workspaces or None)
    if as_json:
        print_json([view.to_dict() for view in views])
        return
    out = table("WORKSPACE", "DRIFT", "ASSESSED", "CHANGED OUTSIDE", "WOULD CHANGE", "RUN",
                "SCHEDULED")  # fmt: skip
    for v in views:
        counts = v.differences.counts()
        when = f"{v.assessed_at:%Y-%m-%d %H:%M:%S}Z" if v.assessed_at else "-"
        due = f"{v.next_assessment_at:%Y-%m-%d %H:%M:%S}Z" if v.next_assessment_at else "-"
        out.add_row(v.workspace, v.result.replace("_", " "), when,
                    str(counts["changed_outside"]), str(counts["would_change"]),
                    v.run_id or "-", due if v.assess else "off")  # fmt: skip
    stdout_console().print(out)
    for v in views:
        _print_differences(v.workspace, v.differences)


def _print_differences(workspace: str, differences: Differences) -> None:
    if not differences:
        return
    print(f"\n{workspace}:")
    for label, items in (("changed outside tfctl", differences.changed_outside),
                         ("would change", differences.would_change)):  # fmt: skip
        for item in items:
            print(f"  {label}: {item['address']} ({item['action']})")
    for name in differences.outputs:
        print(f"  output would change: {name}")
