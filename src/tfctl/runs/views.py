"""Reading runs: the view users see (`--json` shape), lists, logs and what queued runs wait for."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store
from tfctl.persistence.kinds import RunStatus
from tfctl.persistence.types import utcnow
from tfctl.runs.status import LOG_COMPLETE, lease_cutoff

if TYPE_CHECKING:
    from sqlmodel import Session

    from tfctl.persistence.db import Store
    from tfctl.persistence.models import Run


@dataclass(frozen=True, slots=True)
class RunView:
    """A run as users see it. `to_dict()` is the documented, stable `--json` shape."""

    id: str
    workspace: str
    operation: str
    plan_mode: str
    status: str
    parent_run_id: str | None
    spec_version_id: str | None
    actor: str
    host: str
    worker: str | None
    terraform_version: str | None
    exit_code: int | None
    message: str | None
    plan_sha256: str | None
    summary: dict[str, Any] | None
    policy_results: dict[str, Any] | None
    auto_apply: bool
    halted: bool
    halt_reason: str | None
    halted_by: str | None
    experiment_id: str | None
    test_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: Run, workspace: str) -> RunView:
        fields = {name: getattr(run, name) for name in cls.__slots__ if name != "workspace"}
        return cls(workspace=workspace, **fields)

    @property
    def has_changes(self) -> bool:
        """A plan with something to apply (terraform's detailed exit code 2)."""
        return self.operation == "plan" and self.exit_code == 2

    @property
    def action(self) -> str:
        """What the run does, in a user's words: `plan`, `destroy-plan`, `refresh-plan`, or
        for the apply of such a plan `apply`, `destroy`, `refresh`."""
        return run_action(self.operation, self.plan_mode)

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or utcnow()) - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        for key in ("created_at", "started_at", "finished_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["duration_seconds"] = None if self.duration is None else round(self.duration, 3)
        data["action"] = self.action
        return data


def run_action(operation: str, plan_mode: str) -> str:
    """`destroy` for the apply of a destroy plan, `destroy-plan` for the plan itself, ...;
    `assessment` for a drift assessment (a plan nobody applies)."""
    if plan_mode == "assessment":
        return "assessment"
    word = {"destroy": "destroy", "refresh-only": "refresh"}.get(plan_mode)
    if operation == "apply":
        return word or "apply"
    return f"{word}-plan" if word else "plan"


def view(session: Session, run: Run) -> RunView:
    workspace = store.get_workspace_by_id(session=session, workspace_id=run.workspace_id)
    return RunView.of(run, workspace.name)


def show_run(db: Store, run_id: str) -> RunView:
    with db.read() as session:
        return view(session, run_store.get_run(session=session, run_id=run_id))


def list_runs(
    db: Store, *, workspace: str | None = None, status: list[str] | None = None, limit: int = 50
) -> list[RunView]:
    """Newest first; `status` values must be run statuses."""
    return list(run_page(db, workspace=workspace, status=status, limit=limit).runs)


@dataclass(frozen=True, slots=True)
class RunPage:
    """A page of runs, newest first. `next` is the cursor of the page after it (an opaque
    string for `run_page(after=...)`), None on the last page."""

    runs: tuple[RunView, ...]
    next: str | None


def run_page(
    db: Store,
    *,
    workspace: str | None = None,
    status: list[str] | None = None,
    limit: int = 50,
    after: str | None = None,
    before: str | None = None,
) -> RunPage:
    """At most `limit` runs, newest first, that come after the cursor `after` (a page's
    `next`) or are older than the run `before` (an id or an abbreviation of one). Reads
    `limit + 1` runs to know whether another page follows; never counts or skips rows."""
    _check_statuses(status or [])
    if limit < 1:
        raise errors.InvalidInput(f"--limit {limit}: give at least 1 (runs per page)")
    position = decode_cursor(after) if after is not None else None
    with db.read() as session:
        workspace_id = None
        if workspace is not None:
            workspace_id = store.get_workspace(session=session, name=workspace).id
        if before is not None:
            run = run_store.get_run(session=session, run_id=before)
            position = (run.created_at, run.id)
        rows = run_store.list_runs(
            session=session, workspace_id=workspace_id, statuses=status or [],
            limit=limit + 1, after=position,
        )  # fmt: skip
        views = tuple(RunView.of(run, name) for run, name in rows[:limit])
    following = encode_cursor(views[-1].created_at, views[-1].id) if len(rows) > limit else None
    return RunPage(views, following)


def _check_statuses(statuses: list[str]) -> None:
    for value in statuses:
        if value not in RunStatus.__members__.values():
            known = ", ".join(s.value for s in RunStatus)
            raise errors.InvalidInput(
                f"--status {value!r}: unknown status; expected one of {known}"
            )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"(\d{1,20})\.(run-[0-9a-z]{1,36})")


def encode_cursor(created_at: datetime, run_id: str) -> str:
    """The cursor of the position of the run (created_at, run_id) in a newest-first list:
    URL-safe base64 of `<microseconds since the epoch>.<run id>`, opaque to clients."""
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{micros}.{run_id}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, str]:
    """The (created_at, run id) of a cursor from `encode_cursor`; InvalidInput otherwise."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        found = _CURSOR.fullmatch(raw.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        found = None
    if found is None:
        raise errors.InvalidInput(
            f"cursor {text[:60]!r} is not one this list gave: start from the first page, "
            "then follow each page's next link"
        )
    return _EPOCH + timedelta(microseconds=int(found.group(1))), found.group(2)


#: Lines a follower reads at a time.
FOLLOW_PAGE = 1000


def follow_logs(
    db: Store,
    run_id: str,
    *,
    follow: bool = False,
    poll_interval: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[str, str]]:
    """`(stream, line)` of a run's stored log, read a page at a time (never the whole log
    in memory); with `follow`, keep reading until the run reaches a final status (from any
    machine that shares the store). Whether the run is done is read before its lines: its
    log reaches the store before its final status, so a done run's lines are all there."""
    with db.read() as session:
        run_id = run_store.get_run(session=session, run_id=run_id).id
    seq = 0
    while True:
        with db.read() as session:
            finished = _finished(session, run_id)
            rows = run_store.read_log_lines(session=session, run_id=run_id, after_seq=seq,
                                            limit=FOLLOW_PAGE)  # fmt: skip
        for _seq, stream, line in rows:
            yield stream, line
        seq = rows[-1][0] if rows else seq
        if len(rows) == FOLLOW_PAGE:
            continue  # more lines are there already
        if finished or not follow:
            return
        sleep(poll_interval)


def _finished(session: Session, run_id: str) -> bool:
    run = run_store.get_run(session=session, run_id=run_id)
    return run.status in LOG_COMPLETE


@dataclass(frozen=True, slots=True)
class LogLine:
    seq: int
    stream: str
    text: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "stream": self.stream, "text": self.text,
                "at": self.at.isoformat()}  # fmt: skip


@dataclass(frozen=True, slots=True)
class LogPage:
    """Log lines after a sequence number; `next` is the `after` of the next page, and
    `finished` says the run is done (no line will follow those read)."""

    lines: tuple[LogLine, ...]
    next: int
    finished: bool

    def to_dict(self) -> dict[str, Any]:
        return {"lines": [line.to_dict() for line in self.lines], "next": self.next,
                "finished": self.finished}  # fmt: skip


def log_page(db: Store, run_id: str, *, after: int = 0, limit: int = 1000) -> LogPage:
    """Read `finished` before the lines: a run that ends between the two reads is then seen
    as unfinished, and the next page (empty, finished) closes it; never the other way."""
    with db.read() as session:
        run_id = run_store.get_run(session=session, run_id=run_id).id
        finished = _finished(session, run_id)
        rows = run_store.read_logs(session=session, run_id=run_id, after_seq=after, limit=limit)
    lines = tuple(LogLine(r.seq, r.stream, r.line, r.created_at) for r in rows)
    done = finished and len(rows) < limit
    return LogPage(lines, lines[-1].seq if lines else after, done)


def short_ids(db: Store, run_ids: list[str]) -> dict[str, str]:
    """The shortest unique abbreviation of each id (its random tail), for tables."""
    with db.read() as session:
        return run_store.short_ids(session=session, run_ids=run_ids)


def children(db: Store, run_id: str) -> list[RunView]:
    """The apply runs of a plan, oldest first."""
    with db.read() as session:
        run_id = run_store.get_run(session=session, run_id=run_id).id
        return [view(session, run) for run in run_store.children(session=session, run_id=run_id)]


def waiting_for(db: Store, views: list[RunView], *, heartbeat_timeout: float) -> dict[str, str]:
    """For each queued run in `views`, what it waits for: the run holding its workspace, an
    earlier queued run of the same workspace, or a worker."""
    from tfctl.persistence.workers import live_workers

    queued = [v for v in views if v.status == RunStatus.QUEUED]
    if not queued:
        return {}
    since = lease_cutoff(heartbeat_timeout)
    reasons = {}
    with db.read() as session:
        workers = live_workers(session=session, since=since)
        for run in queued:
            reasons[run.id] = _wait_reason(session, run, alive=bool(workers))
    return reasons


def _wait_reason(session: Session, run: RunView, *, alive: bool) -> str:
    workspace = store.get_workspace(session=session, name=run.workspace)
    if workspace.locked_by_run_id and workspace.locked_by_run_id != run.id:
        return f"workspace {run.workspace} (held by run {workspace.locked_by_run_id})"
    earlier = [
        r.id
        for r in run_store.runs_in_status(
            session=session, statuses=[RunStatus.QUEUED], workspace_id=workspace.id
        )
        if r.id < run.id
    ]
    if earlier:
        return f"run {earlier[0]} (queued earlier for {run.workspace})"
    return "a free worker slot" if alive else "a worker (none is alive: start `tfctl worker`)"


def list_workers(db: Store, *, heartbeat_timeout: float) -> list[dict[str, object]]:
    """Live workers (heartbeat within the heartbeat timeout) with their current runs; the
    documented `--json` shape: name, host, pid, concurrency, started_at, heartbeat_at,
    runs_done, current_runs."""
    from tfctl.persistence.workers import current_runs, live_workers

    since = lease_cutoff(heartbeat_timeout)
    with db.read() as session:
        workers = live_workers(session=session, since=since)
        running = current_runs(session=session, worker_names=[w.name for w in workers])
    return [
        {
            "name": w.name,
            "host": w.host,
            "pid": w.pid,
            "concurrency": w.concurrency,
            "started_at": w.started_at.isoformat(),
            "heartbeat_at": w.heartbeat_at.isoformat() if w.heartbeat_at else None,
            "runs_done": w.runs_done,
            "current_runs": running.get(w.name, []),
        }
        for w in workers
    ]
