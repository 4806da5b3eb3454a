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
