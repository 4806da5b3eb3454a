"""`tfctl stack`: push specs, inspect their versions, render their configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tfctl.cli.context import (
    JSON_OPTION,
    app_context,
    complete_stacks,
    print_json,
    stdout_console,
    table,
)

app = typer.Typer(help="Stack specs and their versions.", no_args_is_help=True)

NameArg = Annotated[
    str,
    typer.Argument(
        metavar="NAME", help="The stack's name.", show_default=False, autocompletion=complete_stacks
    ),
]
Json = Annotated[bool, JSON_OPTION]


@app.command()
def push(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(help="The spec: a .yaml, .yml, .json or .toml file.", show_default=False),
    ],
    as_json: Json = False,
) -> None:
    """Validate a spec file and store it as the stack's next version.

    A new version is created only when the spec's canonical hash changes: the same spec with
    keys reordered, or written in another format, is the same version.
    """
    from tfctl.stacks import push_spec_file

    app_ctx = app_context(ctx)
    view = push_spec_file(app_ctx.store, file, author=app_ctx.actor)
    if as_json:
        print_json(view.to_dict())
        return
    outcome = "created" if view.created else "unchanged"
    print(f"{view.name}: version {view.version} {outcome} (sha256 {view.hash})")


@app.command("list")
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List stacks with their latest version."""
    from tfctl.stacks import list_stacks

    rows = list_stacks(app_context(ctx).store)
    if as_json:
        print_json(rows)
        return
    out = table("NAME", "KIND", "VERSION", "HASH", "UPDATED")
    for row in rows:
        out.add_row(
            row["name"],
            row["kind"],
            str(row["version"]),
            (row["hash"] or "")[:12],
            row["updated_at"][:19],
        )
    stdout_console().print(out)


@app.command()
def show(
    ctx: typer.Context,
    name: NameArg,
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="Version number (default: latest).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Show a stack version and its spec (canonical form, defaults filled in)."""
    import yaml

    from tfctl.stacks import show_version

    view = show_version(app_context(ctx).store, name, version)
    if as_json:
        print_json(view.to_dict())
        return
    print(f"stack:    {view.name} ({view.kind})")
    print(f"version:  {view.version}")
    print(f"hash:     {view.hash}")
    print(f"created:  {view.created_at.isoformat()} by {view.author}")
    print(f"source:   {view.source or '-'}")
    print("spec:")
    for line in yaml.safe_dump(view.spec, sort_keys=True, indent=2).splitlines():
        print(f"  {line}")


@app.command()
def diff(
    ctx: typer.Context,
    name: NameArg,
    a: Annotated[int, typer.Argument(help="The older version.", show_default=False)],
    b: Annotated[int, typer.Argument(help="The newer version.", show_default=False)],
    as_json: Json = False,
) -> None:
    """Show what changed between two versions of a stack."""
    from tfctl.stacks import diff_versions

    result = diff_versions(app_context(ctx).store, name, a, b)
    if as_json:
        print_json(result.to_dict())
        return
    if not result.changes:
        print(f"{name}: versions {a} and {b} are identical")
        return
    console = stdout_console()
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for line in result.unified.splitlines():
        style = None if line.startswith(("+++", "---")) else styles.get(line[:1])
        console.print(line, style=style, markup=False)


@app.command()
def render(
    ctx: typer.Context,
    name: NameArg,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Directory to write into.", show_default=False),
    ],
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="Version number (default: latest).")
    ] = None,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Render exactly what a run of this workspace uses: its backend and variables.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty directory.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Write the Terraform configuration of a stack version into a directory.

    Without --workspace the configuration uses the local backend with its state in
    OUT/terraform.tfstate and the spec's own variables, ready for `terraform init` there. With
    --workspace it is the configuration a run of that workspace would use. Prints the files
    written.
    """
    from tfctl.stacks import render_stack

    app_ctx = app_context(ctx)
    home = app_ctx.settings.home.expanduser()
    view = render_stack(
        app_ctx.store, name, out, home=home, version=version, workspace=workspace, force=force
    )
    if as_json:
        print_json(view.to_dict())
        return
    for path in view.paths():
        print(path)
