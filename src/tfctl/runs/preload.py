"""Imports a run needs only after terraform has started, made while terraform plans.

A one-shot `tfctl plan` / `tfctl apply` process pays for every import; the plan's summary,
the state snapshot, the policy gate and the plan archive are needed only once `terraform
plan` has finished. Importing them in a background thread while terraform works on the other
core takes them off the run's path (about 60-100 ms on a 2-core machine). In a resident
worker they are already imported and this does nothing.
"""

from __future__ import annotations

import importlib
import threading

#: Measured with `python -X importtime`: what `tfctl apply` imports after terraform started.
MODULES = (
    "tfctl.terraform.summary",
    "tfctl.terraform.state",
    "tfctl.policy.service",
    "tfctl.runs.artifacts",
    "tfctl.runs.notices",
    "tarfile",
    "gzip",
)
_started = threading.Event()


def start() -> None:
    """Import `MODULES` in a background thread, once per process."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_import_all, name="tfctl-preload", daemon=True).start()


def _import_all() -> None:
    from tfctl.threads import block_signals

    block_signals()
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112 - the run imports it itself and reports the error there
            continue
