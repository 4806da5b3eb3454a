"""`tfctl db`: the job store's schema."""

from __future__ import annotations

from typing import Annotated

import typer

from tfctl.cli.context import JSON_OPTION, app_context, print_json

app = typer.Typer(help="The job store's schema (SQLite or PostgreSQL).", no_args_is_help=True)


@app.command()
def upgrade(ctx: typer.Context, as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """Apply the store's migrations (Alembic) up to this tfctl's schema.

    Safe to run twice and from several machines at once. A store migrated by a newer tfctl is
    refused.
    """
    from tfctl.doctor import upgrade_store

    result = upgrade_store(app_context(ctx).settings)
    if as_json:
        print_json(result)
        return
    if result["before"] == result["after"]:
        print(f"{result['url']}: schema {result['after']} is current; nothing to do")
    else:
        print(f"{result['url']}: upgraded schema {result['before'] or 'none'} → {result['after']}")
