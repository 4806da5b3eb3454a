"""The Celery app: `celery -A tfctl.celery worker -Q terraform` executes the runs tfctl queues.

With TFCTL_CELERY_BROKER_URL set, every queued run (`tfctl plan --queue`, the REST API, MCP)
is also published as the task `tfctl.execute_run(run_id)` (`tfctl.runs.publish`). The task is
a thin wrapper of the run service: it claims exactly its run with the same conditional
queued → running transition as `tfctl worker` and executes it. The store stays the ledger:

- a second delivery of the same message (a redelivery after the visibility timeout, a lost
  acknowledgement) finds the run claimed or finished and does nothing, so an apply never runs
  twice; Celery workers and `tfctl worker`s can serve one queue together;
- a run that may not start yet (its workspace is busy, an older run of it is queued) is
  retried later with a growing countdown, until it starts or someone else claimed it;
- cancel and halt go through the store (`tfctl halt`, `tfctl runs cancel`): the process
  executing the run interrupts terraform gracefully (SIGINT first). Nothing uses Celery's
  revoke(terminate=True) or time limits, and a lost broker connection does not cancel the
  running task: each of those would kill terraform mid-apply.

The worker reads tfctl's settings from its environment (TFCTL_DATABASE_URL: the shared store).
This module is named like the `celery` package; it imports it absolutely, never relatively.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from celery import Celery

from tfctl import errors
from tfctl.runs.publish import QUEUE, TASK, celery_config

if TYPE_CHECKING:
    from tfctl.context import AppContext

log = logging.getLogger(__name__)

#: Countdown of the retries of a run that may not start yet: 2, 4, 8 ... at most 30 seconds.
MAX_RETRY_COUNTDOWN = 30.0


def _config() -> dict[str, Any]:
    """Read when Celery first needs its configuration (not at import)."""
    from tfctl.settings import get_settings

    settings = get_settings()
    if not settings.celery_broker_url:
        log.warning("TFCTL_CELERY_BROKER_URL is not set: tfctl publishes no runs, so this "
                    "worker receives none; set it here and where runs are queued")  # fmt: skip
    return celery_config(settings.celery_broker_url, settings.celery_visibility_timeout)


app = Celery("tfctl")
app.add_defaults(_config)

_contexts: dict[int, AppContext] = {}


def _context() -> AppContext:
    """One application context (settings, store) per process: a pool process forked by the
    worker opens its own connections."""
    from tfctl.context import AppContext

    pid = os.getpid()
    if pid not in _contexts:
        _contexts[pid] = AppContext()
    return _contexts[pid]


@app.task(name=TASK, bind=True, queue=QUEUE, max_retries=None)  # type: ignore[untyped-decorator]
def execute_run(self: Any, run_id: str) -> str:
    """Claim the queued run `run_id` and execute it; returns what happened, in words."""
    worker = str(self.request.hostname or f"celery-{os.getpid()}")
    try:
        return run_once(run_id, worker=worker)
    except NotYet as wait:
        countdown = min(MAX_RETRY_COUNTDOWN, 2.0 ** (self.request.retries + 1))
        log.info("run %s waits for %s; trying again in %.0f s", run_id, wait, countdown)
        raise self.retry(countdown=countdown) from None


class NotYet(Exception):
    """The run is queued but may not start yet (the message is retried later)."""


def run_once(run_id: str, *, worker: str) -> str:
    """Claim `run_id` for `worker` and execute it. Does nothing (and says why) when the run is
    no longer queued; raises `NotYet` when it is queued but may not start yet."""
    from tfctl.runs.service import RunService

    svc = RunService(_context())
    try:
        if not svc.claim(run_id, worker=worker):
            run = svc.get(run_id)
            if run.status == "queued":
                raise NotYet(svc.waiting_for([run]).get(run.id) or "its turn")
            return f"run {run.id} is {run.status}: nothing to do (claimed by {run.worker or '-'})"
        return f"run {run_id} {svc.execute(run_id).status}"
    except errors.TfctlError as exc:  # recorded on the run (or no such run): the task is done
        log.warning("run %s: %s", run_id, exc.message)
        return f"run {run_id}: {exc.message}"
