"""`tfctl state`: the state versions applies recorded (sensitive values redacted)."""

from __future__ import annotations

from typing import Annotated

import typer

from tfctl.cli.context import (
    JSON_OPTION,
    app_context,
    complete_workspaces,
    print_json,
    stdout_console,
    table,
)

app = typer.Typer(help="State versions recorded after each apply.", no_args_is_help=True)

Workspace = Annotated[
    str,
    typer.Argument(
        metavar="WORKSPACE",
        help="The workspace.",
        show_default=False,
        autocompletion=complete_workspaces,
    ),
]
Json = Annotated[bool, JSON_OPTION]


@app.command("list")
def list_(ctx: typer.Context, workspace: Workspace, as_json: Json = False) -> None:
    """List a workspace's state versions, newest first."""
    from tfctl.state_versions import list_states

    rows = list_states(app_context(ctx).store, workspace)
    if as_json:
        print_json(rows)
        return
    out = table("SERIAL", "RESOURCES", "RUN", "SHA256", "CREATED")
    for row in rows:
        out.add_row(str(row["serial"]), str(row["resource_count"]), row["run_id"] or "-",
                    row["sha256"][:12], row["created_at"][:19])  # fmt: skip
    stdout_console().print(out)


@app.command()
def show(
    ctx: typer.Context,
    workspace: Workspace,
    serial: Annotated[
        int | None, typer.Option("--serial", help="This serial (default: latest).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Show a state version: serial, lineage, where the state lives, resources, outputs."""
    from tfctl.state_versions import describe_location, show_state

    state = show_state(app_context(ctx).store, workspace, serial)
    if as_json:
        print_json(state)
        return
    for key in (
        "workspace",
        "serial",
        "lineage",
        "sha256",
        "terraform_version",
        "run_id",
        "created_at",
    ):
        print(f"{key + ':':<19}{state[key]}")
    print(f"{'stored in:':<19}{describe_location(state['stored_in'])}")
    print(f"resources ({state['resource_count']}):")
    for address in state["resources"]:
        print(f"  {address}")
    _print_outputs(state["outputs"])


@app.command()
def outputs(ctx: typer.Context, workspace: Workspace, as_json: Json = False) -> None:
    """The outputs of the latest state version (sensitive values shown as redacted)."""
    from tfctl.state_versions import show_state

    values = show_state(app_context(ctx).store, workspace)["outputs"]
    if as_json:
        print_json(values)
        return
    _print_outputs(values)


def _print_outputs(values: dict[str, dict[str, object]]) -> None:
    import json

    print("outputs:" + ("" if values else " -"))
    for name, item in sorted(values.items()):
        print(f"  {name} = {json.dumps(item.get('value'))}")
