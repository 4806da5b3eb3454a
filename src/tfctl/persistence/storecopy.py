"""Copying the job store into another store: the cold-start bootstrap handover.

A cluster's first runs happen on the embedded SQLite store, before PostgreSQL exists; once it
does, `copy_store` moves that history into it (or any store into any other). The copy is
idempotent — copying again only inserts what is new and updates what changed — and happens in
one transaction on the target, so a failed copy leaves nothing half-copied.

Rows are matched by their primary key: ids are time-ordered strings that never collide across
stores (`ids.new_id`). A table whose key is a database-assigned integer (`run_logs`) is matched
by its first unique constraint instead, and the target assigns its own integers. For every row
the source holds, the source wins; rows only the target holds are left alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.settings import mask_url_password

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

    from tfctl.persistence.db import Store

#: Rows read from the source, looked up in the target and written per round trip: enough to
#: amortise the round trips, small enough that a store of millions of log lines streams.
BATCH_SIZE = 1000
_PG_COPY_LOCK = 0x7466_6374_6C_63  # advisory-lock key: concurrent copies into one store queue up
_UNFINISHED_SHOWN = 10

Row = dict[str, Any]


@dataclass(slots=True)
class TableCounts:
    """What a copy did to one table's rows."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


@dataclass(frozen=True, slots=True)
class CopyReport:
    """The outcome of `copy_store`; `to_dict()` is the documented `--json` shape."""

    source: str
    target: str
    tables: dict[str, TableCounts]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "tables": {name: counts.to_dict() for name, counts in self.tables.items()},
            "warnings": list(self.warnings),
        }


def copy_store(source: Store, target_url: str, *, batch_size: int = BATCH_SIZE) -> CopyReport:
    """Copy every table of `source` (an open store, at this tfctl's schema) into the store at
    `target_url`, which is created or migrated to head first.

    Idempotent: missing rows are inserted, differing rows updated, identical rows left alone.
    All in one transaction on the target. Refuses (`InvalidInput`) a target URL that is not a
    store URL or names the source's own database, and (`SchemaTooNew`) a target migrated by a
    newer tfctl; a row that clashes with a different row of the target (e.g. a stack of the
    same name but another id) fails the copy (`StoreError`) and nothing is written.
    The report warns about runs still queued or running in the source: copy again after
    they finish.
    """
    from tfctl.persistence.schema import upgrade

    engine = _target_engine(target_url)
    try:
        _refuse_same_database(source.engine, engine)
        upgrade(engine)
        tables, warnings = _copy_all(source.engine, engine, batch_size)
    finally:
        engine.dispose()
    return CopyReport(source.url, mask_url_password(target_url), tables, warnings)


def model_tables() -> list[Table]:
    """The job store's tables in foreign-key order (a table after those it references)."""
    from sqlmodel import SQLModel

    import tfctl.persistence.models  # noqa: F401 - registers the tables

    return list(SQLModel.metadata.sorted_tables)


def _target_engine(url: str) -> Engine:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from tfctl.persistence.engine import create_store_engine

    shown = mask_url_password(url)
    hint = "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError as exc:
        raise errors.InvalidInput(f"target store {shown!r}: not a database URL; {hint}") from exc
    if backend not in ("sqlite", "postgresql"):
        raise errors.InvalidInput(f"target store {shown!r}: unsupported database; {hint}")
    try:
        return create_store_engine(url)
    except ImportError as exc:  # a driver that is not installed, e.g. postgresql+psycopg2://
        raise errors.InvalidInput(f"target store {shown!r}: {exc}; {hint}") from exc


def _refuse_same_database(source: Engine, target: Engine) -> None:
    """Also the first connection to the target: any failure to connect is `StoreUnavailable`."""
    from sqlalchemy.exc import OperationalError

    from tfctl.persistence.engine import translate_connection_errors

    with translate_connection_errors(source), source.connect() as connection:
        mine = _identity(connection)
    shown = mask_url_password(target.url.render_as_string(hide_password=False))
    try:
        with target.connect() as connection:
            theirs = _identity(connection)
    except OperationalError as exc:  # no server, unknown host, no such database, ...
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise errors.StoreUnavailable(
            f"cannot reach the target store at {shown}: {reason}"
        ) from exc
    if mine == theirs:
        raise errors.InvalidInput(f"the target {shown} is the source store itself; give another")


def _identity(connection: Connection) -> tuple[str, ...]:
    """What tells two connections apart as databases, whatever URL reached them: a SQLite
    file's real path; a PostgreSQL database's name on a server identified by its start time
    (readable without privileges, unlike most server identifiers)."""
    import os

    from sqlalchemy import text

    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("PRAGMA database_list").all()
        path = next(str(row[2]) for row in rows if row[1] == "main")
        return ("sqlite", os.path.realpath(path) if path else f"memory:{id(connection)}")
    row = connection.execute(text("SELECT current_database(), pg_postmaster_start_time()")).one()
    return ("postgresql", str(row[0]), str(row[1]))


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction on the source, so every table is read as of the same moment."""
    from tfctl.persistence.engine import translate_connection_errors

    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with translate_connection_errors(engine), engine.connect() as connection:
        connection.execution_options(**options)
        with connection.begin():
            yield connection


def _copy_all(
    source: Engine, target: Engine, batch_size: int
) -> tuple[dict[str, TableCounts], tuple[str, ...]]:
    from sqlalchemy import text

    from tfctl.persistence.engine import translate_connection_errors, writer

    with (
        _snapshot(source) as src,
        translate_connection_errors(target),
        writer(target).begin() as dst,
    ):
        _check_source_schema(src)
        if dst.dialect.name == "postgresql":
            dst.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_COPY_LOCK})
        counts = {
            t.name: _copy_table(src, dst, _TablePlan.of(t), batch_size) for t in model_tables()
        }
        return counts, _unfinished_runs(src)


def _check_source_schema(src: Connection) -> None:
    from tfctl.persistence.schema import HEAD, read_revision

    current = read_revision(src)
    if current != HEAD:
        raise errors.SchemaOutdated(
            f"the source store is at schema {current or 'none'}, this tfctl copies {HEAD}; "
            "upgrade it first (`tfctl db upgrade`)"
        )


@dataclass(frozen=True, slots=True)
class _TablePlan:
    """How one table is copied: the columns that identify a row across stores (`key`), the
    columns copied and compared, and the columns that reference the table itself."""

    table: Table
    key: tuple[str, ...]
    columns: tuple[str, ...]
    self_refs: tuple[str, ...] = ()

    @classmethod
    def of(cls, table: Table) -> _TablePlan:
        surrogate = _surrogate_key(table)
        key = _natural_key(table) if surrogate else tuple(c.name for c in table.primary_key)
        columns = tuple(c.name for c in table.columns if c.name != surrogate)
        pk = list(table.primary_key)
        self_refs = tuple(
            fk.parent.name for fk in table.foreign_keys if len(pk) == 1 and fk.column is pk[0]
        )
        return cls(table, key, columns, self_refs)

    def key_of(self, row: Row) -> tuple[Any, ...]:
        return tuple(row[name] for name in self.key)

    def differs(self, row: Row, current: Row) -> bool:
        return any(row[name] != current[name] for name in self.columns)


def _surrogate_key(table: Table) -> str | None:
    """The name of a database-assigned integer primary key, which differs between stores."""
    from sqlalchemy import Integer

    pk = list(table.primary_key)
    if len(pk) == 1 and isinstance(pk[0].type, Integer) and pk[0].autoincrement in (True, "auto"):
        return pk[0].name
    return None


def _natural_key(table: Table) -> tuple[str, ...]:
    from sqlalchemy import UniqueConstraint

    for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
        if isinstance(constraint, UniqueConstraint):
            return tuple(column.name for column in constraint.columns)
    raise errors.StoreError(
        f"table {table.name} has a database-assigned key and no unique columns: "
        "its rows cannot be matched across stores"
    )


def _copy_table(src: Connection, dst: Connection, plan: _TablePlan, batch_size: int) -> TableCounts:
    from sqlalchemy import literal, select
    from sqlalchemy.exc import IntegrityError

    table = plan.table
    query = select(*(table.c[n] for n in plan.columns)).order_by(*(table.c[n] for n in plan.key))
    counts, pending = TableCounts(), []
    look_up = dst.execute(select(literal(1)).select_from(table).limit(1)).first() is not None
    try:
        result = src.execute(query.execution_options(yield_per=batch_size))
        for batch in result.mappings().partitions():
            rows = [dict(row) for row in batch]
            pending += _merge_batch(dst, plan, rows, counts, look_up=look_up)
        _update(dst, plan, pending)
    except IntegrityError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise errors.StoreError(
            f"cannot copy {table.name}: the target refused a row ({reason}), e.g. one that "
            "clashes with a different row the target already has; nothing was copied"
        ) from exc
    return counts


def _merge_batch(
    dst: Connection, plan: _TablePlan, rows: list[Row], counts: TableCounts, *, look_up: bool
) -> list[Row]:
    """Insert the batch's new rows and update its changed ones; returns the self-references
    that must wait until the rows they point at exist (see `_detach_dangling`). Without
    `look_up` (the target's table was empty) every row is new."""
    existing = {plan.key_of(row): row for row in _target_rows(dst, plan, rows)} if look_up else {}
    inserts = [row for row in rows if plan.key_of(row) not in existing]
    updates = [row for row in rows if plan.key_of(row) in existing]
    updates = [row for row in updates if plan.differs(row, existing[plan.key_of(row)])]
    counts.inserted += len(inserts)
    counts.updated += len(updates)
    counts.unchanged += len(rows) - len(inserts) - len(updates)
    pending = _detach_dangling(dst, plan, inserts + updates)
    if inserts:
        # executemany: psycopg pipelines it (measured faster than one multi-row INSERT).
        dst.execute(plan.table.insert(), inserts)
    _update(dst, plan, updates)
    return pending


def _target_rows(dst: Connection, plan: _TablePlan, rows: Sequence[Row]) -> list[Row]:
    """The target's versions of `rows` (and possibly a few more rows, which the caller's
    lookup by key ignores): each key column IN the batch's values, which any index on the
    key serves, rather than a row-value IN that PostgreSQL plans as a long OR."""
    from sqlalchemy import and_, select

    table = plan.table
    where = and_(*(table.c[n].in_({row[n] for row in rows}) for n in plan.key))
    query = select(*(table.c[n] for n in plan.columns)).where(where)
    return [dict(row) for row in dst.execute(query).mappings()]


def _detach_dangling(dst: Connection, plan: _TablePlan, rows: list[Row]) -> list[Row]:
    """Clear self-references (a run's `parent_run_id`) that point at rows the target does not
    have yet — neither before this batch nor earlier in it — and return them, to be set once
    the whole table is copied. Ids are time-ordered and rows are read in id order, so parents
    normally come first and this list stays empty."""
    if not plan.self_refs:
        return []
    wanted = {row[name] for row in rows for name in plan.self_refs if row[name] is not None}
    available = {key[0] for key in _existing_keys(dst, plan, wanted)}
    pending = []
    for row in rows:
        dangling = [n for n in plan.self_refs if row[n] is not None and row[n] not in available]
        if dangling:
            pending.append({name: row[name] for name in (*plan.key, *plan.self_refs)})
            row.update(dict.fromkeys(dangling))
        available.add(row[plan.key[0]])
    return pending


def _existing_keys(dst: Connection, plan: _TablePlan, values: set[Any]) -> list[tuple[Any, ...]]:
    from sqlalchemy import select

    if not values:
        return []
    column = plan.table.c[plan.key[0]]
    return [tuple(row) for row in dst.execute(select(column).where(column.in_(values)))]


def _update(dst: Connection, plan: _TablePlan, rows: list[Row]) -> None:
    """Set each row's non-key columns, matching it by its key (one executemany)."""
    from sqlalchemy import bindparam

    if not rows:
        return
    table = plan.table
    # The key's bind names must differ from the column names, which name the SET values.
    where = [table.c[n] == bindparam(f"key_{n}") for n in plan.key]
    params = [
        {**{f"key_{n}": row[n] for n in plan.key}, **{n: row[n] for n in row if n not in plan.key}}
        for row in rows
    ]
    dst.execute(table.update().where(*where), params)


def _unfinished_runs(src: Connection) -> tuple[str, ...]:
    """A warning about the source's queued and running runs, which the process working on
    them may still change after the copy."""
    from sqlalchemy import select

    from tfctl.persistence.kinds import RunStatus
    from tfctl.persistence.models import Run

    runs = Run.__table__.c  # type: ignore[attr-defined]
    statuses = [RunStatus.QUEUED.value, RunStatus.RUNNING.value]
    query = select(runs.id, runs.status).where(runs.status.in_(statuses)).order_by(runs.id)
    found = [f"{row.id} ({row.status})" for row in src.execute(query)]
    if not found:
        return ()
    shown = ", ".join(found[:_UNFINISHED_SHOWN])
    more = f" and {len(found) - _UNFINISHED_SHOWN} more" if len(found) > _UNFINISHED_SHOWN else ""
    return (
        f"{len(found)} run(s) were queued or running in the source: {shown}{more}; the process "
        "working on them may still change them — copy again after they finish",
    )
