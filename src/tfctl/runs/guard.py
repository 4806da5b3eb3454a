"""RunGuard: asked by the executor, while terraform runs, whether to stop.

Each poll reads the run's status from the job store (so `tfctl runs cancel` or `tfctl halt`
from any terminal or machine is seen within a poll interval) and, every heartbeat interval,
records that this process is still alive, so a run whose process died can be told apart
from one that is merely slow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tfctl.persistence.kinds import RunStatus
from tfctl.persistence.types import utcnow

if TYPE_CHECKING:
    from tfctl.persistence.db import Store

POLL_INTERVAL = 0.1  # a halt or cancel from any terminal is seen within this (one indexed read)
HEARTBEAT_INTERVAL = 5.0
log = logging.getLogger(__name__)


class RunGuard:
    def __init__(
        self,
        store: Store,
        run_id: str,
        *,
        poll_interval: float = POLL_INTERVAL,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self._run_id, self._clock = store, run_id, clock
        self._poll_interval, self._heartbeat_interval = poll_interval, heartbeat_interval
        self._last_poll = self._last_beat = clock()
        self._cancelled = False

    def should_cancel(self) -> bool:
        """True once the run's status in the store is `cancelled`; heartbeats on the way."""
        now = self._clock()
        if self._cancelled or now - self._last_poll < self._poll_interval:
            return self._cancelled
        self._last_poll = now
        try:
            self._cancelled = self._poll(beat=now - self._last_beat >= self._heartbeat_interval)
        except Exception:  # a store hiccup must not kill a running apply; next poll retries
            log.warning(
                "could not reach the job store to check run %s", self._run_id, exc_info=True
            )
        return self._cancelled

    def _poll(self, *, beat: bool) -> bool:
        from sqlmodel import select

        from tfctl.persistence.models import Run
        from tfctl.persistence.runs import heartbeat

        with self._store.write() if beat else self._store.read() as session:
            status = session.exec(select(Run.status).where(Run.id == self._run_id)).one()
            if beat:
                heartbeat(session=session, run_id=self._run_id, at=utcnow())
        if beat:
            self._last_beat = self._clock()
        return bool(status == RunStatus.CANCELLED)
