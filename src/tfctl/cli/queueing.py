"""`--queue` and `--wait`: hand a run to the workers, and optionally follow it to its end."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from tfctl.cli.context import note, print_json

if TYPE_CHECKING:
    from tfctl.runs.service import RunService
    from tfctl.runs.views import RunView

WaitTimeout = Annotated[
    float | None,
    typer.Option(
        "--wait-timeout",
        metavar="SECONDS",
        min=0,
        help="With --queue --wait: stop waiting after this many seconds (exit 1; the run "
        "stays queued or running).",
    ),
]
POLL_INTERVAL = 0.5
#: the first wait after new lines: a run that ends soon is seen soon (one log read each)
POLL_FIRST = 0.05


def submit(
    runs: RunService,
    run: RunView,
    *,
    wait: bool = False,
    as_json: bool = False,
    detailed_exitcode: bool = False,
    wait_timeout: float | None = None,
) -> None:
    """Report a queued run: its id at once; with `wait`, follow it and exit by its outcome."""
    alive = bool(runs.workers())
    if not wait:
        if as_json:
            print_json(run.to_dict())
        else:
            print(f"queued {run.action} run {run.id}; follow it with "
                  f"`tfctl runs logs {run.id} --follow`")  # fmt: skip
    else:
        note(f"queued {run.action} run {run.id}; waiting for it (Ctrl-C stops waiting, the "
             "run stays queued)")  # fmt: skip
    if not alive:
        note("no worker has heartbeated recently: the run waits in the queue until one "
             "starts; start one with `tfctl worker` (here, or on any machine sharing this "
             "store)")  # fmt: skip
    if not wait:
        return
    final = follow(runs, run.id, timeout=wait_timeout)
    _report(runs, final, as_json=as_json, detailed_exitcode=detailed_exitcode)


def follow(runs: RunService, run_id: str, *, timeout: float | None = None) -> RunView:
    """Stream the run's log to stderr until it ends (and its auto-apply child, if any);
    `RunError` when `timeout` seconds pass first."""
    from tfctl import errors

    deadline = None if timeout is None else time.monotonic() + timeout
    after, pause = 0, POLL_FIRST
    while True:
        page = runs.logs(run_id, after=after)
        for line in page.lines:
            note(f"{run_id} | {line.text}")
        after = page.next
        if page.finished:
            final = runs.get(run_id)
            children = runs.children(run_id) if final.auto_apply else []
            if not children:
                return final
            run_id, after = children[-1].id, 0  # approved in advance: follow its apply
            continue
        if page.lines:
            pause = POLL_FIRST
            continue
        if deadline is not None and time.monotonic() >= deadline:
            now = runs.get(run_id)
            raise errors.RunError(
                f"run {run_id} is still {now.status} after {timeout:g}s of waiting; it was "
                f"not stopped (follow it with `tfctl runs logs {run_id} --follow`)",
                run_id=run_id,
            )
        time.sleep(pause)
        pause = min(POLL_INTERVAL, pause * 1.5)  # quiet: read less often, up to POLL_INTERVAL


def _report(runs: RunService, run: RunView, *, as_json: bool, detailed_exitcode: bool) -> None:
    from tfctl import errors
    from tfctl.persistence.kinds import RunStatus

    if as_json:
        print_json(run.to_dict())
    else:
        print(f"{run.workspace}: {run.action} run {run.id} {run.status}")
    if run.auto_apply and run.status == RunStatus.AWAITING_APPROVAL:
        # approved in advance, yet not applied: the policy gate held it back
        raise errors.PolicyBlocked(f"run {run.id} was not applied: {run.message or 'blocked'}")
    if run.status == RunStatus.CANCELLED:
        raise errors.Cancelled(f"run {run.id} was cancelled: {run.message or 'no reason given'}")
    if run.status == RunStatus.ERRORED:
        raise errors.RunError(f"run {run.id} failed: {run.message or 'see its log'}")
    if detailed_exitcode and run.has_changes:
        runs.ctx.has_changes = True
        raise typer.Exit(2)
