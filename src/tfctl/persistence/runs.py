"""Keyword-only store functions for runs, their logs, workspace locks and state versions.

Status changes and lock changes are conditional UPDATEs, so concurrent processes (a halt in
another terminal, a second worker) resolve by the database, not by luck.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, literal, or_, tuple_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from tfctl import errors
from tfctl.persistence.clock import store_now
from tfctl.persistence.ids import new_id
from tfctl.persistence.kinds import PlanMode, RunStatus
from tfctl.persistence.models import Run, RunLog, StateVersion, Workspace
from tfctl.persistence.types import utcnow


def create_run(*, session: Session, **fields: Any) -> Run:
    """Insert a run; `fields` are `Run` columns (status, operation, workspace_id, ...)."""
    run = Run(id=new_id("run"), **fields)
    session.add(run)
    session.flush()
    return run


#: The shortest abbreviation of a run id accepted, and shown in tables.
MIN_ABBREVIATION = 4
_TAIL = 8  # an id ends with 8 random characters (tfctl.persistence.ids)


def get_run(*, session: Session, run_id: str) -> Run:
    """The run with id `run_id`, or the one run that a unique abbreviation names: the start
    of its id (with or without `run-`) or the end of it (its random tail, as tables show
    it), at least MIN_ABBREVIATION characters. `RunNotFound` otherwise, listing the
    candidates when the abbreviation is ambiguous."""
    run = session.get(Run, run_id)
    if run is not None:
        return run
    text = run_id.strip().lower()
    body = text.removeprefix("run-")
    if len(body) >= MIN_ABBREVIATION and "%" not in body and "_" not in body:
        matches = _abbreviated(session, body, limit=6)
        if len(matches) == 1:
            return matches[0]
        if matches:
            shown = ", ".join(m.id for m in matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise errors.RunNotFound(
                f"run id '{run_id}' is ambiguous: it matches {shown}; give more characters"
            )
    elif len(body) < MIN_ABBREVIATION:
        raise errors.RunNotFound(
            f"run id '{run_id}' is too short: give at least {MIN_ABBREVIATION} characters "
            "of its start or its end"
        )
    raise errors.RunNotFound(f"no run '{run_id}'; `tfctl runs list` shows the runs")


def _abbreviated(session: Session, body: str, *, limit: int) -> list[Run]:
    """The runs whose id starts with `run-<body>` or ends with `body`, by two index ranges
    (the primary key, `id_tail`) rather than one LIKE over every id."""
    queries = [select(Run).where(_tail_is(body[-MIN_ABBREVIATION:]), col(Run.id).endswith(body))]
    if all(char in _ID_CHARS for char in body):  # else no id starts with it
        start = f"run-{body}"
        by_start = select(Run).where(col(Run.id) >= start, col(Run.id).startswith(start))
        below = _next_prefix(body)
        queries.append(by_start.where(col(Run.id) < f"run-{below}") if below else by_start)
    found: dict[str, Run] = {}
    for query in queries:
        for run in session.exec(query.order_by(col(Run.id)).limit(limit)).all():
            found.setdefault(run.id, run)
    return sorted(found.values(), key=lambda run: run.id)[:limit]


#: What follows `run-` in an id, in the order both byte-wise and linguistic collations give.
_ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _next_prefix(body: str) -> str | None:
    """The least string of _ID_CHARS above every one that starts with `body` (None for
    `zz...`): the ids starting with run-<body> are those from it up to run-<this>."""
    head = body.rstrip(_ID_CHARS[-1])
    if not head:
        return None
    return head[:-1] + _ID_CHARS[_ID_CHARS.index(head[-1]) + 1]


def _tail_is(tail: str) -> Any:
    """`id_tail` equals `tail`, or is missing (a row inserted around SQLAlchemy)."""
    return or_(col(Run.id_tail) == tail, col(Run.id_tail).is_(None))


def short_ids(*, session: Session, run_ids: Sequence[str]) -> dict[str, str]:
    """For each id, the shortest end of it (at least MIN_ABBREVIATION characters) that no
    other run's id ends with: what a person types to name it, as git abbreviates commits.
    Every id that ends like one of them shares its last MIN_ABBREVIATION characters, so
    one lookup of the indexed `id_tail` finds all that could clash."""
    tails = {run_id[-MIN_ABBREVIATION:] for run_id in run_ids}
    if not tails:
        return {}
    query = select(Run.id).where(
        or_(col(Run.id_tail).in_(sorted(tails)), col(Run.id_tail).is_(None))
    )
    clashing = [other for other in session.exec(query).all() if other[-MIN_ABBREVIATION:] in tails]
    ends = Counter(other[-n:] for other in set(clashing) | set(run_ids)
                   for n in range(MIN_ABBREVIATION, _TAIL + 1))  # fmt: skip
    short: dict[str, str] = {}
    for run_id in run_ids:
        unique = (run_id[-n:] for n in range(MIN_ABBREVIATION, _TAIL + 1))
        short[run_id] = next((end for end in unique if ends[end] == 1), run_id)
    return short


def set_status(
    *, session: Session, run_id: str, to: RunStatus, from_: Iterable[RunStatus], **fields: Any
) -> bool:
    """Move the run to `to` if its current status is one of `from_`; set `fields` with it.
    One conditional UPDATE: returns False (and changes nothing) when the run has already
    moved on, e.g. because another process cancelled it first. The state machine that says
    which statuses may precede which is `tfctl.runs.status.transition`."""
    allowed = [status.value for status in from_]
    statement = (
        update(Run)
        .where(col(Run.id) == run_id, col(Run.status).in_(allowed))
        .values(status=to.value, **fields)
    )
    return bool(session.exec(statement).rowcount)


def runs_in_status(
    *, session: Session, statuses: Iterable[RunStatus], workspace_id: str | None = None
) -> list[Run]:
    query = select(Run).where(col(Run.status).in_([s.value for s in statuses]))
    if workspace_id is not None:
        query = query.where(Run.workspace_id == workspace_id)
    return list(session.exec(query.order_by(col(Run.created_at))).all())


#: A position in the newest-first list of runs: the (created_at, id) of a run. A page
#: after it holds the runs that sort below it: older, or as old with a smaller id.
Keyset = tuple[datetime, str]


def list_runs(
    *,
    session: Session,
    workspace_id: str | None = None,
    statuses: Sequence[str] = (),
    limit: int = 50,
    after: Keyset | None = None,
) -> list[tuple[Run, str]]:
    """Newest first — (created_at, id) descending — with each run's workspace name; with
    `after`, only the runs below that position (the next page: keyset pagination, never an
    OFFSET). Each filter is an index ending in (created_at, id), so a page reads about
    `limit` index entries however many runs there are. Several statuses are one range per
    status, merged here: `status IN (...)` would sort every run in those statuses."""
    wanted = list(dict.fromkeys(statuses))
    if len(wanted) <= 1:
        return _newest(session, workspace_id, wanted[0] if wanted else None, limit, after)
    rows = [row for status in wanted
            for row in _newest(session, workspace_id, status, limit, after)]  # fmt: skip
    rows.sort(key=lambda row: (row[0].created_at, row[0].id), reverse=True)
    return rows[:limit]


def _newest(
    session: Session, workspace_id: str | None, status: str | None, limit: int,
    after: Keyset | None,
) -> list[tuple[Run, str]]:  # fmt: skip
    query = select(Run, Workspace.name).join(Workspace, col(Workspace.id) == Run.workspace_id)
    if workspace_id is not None:
        query = query.where(Run.workspace_id == workspace_id)
    if status is not None:
        query = query.where(col(Run.status) == status)
    if after is not None:  # a plain tuple: its values are bound with the columns' types
        query = query.where(tuple_(col(Run.created_at), col(Run.id)) < after)
    query = query.order_by(col(Run.created_at).desc(), col(Run.id).desc()).limit(limit)
    return [(run, name) for run, name in session.exec(query).all()]


def children(*, session: Session, run_id: str) -> list[Run]:
    query = select(Run).where(Run.parent_run_id == run_id).order_by(col(Run.created_at))
    return list(session.exec(query).all())


def acquire_workspace(*, session: Session, workspace_id: str, run_id: str) -> str | None:
    """Take the workspace for `run_id`; returns None on success, else the holder's run id."""
    statement = (
        update(Workspace)
        .where(col(Workspace.id) == workspace_id, col(Workspace.locked_by_run_id).is_(None))
        .values(locked_by_run_id=run_id, updated_at=utcnow())
    )
    if session.exec(statement).rowcount:
        return None
    holder = session.get(Workspace, workspace_id, populate_existing=True)
    return holder.locked_by_run_id if holder is not None else None


def release_workspace(*, session: Session, workspace_id: str, run_id: str) -> None:
    """Free the workspace if `run_id` holds it (never another run's lock)."""
    statement = (
        update(Workspace)
        .where(col(Workspace.id) == workspace_id, col(Workspace.locked_by_run_id) == run_id)
        .values(locked_by_run_id=None, updated_at=utcnow())
    )
    session.exec(statement)


def heartbeat(*, session: Session, run_id: str, at: datetime) -> None:
    statement = update(Run).where(col(Run.id) == run_id).values(heartbeat_at=at)
    session.exec(statement)


def supersede_older_plans(*, session: Session, workspace_id: str, newer_run_id: str) -> int:
    """Mark the workspace's other awaiting plans superseded by `newer_run_id`."""
    statement = (
        update(Run)
        .where(
            col(Run.workspace_id) == workspace_id,
            col(Run.status) == RunStatus.AWAITING_APPROVAL.value,
            col(Run.id) != newer_run_id,
        )
        .values(
            status=RunStatus.SUPERSEDED.value,
            message=f"superseded by the newer plan {newer_run_id}",
        )
    )
    return int(session.exec(statement).rowcount)


def latest_plan(*, session: Session, workspace_id: str) -> Run | None:
    """The workspace's newest plan run that got as far as a plan (any outcome); drift
    assessments are not plans anyone applies, so they are left out."""
    query = (
        select(Run)
        .where(Run.workspace_id == workspace_id, Run.operation == "plan")
        .where(col(Run.plan_mode) != PlanMode.ASSESSMENT.value)
        .where(col(Run.status).not_in([RunStatus.QUEUED.value, RunStatus.RUNNING.value]))
        .order_by(col(Run.created_at).desc(), col(Run.id).desc())
        .limit(1)
    )
    return session.exec(query).first()


def append_logs(*, session: Session, run_id: str, lines: Sequence[tuple[int, str, str]]) -> None:
    """Store `(seq, stream, line)` rows of a run's output: one executemany INSERT, not ORM
    objects (a 1,000-resource plan writes ~10,000 lines). A line number the store already
    has is skipped, so a batch retried after a lost acknowledgement is stored once."""
    if not lines:
        return
    now = utcnow()
    rows = [
        {"run_id": run_id, "seq": seq, "stream": stream, "line": line, "created_at": now}
        for seq, stream, line in lines
    ]
    session.execute(_insert_new(session, RunLog, ("run_id", "seq")), rows)


def _insert_new(session: Session, table: Any, key: tuple[str, ...]) -> Any:
    """INSERT ... ON CONFLICT (key) DO NOTHING, in the store's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=list(key))
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=list(key))


class LogRow(NamedTuple):
    seq: int
    stream: str
    line: str
    created_at: datetime


def read_logs(
    *, session: Session, run_id: str, after_seq: int = 0, limit: int = 5000
) -> list[LogRow]:
    """At most `limit` lines of the run's log after line `after_seq`, in order: one range of
    the (run_id, seq) key, read as plain rows (ORM objects cost 4x the time per line)."""
    query = (
        select(RunLog.seq, RunLog.stream, RunLog.line, RunLog.created_at)
        .where(RunLog.run_id == run_id, col(RunLog.seq) > after_seq)
        .order_by(col(RunLog.seq))
        .limit(limit)
    )
    return [LogRow(*row) for row in session.exec(query).all()]


def read_log_lines(
    *, session: Session, run_id: str, after_seq: int = 0, limit: int = 5000
) -> list[tuple[int, str, str]]:
    """`(seq, stream, line)` as `read_logs` reads them, without the times (what a follower
    prints; turning stored times into datetimes is half the cost of reading a line)."""
    query = (
        select(RunLog.seq, RunLog.stream, RunLog.line)
        .where(RunLog.run_id == run_id, col(RunLog.seq) > after_seq)
        .order_by(col(RunLog.seq))
        .limit(limit)
    )
    return [(seq, stream, line) for seq, stream, line in session.connection().execute(query)]


def record_state_version(*, session: Session, **fields: Any) -> StateVersion:
    row = StateVersion(id=new_id("sv"), **fields)
    session.add(row)
    session.flush()
    return row


def state_versions(
    *, session: Session, workspace_id: str, serial: int | None = None, limit: int = 50
) -> list[StateVersion]:
    """Newest first; with `serial`, only the versions at that serial."""
    query = select(StateVersion).where(StateVersion.workspace_id == workspace_id)
    if serial is not None:
        query = query.where(StateVersion.serial == serial)
    query = query.order_by(col(StateVersion.created_at).desc(), col(StateVersion.id).desc())
    return list(session.exec(query.limit(limit)).all())


def stale_holders(*, session: Session, older_than: datetime) -> list[Run]:
    """Running runs whose heartbeat stopped before `older_than` (their process is gone)."""
    query = select(Run).where(
        col(Run.status) == RunStatus.RUNNING.value,
        or_(
            col(Run.heartbeat_at) < older_than,
            and_(col(Run.heartbeat_at).is_(None), col(Run.started_at) < older_than),
        ),
    )
    return list(session.exec(query).all())


def count_runs(*, session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Run)).one())


def fill_run(*, session: Session, run_id: str, **fields: Any) -> None:
    """Set those of `fields` that the run does not have yet (NULL columns), never its status:
    one UPDATE with COALESCE, so a late writer — a process that finds its run already ended
    by a cancel, a halt or another worker — adds what only it knows and overwrites nothing."""
    fields.pop("status", None)
    columns = Run.__table__.c  # type: ignore[attr-defined]
    values = {
        name: func.coalesce(columns[name], literal(value, type_=columns[name].type))
        for name, value in fields.items()
    }
    if values:
        session.exec(update(Run).where(col(Run.id) == run_id).values(**values))


def update_run(*, session: Session, run_id: str, **fields: Any) -> None:
    """Set columns of a run without touching its status (e.g. a cancelled run's exit code)."""
    fields.pop("status", None)
    if fields:
        session.exec(update(Run).where(col(Run.id) == run_id).values(**fields))


def claim_next(*, session: Session, worker: str) -> Run | None:
    """Claim the oldest runnable queued run for `worker`: its workspace is free and no older
    queued run of the same workspace waits before it. The run becomes `running` and holds
    its workspace. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers never wait on each
    other; SQLite: the caller's write transaction (BEGIN IMMEDIATE) serialises claims."""
    older = aliased(Run)
    earlier_in_line = (
        select(older.id)
        .where(older.workspace_id == Run.workspace_id, older.status == RunStatus.QUEUED.value)
        .where(col(older.id) < Run.id)
    )
    query = (
        select(Run)
        .join(Workspace, col(Workspace.id) == Run.workspace_id)
        .where(col(Run.status) == RunStatus.QUEUED.value)
        .where(col(Workspace.locked_by_run_id).is_(None), ~earlier_in_line.exists())
        .order_by(col(Run.id))
        .limit(1)
        .with_for_update(skip_locked=True, of=Run)
    )
    run = session.exec(query).first()
    if run is None:
        return None
    # a drift assessment never holds its workspace (tfctl.runs.drift)
    holds = run.plan_mode != PlanMode.ASSESSMENT
    if holds and acquire_workspace(session=session, workspace_id=run.workspace_id, run_id=run.id):
        return None  # another worker took the workspace first; try again
    now = store_now(session)  # the lease starts by the store's clock
    set_status(session=session, run_id=run.id, to=RunStatus.RUNNING, from_=[RunStatus.QUEUED],
               worker=worker, started_at=now, heartbeat_at=now)  # fmt: skip
    session.refresh(run)
    return run


def claim_run(*, session: Session, run_id: str, worker: str) -> Run | None:
    """Claim the queued run `run_id` for `worker` if it may start now, by the rules of
    `claim_next` (its workspace is free, no older queued run of the workspace waits before
    it); None when it is not queued any more (claimed, finished, cancelled) or must wait."""
    older = aliased(Run)
    earlier_in_line = (
        select(older.id)
        .where(older.workspace_id == Run.workspace_id, older.status == RunStatus.QUEUED.value)
        .where(col(older.id) < Run.id)
    )
    query = (
        select(Run)
        .join(Workspace, col(Workspace.id) == Run.workspace_id)
        .where(col(Run.id) == run_id, col(Run.status) == RunStatus.QUEUED.value)
        .where(col(Workspace.locked_by_run_id).is_(None), ~earlier_in_line.exists())
        .with_for_update(skip_locked=True, of=Run)
    )
    run = session.exec(query).first()
    if run is None:
        return None
    holds = run.plan_mode != PlanMode.ASSESSMENT  # an assessment never holds it (runs/drift.py)
    if holds and acquire_workspace(session=session, workspace_id=run.workspace_id, run_id=run.id):
        return None  # another run took the workspace first
    now = store_now(session)  # the lease starts by the store's clock, as in claim_next
    if not set_status(session=session, run_id=run.id, to=RunStatus.RUNNING,
                      from_=[RunStatus.QUEUED], worker=worker, started_at=now,
                      heartbeat_at=now):  # fmt: skip
        release_workspace(session=session, workspace_id=run.workspace_id, run_id=run.id)
        return None
    session.refresh(run)
    return run


def count_in_status(*, session: Session, status: RunStatus) -> int:
    query = select(func.count()).select_from(Run).where(col(Run.status) == status.value)
    return int(session.exec(query).one())


def hand_over_workspace(
    *, session: Session, workspace_id: str, from_run_id: str, to_run_id: str
) -> None:
    """Pass the workspace from one run to the next without letting it go free."""
    statement = (
        update(Workspace)
        .where(col(Workspace.id) == workspace_id, col(Workspace.locked_by_run_id) == from_run_id)
        .values(locked_by_run_id=to_run_id, updated_at=utcnow())
    )
    session.exec(statement)


def orphaned_locks(*, session: Session, older_than: datetime) -> list[Run]:
    """Runs that hold a workspace although they are no longer running and their process is
    gone (e.g. cancelled or halted after their process died): their heartbeat stopped."""
    query = (
        select(Run)
        .join(Workspace, col(Workspace.locked_by_run_id) == Run.id)
        .where(col(Run.status) != RunStatus.RUNNING.value)
        .where(or_(col(Run.heartbeat_at).is_(None), col(Run.heartbeat_at) < older_than))
    )
    return list(session.exec(query).all())
