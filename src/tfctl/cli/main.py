"""`tfctl`: the root command and the one error boundary.

Command modules import only typer at import time; services, SQLAlchemy and terraform are
imported inside the commands, so `tfctl --help` and `tfctl --version` stay fast and open no
database. `execute()` is the only place an error becomes a message and an exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tfctl import __version__
from tfctl.cli import (
    db,
    doctor,
    drift,
    halt,
    mcp,
    policy,
    run,
    runs,
    secrets,
    serve,
    stack,
    state,
    store,
    token,
    worker,
    workspace,
)
from tfctl.cli.context import make_context

if TYPE_CHECKING:
    from tfctl.context import AppContext


def _plain_usage_pieces(
    collect: Callable[[Any, Any], list[str]],
) -> Callable[[Any, Any], list[str]]:
    """Usage lines name a required argument `WORKSPACE`, as terraform's and most CLIs' help
    does, not `{WORKSPACE}` (Typer's braces read like a template placeholder)."""

    def pieces(command: Any, ctx: Any) -> list[str]:
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p
                for p in collect(command, ctx)]  # fmt: skip

    return pieces


typer.core.TyperCommand.collect_usage_pieces = _plain_usage_pieces(  # type: ignore[method-assign,assignment]
    typer.core.TyperCommand.collect_usage_pieces
)

app = typer.Typer(
    name="tfctl",
    help=(
        "A Terraform control plane: versioned stack specs, approved plans, policy gates, "
        "a job store (SQLite or PostgreSQL) and a kill switch.\n\n"
        "Start with `tfctl init`, then `tfctl stack push FILE` and "
        "`tfctl workspace create NAME --stack S`. Settings come from TFCTL_* environment "
        "variables; `tfctl doctor` shows them."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(stack.app, name="stack")
app.add_typer(workspace.app, name="workspace")
app.add_typer(db.app, name="db")
app.add_typer(store.app, name="store")
app.add_typer(runs.app, name="runs")
app.add_typer(state.app, name="state")
app.add_typer(worker.app, name="worker")
app.add_typer(policy.app, name="policy")
app.add_typer(drift.app, name="drift")
app.command("workers", help="List live workers (same as `tfctl worker list`).")(worker.list_)
app.command("init")(doctor.init)
app.command("doctor")(doctor.doctor)
app.command("plan")(run.plan)
app.command("apply")(run.apply)
app.command("destroy")(run.destroy)
app.command("refresh")(run.refresh)
app.command("halt")(halt.halt)
app.command("serve")(serve.serve)
app.command("mcp")(mcp.mcp)
app.add_typer(token.app, name="token")
app.add_typer(secrets.app, name="secrets")


def _print_version(value: bool) -> None:
    if value:
        print(f"tfctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks for errors (or TFCTL_DEBUG=1).")
    ] = False,
) -> None:
    if ctx.obj is None:  # `execute` passes one; `app` invoked directly does not
        ctx.obj = make_context()


def execute(args: list[str]) -> int:
    """Run the CLI; returns DESIGN.md's exit code: 0 ok, 1 failed, 2 bad input,
    3 blocked by policy, 4 cancelled or halted (Ctrl-C included). With
    `--detailed-exitcode` every failure is 1, as terraform does: 2 means only "changes"."""
    debug = "--debug" in args or os.environ.get("TFCTL_DEBUG", "") not in ("", "0")
    context = make_context()
    code = _run(args, context, debug=debug)
    if "--detailed-exitcode" in args and code not in (0, 2):
        return 1
    if "--detailed-exitcode" in args and code == 2 and not context.has_changes:
        return 1  # a usage error, not a plan with changes
    return code


def _run(args: list[str], context: AppContext, *, debug: bool) -> int:
    from tfctl.errors import Cancelled, TfctlError

    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="tfctl", standalone_mode=True, obj=context)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == 130:  # Typer's answer to Ctrl-C outside a run; tfctl's is 4
            return _report("interrupted", 4, debug=False)
        return code
    except Cancelled as exc:  # declined at a prompt, cancelled or halted: said plainly
        return _report(exc.message, exc.exit_code, debug=debug)
    except TfctlError as exc:
        return _report(f"error: {exc.message}", exc.exit_code, debug=debug)
    except KeyboardInterrupt:
        return _report("interrupted", 4, debug=debug)
    except Exception as exc:  # the boundary: never a bare traceback without --debug
        message = f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)"
        return _report(message, 1, debug=debug)
    return 0


def _report(message: str, code: int, *, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    print(f"tfctl: {message}", file=sys.stderr)
    return code
