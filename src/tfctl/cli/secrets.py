"""`tfctl secrets`: the key that encrypts sensitive workspace variables."""

from __future__ import annotations

from typing import Annotated

import typer

from tfctl.cli.context import JSON_OPTION, app_context, note, print_json

app = typer.Typer(
    help=(
        "The key of sensitive workspace variables (`workspace create|update --var-sensitive`): "
        "TFCTL_SECRET_KEY, else the key file `tfctl init` creates in the tfctl home."
    ),
    no_args_is_help=True,
)

Json = Annotated[bool, JSON_OPTION]


@app.command("rotate-key")
def rotate_key(ctx: typer.Context, as_json: Json = False) -> None:
    """Encrypt every sensitive variable again with a new key, in one transaction.

    With the key file: a new key is made and the old one leaves the file once every value
    is re-encrypted; copy the file to every machine that runs this store's runs. With
    TFCTL_SECRET_KEY: put the new key first and the old one after it
    (TFCTL_SECRET_KEY=NEW,OLD; `tfctl secrets keygen` makes one), rotate, then drop OLD.
    """
    from tfctl.secrets import rotate_key as rotate

    app_ctx = app_context(ctx)
    done = rotate(app_ctx.store, app_ctx.settings)
    if as_json:
        print_json(done.to_dict())
        return
    print(f"re-encrypted {done.values} sensitive variable(s) of {done.workspaces} "
          f"workspace(s) with the new key ({done.key})")  # fmt: skip
    note(done.note)


@app.command()
def keygen() -> None:
    """Print a new key, for TFCTL_SECRET_KEY (shared by every machine that runs the runs of
    one store)."""
    from tfctl.secrets import generate_key

    print(generate_key())
