"""Publishing queued runs to Celery, and the Celery settings tfctl uses on both sides.

With TFCTL_CELERY_BROKER_URL set, every queued run is also sent as the task
`tfctl.execute_run(run_id)` on the queue `terraform`, right after the transaction that queued
it (so a worker that gets the message finds the run). The store stays the ledger: the task
claims exactly its run with the conditional queued → running transition that `tfctl worker`
uses, so a message delivered twice changes nothing, and a message that is lost (the broker
unreachable when the run was queued) leaves the run queued for any `tfctl worker`. That is
why a broker failure here is a warning, never an error: the run is already recorded.

`celery_config` is what `tfctl.celery`'s app runs with: late acknowledgement (a task whose
worker died before claiming is delivered again; after claiming, a redelivery is a no-op),
one message prefetched per process, no time limits and no cancelling of running tasks on a
lost broker connection, because each of those would kill terraform mid-apply.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

    from tfctl.settings import Settings

log = logging.getLogger(__name__)

TASK = "tfctl.execute_run"
QUEUE = "terraform"
#: How often publishing retries a broker that does not answer, and how long it waits.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


def celery_config(broker_url: str | None, visibility_timeout: float) -> dict[str, Any]:
    """The Celery settings of tfctl's apps (publisher and worker alike): TFCTL_CELERY_BROKER_URL
    and TFCTL_CELERY_VISIBILITY_TIMEOUT, and what keeps terraform safe."""
    config: dict[str, Any] = {
        "broker_transport_options": {"visibility_timeout": visibility_timeout},
        "broker_connection_retry_on_startup": True,
        "task_default_queue": QUEUE,
        "task_routes": {TASK: {"queue": QUEUE}},
        "task_acks_late": True,
        "task_ignore_result": True,
        "task_time_limit": None,
        "task_soft_time_limit": None,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }
    if broker_url:
        config["broker_url"] = broker_url
    return config


def publish(settings: Settings, run_id: str) -> bool:
    """Send the queued run `run_id` as the task `tfctl.execute_run` to the broker of
    TFCTL_CELERY_BROKER_URL. False, with a warning saying what to do, when Celery is not
    installed or the broker cannot be reached: the run stays queued for `tfctl worker`s."""
    from tfctl.settings import mask_url_password

    url = settings.celery_broker_url
    if not url:
        return False
    try:
        app = _publisher(url, settings.celery_visibility_timeout)
    except ModuleNotFoundError as exc:
        log.warning("TFCTL_CELERY_BROKER_URL is set but %s is not installed (pip install "
                    "'tfctl[celery]'): run %s is queued for tfctl workers only", exc.name,
                    run_id)  # fmt: skip
        return False
    try:
        app.send_task(TASK, args=[run_id], queue=QUEUE, retry=True, retry_policy=_PUBLISH_RETRY)
    except Exception as exc:  # the run is recorded; a lost message only waits for a worker
        log.warning("run %s is queued, but publishing it to the Celery broker %s failed (%s); "
                    "a tfctl worker sharing the store can still execute it", run_id,
                    mask_url_password(url), exc)  # fmt: skip
        return False
    return True


@lru_cache(maxsize=4)
def _publisher(url: str, visibility_timeout: float) -> Celery:
    """A Celery app that only publishes (one per broker URL and process: it keeps its
    connection pool)."""
    from celery import Celery

    app = Celery("tfctl-publisher", set_as_current=False)
    app.conf.update(celery_config(url, visibility_timeout))
    return app
