"""`tfctl workspace`: bind a stack to a state."""

from __future__ import annotations

from typing import Annotated

import typer

from tfctl.cli.context import JSON_OPTION, app_context, print_json, stdout_console, table

app = typer.Typer(help="Workspaces: one stack bound to one state.", no_args_is_help=True)

Json = Annotated[bool, JSON_OPTION]


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The workspace's name.", show_default=False)],
    stack: Annotated[str, typer.Option("--stack", "-s", help="The stack it deploys.")],
    backend: Annotated[
        str | None,
        typer.Option(
            help="State backend: local, s3, azurerm, gcs or hcp "
            "(default: TFCTL_TERRAFORM_STATE_BACKEND, else local)."
        ),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            help="Variable override NAME=VALUE (repeatable). JSON values keep their type: "
            'count=3, enabled=true, zones=\'["a","b"]\'; anything else is a string.',
        ),
    ] = None,
    backend_config: Annotated[
        list[str] | None,
        typer.Option("--backend-config", help="Backend setting KEY=VALUE (repeatable)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Create a workspace for a stack."""
    from tfctl.workspaces import create_workspace, parse_assignments

    app_ctx = app_context(ctx)
    variables = parse_assignments(var or [], option="--var")
    config = parse_assignments(backend_config or [], option="--backend-config", dotted=True)
    view = create_workspace(
        app_ctx.store,
        name,
        stack=stack,
        backend=backend or app_ctx.settings.terraform_state_backend.value,
        backend_config=config,
        variables=variables,
    )
    if as_json:
        print_json(view.to_dict())
        return
    print(f"workspace {view.name} created: stack {view.stack}, backend {view.backend}")


@app.command("list")
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List workspaces."""
    from tfctl.workspaces import list_workspaces

    views = list_workspaces(app_context(ctx).store)
    if as_json:
        print_json([view.to_dict() for view in views])
        return
    out = table("NAME", "STACK", "BACKEND", "VARIABLES", "LOCKED BY")
    for view in views:
        out.add_row(
            view.name,
            view.stack,
            view.backend,
            str(len(view.variables)),
            view.locked_by_run_id or "-",
        )
    stdout_console().print(out)


@app.command()
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The workspace's name.", show_default=False)],
    as_json: Json = False,
) -> None:
    """Show a workspace: its stack, backend, variables and lock."""
    from tfctl.workspaces import show_workspace

    view = show_workspace(app_context(ctx).store, name)
    if as_json:
        print_json(view.to_dict())
        return
    print(f"workspace: {view.name}")
    print(f"stack:     {view.stack}")
    print(f"backend:   {view.backend} {view.backend_config or ''}".rstrip())
    print(f"locked by: {view.locked_by_run_id or '-'}")
    print(f"created:   {view.created_at}")
    print("variables:" + ("" if view.variables else " -"))
    for key, value in sorted(view.variables.items()):
        print(f"  {key} = {value!r}")
