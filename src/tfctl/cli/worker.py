"""`tfctl worker`: execute queued runs; `tfctl worker list`: who is working on what."""

from __future__ import annotations

from typing import Annotated

import typer

from tfctl.cli.context import JSON_OPTION, app_context, print_json, stdout_console, table

app = typer.Typer(
    help=(
        "Run a worker that executes queued runs (`--queue`), or list live workers.\n\n"
        "Workers on one machine or many share the job store (PostgreSQL for many machines); "
        "each claims queued runs atomically, one state-changing run per workspace at a time. "
        "SIGTERM or Ctrl-C stops claiming and cancels the runs in progress gracefully."
    ),
    invoke_without_command=True,
)


@app.callback()
def work(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(min=1, help="Runs executed at the same time.")] = 1,
    burst: Annotated[bool, typer.Option(help="Drain the queue, then exit.")] = False,
    max_runs: Annotated[
        int | None, typer.Option(min=1, help="Exit after executing this many runs.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The worker's name (default: HOST-PID).")] = None,
    assess_every: Annotated[
        str | None,
        typer.Option(
            "--assess-every",
            metavar="DURATION",
            help="Also assess idle workspaces for drift this often (e.g. 90s, 15m, 1h): each "
            "workspace once per interval across all workers, spread over it. "
            "`tfctl workspace update NAME --no-assess` leaves one out.",
        ),
    ] = None,
) -> None:
    """Claim and execute queued runs until stopped."""
    if ctx.invoked_subcommand is not None:
        return
    from tfctl.cli.context import note
    from tfctl.cli.progress import PlainObserver
    from tfctl.runs.drift import parse_duration
    from tfctl.runs.worker import Worker, WorkerOptions, default_name

    every = None if assess_every is None else parse_duration(assess_every)
    app_ctx = app_context(ctx)
    options = WorkerOptions(
        name=name or default_name(app_ctx.host), concurrency=concurrency, burst=burst,
        max_runs=max_runs, assess_every=every,
    )  # fmt: skip
    note(f"worker {options.name}: {concurrency} slot(s) on {app_ctx.store.url}")
    if every is not None:
        note(f"worker {options.name}: assessing idle workspaces for drift every {every:g} s")
    done = Worker(app_ctx, options, observer=PlainObserver).run()
    note(f"worker {options.name}: stopped after {done} run(s)")


@app.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """Live workers (heartbeat within TFCTL_HEARTBEAT_TIMEOUT) and their current runs."""
    from tfctl.runs.service import RunService

    workers = RunService(app_context(ctx)).workers()
    if as_json:
        print_json(workers)
        return
    out = table("NAME", "HOST", "PID", "SLOTS", "RUNS DONE", "CURRENT RUNS", "HEARTBEAT")
    for w in workers:
        out.add_row(str(w["name"]), str(w["host"]), str(w["pid"]), str(w["concurrency"]),
                    str(w["runs_done"]), " ".join(w["current_runs"]) or "-",  # type: ignore[arg-type]
                    str(w["heartbeat_at"])[:19])  # fmt: skip
    stdout_console().print(out)


@app.command()
def keygen() -> None:
    """Print a new TFCTL_ARTIFACT_KEY: workers that share it can apply each other's plans
    even when those hold sensitive values (the plan archive is encrypted with it)."""
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
