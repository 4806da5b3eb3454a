"""`tfctl worker`: claim queued runs, execute them, heartbeat, and stop cleanly.

Each of `concurrency` slots loops: reap runs whose process died, claim the oldest runnable
queued run (atomically; see `persistence.runs.claim_next`), execute it through the same
`RunService` as the in-process path, repeat. The worker row heartbeats so
`tfctl worker list` and `--queue` know who is alive. SIGTERM/SIGINT stop claiming and cancel
the runs in progress (terraform is interrupted gracefully, its state recorded), so a
stopped worker never leaves a run `running`.

With `assess_every` (`--assess-every`), a scheduler thread also queues a drift assessment for
each idle workspace whose turn has come (runs/drift.py): workers share the schedule through
the store, so each workspace is assessed once per interval however many workers run.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from tfctl import errors
from tfctl.persistence.kinds import RunStatus
from tfctl.threads import block_signals

if TYPE_CHECKING:
    from tfctl.context import AppContext
    from tfctl.runs.executor import RunObserver

log = logging.getLogger(__name__)
SIGNAL_CHECK = 0.1  # how soon the main loop acts on a signal
IDLE_CHECK = 0.1  # how often an idle slot looks for newly queued runs


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    name: str
    concurrency: int = 1
    burst: bool = False
    max_runs: int | None = None
    poll_interval: float = 1.0
    #: seconds between drift assessments of each workspace (None: no scheduling)
    assess_every: float | None = None


class Worker:
    def __init__(
        self,
        ctx: AppContext,
        options: WorkerOptions,
        *,
        observer: Callable[[], RunObserver] | None = None,
    ) -> None:
        self.ctx, self.options = ctx, options
        self._observer = observer
        self._stop = threading.Event()
        self._signalled: str | None = None  # set by a signal handler, acted on by `run`
        self._lock = threading.Lock()
        self._claimed = 0
        self.runs_done = 0
        self.worker_id = ""

    def run(self) -> int:
        """Work until stopped (signal, `--burst` drained, `--max-runs` reached); returns the
        number of runs executed."""
        self._register()
        previous = self._install_signal_handlers()
        slots = [threading.Thread(target=self._slot, name=f"slot-{i}", daemon=True)
                 for i in range(self.options.concurrency)]  # fmt: skip
        scheduler = threading.Thread(target=self._schedule, name="assess", daemon=True)
        for slot in slots:
            slot.start()
        if self.options.assess_every is not None:
            scheduler.start()
        try:
            while any(slot.is_alive() for slot in slots):
                self._heartbeat()
                deadline = time.monotonic() + self.ctx.settings.heartbeat_interval
                while time.monotonic() < deadline and any(s.is_alive() for s in slots):
                    if self._signalled is not None:
                        self.stop(self._signalled)
                    _join_until(slots, min(deadline, time.monotonic() + SIGNAL_CHECK))
        finally:
            for slot in slots:
                slot.join()
            self._stop.set()  # the slots are done: so is scheduling
            if self.options.assess_every is not None:
                scheduler.join()
                self._drop_queued_assessments()
            self._deregister()
            _restore_signal_handlers(previous)
        return self.runs_done

    def stop(self, reason: str) -> None:
        """Stop claiming, and cancel what this worker is running (recorded with `reason`)."""
        if self._stop.is_set():
            return
        self._stop.set()
        from tfctl.runs.control import cancel_worker_runs

        try:
            stopped = cancel_worker_runs(self.ctx.store, worker=self.options.name, reason=reason)
        except Exception:  # the store is away: each run's guard fences its terraform instead
            log.warning("worker %s could not cancel its runs in the job store", self.options.name,
                        exc_info=True)  # fmt: skip
            stopped = []
        log.warning("worker %s stopping (%s); cancelled %d run(s)", self.options.name, reason,
                    len(stopped))  # fmt: skip

    # --- the slot loop -----------------------------------------------------------------

    def _slot(self) -> None:
        block_signals()  # signals are the main loop's (tfctl/threads.py)
        while not self._stop.is_set():
            if not self._take_ticket():
                return
            try:
                run_id = self._claim()
            except Exception:
                self._return_ticket()
                log.exception("claiming a run failed; retrying")
                self._stop.wait(self.options.poll_interval)
                continue
            if run_id is None:
                self._return_ticket()
                if self._wait_for_work():
                    return
                continue
            self._execute(run_id)

    def _schedule(self) -> None:
        """Queue due drift assessments (at most one per slot per tick) until stopped."""
        from tfctl.runs.service import RunService

        block_signals()
        every = self.options.assess_every or 0.0
        tick = min(max(every / 20, 0.2), 10.0)
        while not self._stop.wait(tick):
            try:
                queued = RunService(self.ctx).schedule_assessments(
                    every=every, limit=self.options.concurrency, actor=self.options.name
                )
            except Exception:  # a store hiccup must not stop the worker; the next tick retries
                log.exception("scheduling drift assessments failed; retrying")
                continue
            for run in queued:
                log.info("queued drift assessment %s of %s", run.id, run.workspace)

    def _drop_queued_assessments(self) -> None:
        from tfctl.runs.drift import cancel_queued

        reason = f"worker {self.options.name} stopped before any worker started it"
        try:
            cancel_queued(self.ctx.store, actor=self.options.name, reason=reason)
        except Exception:  # the store may be gone; a live worker will run them
            log.warning("could not cancel the assessments this worker queued", exc_info=True)

    def _take_ticket(self) -> bool:
        """Reserve one of `--max-runs` before claiming, so slots never overshoot it."""
        with self._lock:
            if self.options.max_runs is not None and self._claimed >= self.options.max_runs:
                return False
            self._claimed += 1
            return True

    def _return_ticket(self) -> None:
        with self._lock:
            self._claimed -= 1

    def _claim(self) -> str | None:
        from tfctl.runs.service import RunService

        return RunService(self.ctx).claim_next(worker=self.options.name)

    def _execute(self, run_id: str) -> None:
        from tfctl.runs.service import RunService

        observer = self._observer() if self._observer else None
        try:
            RunService(self.ctx, observer=observer).execute(run_id)
        except errors.TfctlError as exc:  # recorded on the run; the worker goes on
            log.info("run %s ended: %s", run_id, exc)
        except Exception:
            log.exception("run %s failed unexpectedly", run_id)
        with self._lock:
            self.runs_done += 1

    def _wait_for_work(self) -> bool:
        """After a claim found nothing: True when a `--burst` worker is done. Else wait up
        to the poll interval before claiming again; while the queue is empty, look every
        IDLE_CHECK (one indexed read) and claim as soon as a run is queued, so a run queued
        for an idle worker starts at once rather than a poll interval later. Runs queued
        behind a busy workspace are retried once per poll interval."""
        deadline = time.monotonic() + self.options.poll_interval
        try:
            empty = self._queue_empty()
            if self.options.burst and empty:
                return True
            while empty and time.monotonic() < deadline:
                if self._stop.wait(min(IDLE_CHECK, max(0.0, deadline - time.monotonic()))):
                    return False
                if not self._queue_empty():
                    return False  # queued while this slot idled: claim it now
        except Exception:  # the store is away: claiming again will say so
            log.warning("looking for queued runs failed", exc_info=True)
        self._stop.wait(max(0.0, deadline - time.monotonic()))
        return False

    def _queue_empty(self) -> bool:
        from tfctl.persistence.runs import count_in_status

        with self.ctx.store.read() as session:
            return count_in_status(session=session, status=RunStatus.QUEUED) == 0

    # --- registration and liveness -------------------------------------------------------

    def _register(self) -> None:
        from tfctl.persistence.workers import register_worker

        with self.ctx.store.write() as session:
            row = register_worker(
                session=session, name=self.options.name, host=self.ctx.host, pid=os.getpid(),
                concurrency=self.options.concurrency,
            )  # fmt: skip
            self.worker_id = row.id

    def _heartbeat(self) -> None:
        from tfctl.persistence.workers import worker_heartbeat

        try:
            with self.ctx.store.write() as session:
                worker_heartbeat(
                    session=session, worker_id=self.worker_id, runs_done=self.runs_done
                )
        except Exception:  # a store hiccup must not stop the worker; the next beat retries
            log.warning("worker heartbeat failed", exc_info=True)

    def _deregister(self) -> None:
        from tfctl.persistence.workers import stop_worker

        try:
            with self.ctx.store.write() as session:
                stop_worker(session=session, worker_id=self.worker_id, runs_done=self.runs_done)
        except Exception:  # stale heartbeat tells the others it is gone
            log.warning("worker %s could not record its stop", self.options.name, exc_info=True)

    def _install_signal_handlers(self) -> dict[int, object]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum: int, _frame: FrameType | None) -> None:
            # Only note it: the main loop acts within SIGNAL_CHECK (a handler that wrote to
            # the store could run in the middle of another store call of this thread).
            self._signalled = f"worker {self.options.name} received {signal.Signals(signum).name}"

        return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def _join_until(slots: list[threading.Thread], deadline: float) -> None:
    """Wait for the slots until `deadline`, returning as soon as all have ended (a burst
    worker exits when its work is done, not at the next heartbeat)."""
    for slot in slots:
        slot.join(max(0.0, deadline - time.monotonic()))


def _restore_signal_handlers(previous: dict[int, object]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)  # type: ignore[arg-type]


def default_name(host: str) -> str:
    return f"{host}-{os.getpid()}"
