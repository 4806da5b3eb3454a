"""`tfctl runs logs [--follow]` reads a run's log a page at a time: a log longer than a page
is printed whole (not cut at the first page), a live one is followed line by line to its
end, and no read asks the store for more than a page."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from manyruns import make_runs
from tfctl.persistence import runs as run_store
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import RunStatus
from tfctl.persistence.types import utcnow
from tfctl.runs import views
from tfctl.runs.views import follow_logs


def write_lines(store: Store, run_id: str, first: int, last: int) -> None:
    lines = [(seq, "stdout", f"line {seq}") for seq in range(first, last + 1)]
    with store.write() as session:
        run_store.append_logs(session=session, run_id=run_id, lines=lines)


def set_status(store: Store, run_id: str, status: RunStatus) -> None:
    with store.write() as session:
        run_store.set_status(session=session, run_id=run_id, to=status, from_=list(RunStatus))
        run_store.update_run(session=session, run_id=run_id, finished_at=utcnow() - timedelta(1))


@pytest.fixture
def pages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The `limit` of every read of log lines."""
    limits: list[int] = []
    read = run_store.read_log_lines

    def counted(**kwargs: object) -> list[tuple[int, str, str]]:
        limits.append(int(kwargs["limit"]))  # type: ignore[call-overload]
        return read(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(run_store, "read_log_lines", counted)
    return limits


def test_a_log_longer_than_a_page_is_printed_whole(store: Store, pages: list[int]) -> None:
    run_id = make_runs(store, 1)[0].id
    total = 2 * views.FOLLOW_PAGE + 17
    write_lines(store, run_id, 1, total)

    lines = [line for _, line in follow_logs(store, run_id)]

    assert lines == [f"line {seq}" for seq in range(1, total + 1)]
    assert pages == [views.FOLLOW_PAGE] * 3


def test_a_live_log_is_followed_to_its_end_a_page_at_a_time(store: Store, pages: list[int]) -> None:
    run_id = make_runs(store, 1)[0].id
    set_status(store, run_id, RunStatus.RUNNING)
    total = views.FOLLOW_PAGE + 3000

    def terraform() -> None:
        for first in range(1, total + 1, 500):
            write_lines(store, run_id, first, first + 499)
            time.sleep(0.005)
        set_status(store, run_id, RunStatus.APPLIED)

    writer = threading.Thread(target=terraform)
    writer.start()
    try:
        lines = [line for _, line in follow_logs(store, run_id, follow=True, poll_interval=0.01)]
    finally:
        writer.join()

    assert lines == [f"line {seq}" for seq in range(1, total + 1)]
    assert set(pages) == {views.FOLLOW_PAGE}
