"""`tfctl halt`: the incident kill switch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tfctl.cli.context import JSON_OPTION, app_context, print_json, stdout_console, table

if TYPE_CHECKING:
    from tfctl.runs.control import HaltReport


def halt(
    ctx: typer.Context,
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", "-w", help="Halt only this workspace's runs (default: all)."),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Why (recorded on every halted run and shown to its owner)."),
    ] = None,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Stop every queued, running and awaiting-approval run now: the incident kill switch.

    Every such run (of --workspace W, or of all workspaces) becomes `cancelled` and
    `halted`, with who halted it and why. Queued runs never start; plans awaiting approval
    can never be applied. A running terraform is interrupted by the run's own process (the
    terminal or worker running it, on any machine sharing the store) within about a second:
    SIGINT to its whole process group (provisioner children included), terraform's graceful
    stop, then SIGKILL if it has not exited after a grace period of 10 s. The state terraform
    wrote is recorded as a state version, the log up to the stop is kept, and the interrupted
    command exits 4.

    Prints what it halted; `tfctl runs show ID` tells when a running one has stopped. Safe to
    run twice: the second time there is nothing to halt.
    """
    from tfctl.runs.service import RunService

    report = RunService(app_context(ctx)).halt(workspace=workspace, reason=reason)
    if as_json:
        print_json(report.to_dict())
        return
    _print_report(report)


def _print_report(report: HaltReport) -> None:
    if report.halted:
        out = table("ID", "WORKSPACE", "OPERATION", "WAS", "STARTED BY")
        for run in report.halted:
            operation = run.operation if run.plan_mode == "normal" else (
                f"{run.operation} ({run.plan_mode})"
            )  # fmt: skip
            out.add_row(run.id, run.workspace, operation, run.previous_status,
                        f"{run.actor} on {run.host}")  # fmt: skip
        stdout_console().print(out)
    print(_summary(report))


def _summary(report: HaltReport) -> str:
    scope = f" in workspace {report.workspace}" if report.workspace else ""
    count = len(report.halted)
    if not count:
        return f"nothing to halt{scope}"
    running = len(report.still_stopping)
    stopping = f"; {running} running, being interrupted by their processes" if running else ""
    return f"halted {count} run{'s' if count != 1 else ''}{scope}{stopping}"
