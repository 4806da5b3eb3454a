"""RunGuard: the run's lease, and the one answer to "should terraform stop?".

Each poll reads the run's status from the job store (so `tfctl runs cancel` or `tfctl halt`
from any terminal or machine is seen within a poll interval) and, every heartbeat interval,
renews the run's lease: its heartbeat, stamped by the store's clock. Terraform must stop
when the run is no longer `running` — cancelled, halted, or declared lost by another
process that saw its lease expire — and also, on its own, when this process has not been
able to renew the lease for half of it (`lease`, the heartbeat timeout): then nobody can
know whether the store still counts the run alive, and terraform is stopped gracefully
before any other worker could declare the run lost and start another on its workspace
(fencing).

The store is asked on a helper thread: `should_cancel()` waits a moment for the answer and
otherwise goes on with what it knows, so a store that hangs (a host cut off from it) never
stalls the caller, and the fence deadline is kept by this process's monotonic clock.
`start()` adds a keeper thread that polls between terraform commands too, so the lease is
renewed for the whole execution.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from enum import StrEnum
from typing import TYPE_CHECKING

from tfctl import errors
from tfctl.persistence.kinds import RunStatus
from tfctl.threads import block_signals

if TYPE_CHECKING:
    from tfctl.persistence.db import Store

POLL_INTERVAL = 0.1  # a halt or cancel from any terminal is seen within this (one indexed read)
HEARTBEAT_INTERVAL = 5.0
#: How long `should_cancel` waits for a poll it started (the store answers in milliseconds).
ASK_WAIT = 1.0
LOST_CONTACT = "lost contact with the job store"
log = logging.getLogger(__name__)


class Stop(StrEnum):
    """Why terraform must stop."""

    CANCELLED = "cancelled"  # cancelled or halted by someone
    LOST = "lost"  # declared lost by another process: its lease had expired
    ENDED = "ended"  # the run ended otherwise while this process ran it
    FENCED = "fenced"  # this process could not renew the lease for half of it


class RunGuard:
    def __init__(
        self,
        store: Store,
        run_id: str,
        *,
        poll_interval: float = POLL_INTERVAL,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        lease: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`lease` is the heartbeat timeout after which other processes may declare the run
        lost; None never fences (the run is only stopped by its status)."""
        self._store, self._run_id, self._clock = store, run_id, clock
        self._poll_interval, self._heartbeat_interval = poll_interval, heartbeat_interval
        self._lease = lease
        # The run was opened or claimed, with a fresh heartbeat, just before this guard.
        self._last_poll = self._last_beat = self._renewed = clock()
        self.stopped: Stop | None = None
        self.status: RunStatus | None = None  # as last read from the store
        self._failing_since: float | None = None
        self._inflight: Future[tuple[RunStatus, float | None]] | None = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = threading.Event()
        self._keeper: threading.Thread | None = None

    @property
    def fenced(self) -> bool:
        return self.stopped is Stop.FENCED

    def should_cancel(self) -> bool:
        """True once terraform must stop (see the module docstring); it stays True. Starts a
        poll when one is due, and renews the lease every heartbeat interval."""
        with self._lock:
            if self.stopped is not None:
                return True
            self._collect()
            started = self._start_poll() if self.stopped is None else None
        if started is not None:
            wait_for([started], timeout=ASK_WAIT)
            with self._lock:
                self._collect()
        with self._lock:
            if self.stopped is None and self._lease_in_doubt():
                self._fence()
            return self.stopped is not None

    def stop_error(self) -> errors.TfctlError | None:
        """What to record when terraform was stopped by this guard for a reason other than
        a cancel or halt (which the ledger records from the run's status)."""
        if self.stopped is Stop.FENCED:
            lease = self._lease or 0.0
            return errors.RunError(
                f"{LOST_CONTACT}: this process could not renew the run's lease (heartbeat) "
                f"for {lease / 2:.0f} s, so it stopped terraform (SIGINT, state written) "
                f"before the {lease:.0f} s lease could expire and another worker take the "
                "workspace; plan again",
                run_id=self._run_id,
            )
        if self.stopped in (Stop.LOST, Stop.ENDED):
            return errors.RunError(
                f"run {self._run_id} became {self.status} in the job store while this "
                "process was running it (declared lost by another process after the job "
                "store could not be reached); terraform was stopped",
                run_id=self._run_id,
            )
        return None

    def raise_if_stopped(self) -> None:
        """Before a terraform command starts: raise if the run must stop (`stop_error()`, or
        `TerraformCancelled` for a cancel or halt, recorded from the run's status)."""
        if self.stopped is None:
            return
        raise self.stop_error() or errors.TerraformCancelled(
            "terraform was not started because the run was cancelled or halted"
        )

    def start(self) -> None:
        """Keep polling (and renewing the lease) on a thread of its own until `close()`,
        also while no terraform command runs."""
        if self._keeper is None:
            self._keeper = threading.Thread(
                target=self._keep, name=f"tfctl-lease-{self._run_id}", daemon=True
            )
            self._keeper.start()

    def close(self) -> None:
        """Stop polling. A poll under way is given up to ASK_WAIT to end (on a store that
        answers it takes milliseconds, and its connection is back in the pool before the
        run's end is recorded); one hung on an unreachable store is abandoned."""
        self._closed.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            inflight = self._inflight
        if inflight is not None:
            wait_for([inflight], timeout=ASK_WAIT)

    # --- inside the lock -------------------------------------------------------------

    def _start_poll(self) -> Future[tuple[RunStatus, float | None]] | None:
        now = self._clock()
        if self._inflight is not None or now - self._last_poll < self._poll_interval:
            return None
        if self._closed.is_set():
            return None
        self._last_poll = now
        beat = now - self._last_beat >= self._heartbeat_interval
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"tfctl-guard-{self._run_id}",
                                            initializer=block_signals)  # fmt: skip
        try:
            self._inflight = self._pool.submit(self._poll, beat=beat)
        except RuntimeError:  # closed meanwhile
            return None
        return self._inflight

    def _collect(self) -> None:
        """Take the answer of a finished poll, if there is one."""
        done = self._inflight
        if done is None or not done.done():
            return
        self._inflight = None
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:
            self._unreachable(error)
            return
        status, renewed = done.result()
        if self._failing_since is not None:
            log.warning("the job store answers again for run %s", self._run_id)
            self._failing_since = None
        self.status = status
        if renewed is not None:
            self._renewed = self._last_beat = renewed
        if status != RunStatus.RUNNING:
            self.stopped = {RunStatus.CANCELLED: Stop.CANCELLED,
                            RunStatus.ERRORED: Stop.LOST}.get(status, Stop.ENDED)  # fmt: skip

    def _unreachable(self, error: BaseException) -> None:
        # A store hiccup must not kill a running apply: the next poll retries. Said once per
        # outage (a poll every 0.1 s would flood the log).
        if self._failing_since is None:
            self._failing_since = self._clock()
            log.warning(
                "could not reach the job store to check run %s",
                self._run_id,
                exc_info=(type(error), error, error.__traceback__),
            )

    def _lease_in_doubt(self) -> bool:
        return self._lease is not None and self._clock() - self._renewed >= self._lease / 2

    def _fence(self) -> None:
        self.stopped = Stop.FENCED
        log.warning(
            "%s: run %s's lease was last renewed %.1f s ago (lease %.0f s); stopping terraform",
            LOST_CONTACT, self._run_id, self._clock() - self._renewed, self._lease or 0.0,
        )  # fmt: skip

    # --- on the helper threads ---------------------------------------------------------

    def _poll(self, *, beat: bool) -> tuple[RunStatus, float | None]:
        """The run's status; with `beat`, also renew its lease (only while it is running).
        Returns the status and, when the lease was renewed, this clock's time before the
        renewal was sent (the lease cannot have started earlier)."""
        from sqlmodel import select

        from tfctl.persistence.clock import store_now
        from tfctl.persistence.models import Run
        from tfctl.persistence.runs import heartbeat

        sent = self._clock()
        with self._store.write() if beat else self._store.read() as session:
            status = RunStatus(session.exec(select(Run.status).where(Run.id == self._run_id)).one())
            renewed = beat and status == RunStatus.RUNNING
            if renewed:
                heartbeat(session=session, run_id=self._run_id, at=store_now(session))
        return status, sent if renewed else None

    def _keep(self) -> None:
        block_signals()  # Ctrl-C goes to the main thread (tfctl/threads.py)
        while not self._closed.wait(self._poll_interval):
            if self.should_cancel():
                return
