"""`tfctl serve`: the REST API, live run streams and the web UI, with embedded worker slots."""

from __future__ import annotations

from typing import Annotated

import typer

from tfctl.cli.context import app_context, note


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="The address to listen on (another than 127.0.0.1 exposes it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="The port (0: any free one).")] = 8470,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Worker slots inside the server that execute the runs started over HTTP "
            "(0: leave them to `tfctl worker` processes sharing the store).",
        ),
    ] = 1,
    assess_every: Annotated[
        str | None,
        typer.Option(
            "--assess-every",
            metavar="DURATION",
            help="Also assess idle workspaces for drift this often (e.g. 15m, 1h), as "
            "`tfctl worker --assess-every` does; needs --workers 1 or more.",
        ),
    ] = None,
) -> None:
    """Serve the REST API, live run streams and the web UI on one port.

    Every request needs a token (`tfctl token create NAME --role ROLE`); when there is none,
    an admin token is created and a one-time login URL printed. SIGTERM or Ctrl-C drains:
    the server stops accepting, cancels the runs its slots are executing (terraform is
    interrupted gracefully, its state recorded) and exits.
    """
    try:
        from tfctl.server.app import ServeOptions
        from tfctl.server.run import run_server
    except ModuleNotFoundError as exc:  # the server extra is not installed
        from tfctl import errors

        raise errors.InvalidInput(
            f"tfctl serve needs the server extra ({exc.name} is missing): "
            "pip install 'tfctl[server]'"
        ) from exc

    from tfctl.runs.drift import parse_duration

    every = None if assess_every is None else parse_duration(assess_every)
    if every is not None and workers <= 0:
        from tfctl import errors

        raise errors.InvalidInput(
            "--assess-every needs worker slots to run the assessments: pass --workers 1 or "
            "more, or run `tfctl worker --assess-every` beside the server"
        )
    app_ctx = app_context(ctx)
    options = ServeOptions(host=host, port=port, workers=workers, assess_every=every)
    run_server(app_ctx, options, say=note)
