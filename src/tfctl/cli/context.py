"""How commands reach the application context and print results."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from tfctl.context import AppContext


def make_context() -> AppContext:
    from tfctl.context import AppContext

    return AppContext()


def app_context(ctx: typer.Context) -> AppContext:
    """The AppContext the root callback made (or a fresh one when a command runs alone)."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = make_context()
    obj: AppContext = root.obj
    return obj


JSON_OPTION = typer.Option("--json", help="Print one JSON document (stable field names).")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def stdout_console() -> Console:
    from rich.console import Console

    # Piped output is for grep and friends: never wrap table rows at 80 columns.
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def table(*columns: str) -> Table:
    from rich.box import SIMPLE
    from rich.table import Table

    result = Table(box=SIMPLE, pad_edge=False, show_edge=False)
    for column in columns:
        result.add_column(column, overflow="fold")
    return result


def note(message: str) -> None:
    """A diagnostic line on stderr (never mixed into results on stdout)."""
    stderr_console().print(message, markup=False)


def complete_workspaces(incomplete: str) -> list[str]:
    """Shell completion: the store's workspace names (nothing when the store is not there)."""
    return _complete("workspaces", incomplete)


def complete_stacks(incomplete: str) -> list[str]:
    """Shell completion: the store's stack names (nothing when the store is not there)."""
    return _complete("stacks", incomplete)


def _complete(what: str, incomplete: str) -> list[str]:
    try:
        context = make_context()
        settings = context.settings
        if settings.uses_embedded_store and not settings.sqlite_path.exists():
            return []  # completing a name must not create the store
        if what == "stacks":
            from tfctl.stacks import list_stacks

            names = [str(row["name"]) for row in list_stacks(context.store)]
        else:
            from tfctl.workspaces import list_workspaces

            names = [view.name for view in list_workspaces(context.store)]
    except Exception:  # completion must never print an error into the user's shell line
        return []
    return sorted(name for name in names if name.startswith(incomplete))
