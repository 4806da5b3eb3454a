"""`tfctl token`: API tokens for `tfctl serve` (create, list, revoke)."""

from __future__ import annotations

from typing import Annotated

import typer

from tfctl.cli.context import JSON_OPTION, app_context, note, print_json, stdout_console, table

app = typer.Typer(
    help=(
        "API tokens for `tfctl serve`. Roles: viewer reads; operator also plans, applies "
        "non-destroy plans, discards and cancels; admin also applies destroy plans, halts, "
        "overrides soft-mandatory policies and manages tokens."
    ),
    no_args_is_help=True,
)

Json = Annotated[bool, JSON_OPTION]
Name = Annotated[str, typer.Argument(help="The token's name.", show_default=False)]


@app.command()
def create(
    ctx: typer.Context,
    name: Name,
    role: Annotated[
        str, typer.Option("--role", "-r", help="viewer, operator or admin.", show_default=False)
    ],
    as_json: Json = False,
) -> None:
    """Create a token and print it once (only its SHA-256 is stored).

    Runs started with the token record its name as their actor. Send it as
    `Authorization: Bearer TOKEN`, or open http://HOST:PORT/login?token=TOKEN in a browser.
    """
    from tfctl.server.tokens import create_token

    app_ctx = app_context(ctx)
    view, secret = create_token(app_ctx.store, name, role=role, created_by=app_ctx.actor)
    if as_json:
        print_json({"name": view.name, "role": view.role.value, "token": secret,
                    "created_at": view.created_at})  # fmt: skip
        return
    print(secret)
    note(f"token {view.name} ({view.role.value}) created; it is shown only this once")


@app.command("list")
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List tokens: name, role, who created them and when (never the secrets)."""
    from tfctl.server.tokens import list_tokens

    views = list_tokens(app_context(ctx).store)
    if as_json:
        print_json([view.to_dict() for view in views])
        return
    out = table("NAME", "ROLE", "CREATED BY", "CREATED")
    for view in views:
        out.add_row(view.name, view.role.value, view.created_by, view.created_at[:19])
    stdout_console().print(out)


@app.command()
def revoke(ctx: typer.Context, name: Name, as_json: Json = False) -> None:
    """Revoke a token: requests and browser sessions using it are refused from now on."""
    from tfctl.server.tokens import revoke_token

    view = revoke_token(app_context(ctx).store, name)
    if as_json:
        print_json(view.to_dict())
        return
    print(f"token {view.name} ({view.role.value}) revoked")
