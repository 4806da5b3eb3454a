"""`tfctl store`: moving the job store's history into another store (bootstrap handover)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tfctl.cli.context import JSON_OPTION, app_context, note, print_json, stdout_console, table

if TYPE_CHECKING:
    from tfctl.persistence.storecopy import CopyReport

app = typer.Typer(
    help="The job store's contents: copy them into another store (SQLite or PostgreSQL).",
    no_args_is_help=True,
)


@app.command()
def copy(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="URL",
            help="The target store: postgresql+psycopg://USER:PASS@HOST/DB or sqlite:///PATH.",
        ),
    ],
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Copy every stack, version, workspace, run, log, state version, worker and artifact of
    the configured store into the store at URL, migrating it first.

    Safe to repeat: a second copy inserts only what is new and updates what changed (a run
    that finished since, a workspace lock), all in one transaction. Runs still queued or
    running are reported: copy again after they finish, then point TFCTL_DATABASE_URL at URL.
    """
    from tfctl.persistence.storecopy import copy_store

    report = copy_store(app_context(ctx).store, to)
    if as_json:
        print_json(report.to_dict())
    else:
        _render(report)
    for warning in report.warnings:
        note(f"warning: {warning}")


def _render(report: CopyReport) -> None:
    console = stdout_console()
    console.print(f"{report.source} → {report.target}", markup=False)
    rows = table("TABLE", "INSERTED", "UPDATED", "UNCHANGED")
    for name, counts in report.tables.items():
        rows.add_row(name, str(counts.inserted), str(counts.updated), str(counts.unchanged))
    console.print(rows)
