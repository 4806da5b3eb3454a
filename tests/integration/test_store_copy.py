"""Copying a job store into another: SQLite → PostgreSQL (the bootstrap handover), back, and
SQLite → SQLite; idempotent, complete, refused when it would be wrong."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from pg import PostgresServer
from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence.db import Store
from tfctl.persistence.engine import create_store_engine
from tfctl.persistence.ids import new_id
from tfctl.persistence.kinds import RunStatus
from tfctl.persistence.models import Run, RunArtifact, SpecVersion, Stack, Worker, Workspace
from tfctl.persistence.schema import upgrade
from tfctl.persistence.storecopy import copy_store, model_tables
from tfctl.persistence.types import utcnow
from tfctl.runs.status import transition
from tfctl.stacks import push_spec_file
from tfctl.workspaces import create_workspace

TABLES = [
    "stacks",
    "spec_versions",
    "workers",
    "workspaces",
    "runs",
    "run_artifacts",
    "run_logs",
    "state_versions",
]
LOG_LINES = 25
#: Small batches, so every table spans several of them (the default is 1,000 rows).
BATCH = 7


@dataclass(frozen=True)
class Seeded:
    plan_id: str
    apply_id: str
    early_child_id: str
    running_id: str
    queued_id: str


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Store]:
    db = Store.open(f"sqlite:///{tmp_path / 'bootstrap.db'}", auto_upgrade=True)
    yield db
    db.engine.dispose()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    with pg_server.database() as url:
        yield url


@pytest.fixture
def seeded(source: Store, tmp_path: Path) -> Seeded:
    """A bootstrap's worth of history: two spec versions, a workspace locked by a running run,
    a plan and its apply, finished and unfinished runs with logs, a state version, a worker,
    and a binary plan artifact."""
    spec = tmp_path / "web.yaml"
    for size in (1, 2):
        spec.write_text(f"name: web\nkind: storage\nvariables: {{size: {size}}}\n")
        push_spec_file(source, spec, author="bootstrap")
    create_workspace(
        source,
        "web",
        stack="web",
        backend="local",
        backend_config={},
        variables={"namespace": "eu"},
    )
    with source.write() as session:
        return _runs(session)


def _runs(session: Any) -> Seeded:
    workspace = session.execute(select(Workspace)).scalar_one()
    version = session.execute(select(SpecVersion).where(SpecVersion.version == 2)).scalar_one()
    now = utcnow()
    common = {"workspace_id": workspace.id, "actor": "bootstrap", "host": "node-0"}
    plan = run_store.create_run(
        session=session,
        **common,
        spec_version_id=version.id,
        operation="plan",
        status="applied",
        summary={"add": 1, "resources": [{"address": "terraform_data.x", "action": "create"}]},
        policy_results={"results": []},
        exit_code=2,
        plan_sha256="a" * 64,
        started_at=now - timedelta(minutes=5),
        finished_at=now - timedelta(minutes=4),
        experiment_id="exp-1",
    )
    apply = run_store.create_run(
        session=session, **common, operation="apply", status="applied", parent_run_id=plan.id
    )
    # An apply whose id sorts before its plan's (a clock that stepped back): the copy must
    # not depend on parents coming first.
    early = Run(id="run-000000000000000000", parent_run_id=plan.id, **common)
    early.operation, early.status, early.message = "apply", "errored", "line 1\nline 2 ✓"
    session.add(early)
    running = run_store.create_run(
        session=session, **common, operation="plan", status="running", heartbeat_at=now
    )
    queued = run_store.create_run(session=session, **common, operation="plan", status="queued")
    session.flush()
    run_store.acquire_workspace(session=session, workspace_id=workspace.id, run_id=running.id)
    for run in (plan, apply, early, running):
        lines = [
            (seq, "stdout" if seq % 3 else "stderr", f"{run.id} héllo {seq}")
            for seq in range(1, LOG_LINES + 1)
        ]
        run_store.append_logs(session=session, run_id=run.id, lines=lines)
    run_store.record_state_version(
        session=session,
        workspace_id=workspace.id,
        run_id=apply.id,
        serial=1,
        lineage="lineage-1",
        sha256="b" * 64,
        terraform_version="1.11.0",
        resource_count=1,
        resources=["terraform_data.x"],
        outputs={"greeting": {"value": "hi", "type": "string", "sensitive": False}},
    )
    session.add(
        Worker(id=new_id("wrk"), name="worker-1", host="node-0", pid=4242, heartbeat_at=now)
    )
    content = bytes(range(256)) * 16
    session.add(
        RunArtifact(
            run_id=plan.id, name="plan.tar.gz", sha256="c" * 64, size=len(content), content=content
        )
    )
    return Seeded(plan.id, apply.id, early.id, running.id, queued.id)


def dump(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in key order; `run_logs.id` is the store's own numbering."""
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            return {table.name: _rows(connection, table) for table in model_tables()}
    finally:
        engine.dispose()


def _rows(connection: Any, table: Any) -> list[dict[str, Any]]:
    rows = [dict(row) for row in connection.execute(select(table)).mappings()]
    if table.name == "run_logs":
        rows = [{k: v for k, v in row.items() if k != "id"} for row in rows]
        return sorted(rows, key=lambda row: (row["run_id"], row["seq"]))
    key = [column.name for column in table.primary_key]
    return sorted(rows, key=lambda row: tuple(row[name] for name in key))


def counts(report: Any) -> dict[str, tuple[int, int, int]]:
    return {name: (c.inserted, c.updated, c.unchanged) for name, c in report.tables.items()}


def sizes(url: str) -> dict[str, int]:
    return {name: len(rows) for name, rows in dump(url).items()}


def test_tables_are_every_model_table_in_foreign_key_order() -> None:
    tables = model_tables()
    names = [table.name for table in tables]
    assert set(TABLES) <= set(names)  # and any table added later
    assert "alembic_version" not in names
    for position, table in enumerate(tables):
        for fk in table.foreign_keys:
            assert fk.column.table is table or names.index(fk.column.table.name) < position


@pytest.mark.postgres
def test_copy_into_postgresql_is_complete_then_idempotent(
    source: Store, seeded: Seeded, pg_url: str
) -> None:
    source_url = source.engine.url.render_as_string(hide_password=False)
    expected = dump(source_url)
    seeded_sizes = {name: len(rows) for name, rows in expected.items() if name in TABLES}
    assert seeded_sizes == {
        "stacks": 1,
        "spec_versions": 2,
        "workers": 1,
        "workspaces": 1,
        "runs": 5,
        "run_artifacts": 1,
        "run_logs": 4 * LOG_LINES,
        "state_versions": 1,
    }

    first = copy_store(source, pg_url, batch_size=BATCH)
    assert counts(first) == {name: (len(rows), 0, 0) for name, rows in expected.items()}
    assert dump(pg_url) == expected
    assert first.target == pg_url
    assert first.source.endswith("bootstrap.db")

    second = copy_store(source, pg_url, batch_size=BATCH)
    assert counts(second) == {name: (0, 0, len(rows)) for name, rows in expected.items()}
    assert dump(pg_url) == expected


@pytest.mark.postgres
def test_rows_keep_their_values_across_databases(
    source: Store, seeded: Seeded, pg_url: str
) -> None:
    copy_store(source, pg_url)
    target = Store.open(pg_url, auto_upgrade=False)
    try:
        with target.read() as session:
            early = session.get(Run, seeded.early_child_id)
            artifact = session.execute(select(RunArtifact)).scalar_one()
            workspace = session.execute(select(Workspace)).scalar_one()
            logs = run_store.read_logs(session=session, run_id=seeded.plan_id)
    finally:
        target.engine.dispose()
    assert early is not None
    assert early.parent_run_id == seeded.plan_id
    assert early.message == "line 1\nline 2 ✓"
    assert artifact.content == bytes(range(256)) * 16
    assert workspace.locked_by_run_id == seeded.running_id
    assert [line.seq for line in logs] == list(range(1, LOG_LINES + 1))
    assert logs[0].line == f"{seeded.plan_id} héllo 1"


@pytest.mark.postgres
def test_unfinished_runs_are_reported(source: Store, seeded: Seeded, pg_url: str) -> None:
    (warning,) = copy_store(source, pg_url).warnings
    assert warning.startswith("2 run(s) were queued or running in the source")
    assert f"{seeded.running_id} (running)" in warning
    assert f"{seeded.queued_id} (queued)" in warning
    assert "copy again after they finish" in warning


@pytest.mark.postgres
def test_a_run_that_changed_since_the_last_copy_is_updated(
    source: Store, seeded: Seeded, pg_url: str
) -> None:
    copy_store(source, pg_url, batch_size=BATCH)
    with source.write() as session:
        moved = transition(
            session=session, run_id=seeded.running_id, to=RunStatus.ERRORED, exit_code=1
        )
    assert moved

    again = copy_store(source, pg_url, batch_size=BATCH)
    assert counts(again)["runs"] == (0, 1, 4)
    assert all(c == (0, 0, c[2]) for name, c in counts(again).items() if name != "runs")
    status = dump(pg_url)["runs"]
    assert {row["id"]: row["status"] for row in status}[seeded.running_id] == "errored"
    assert all(seeded.running_id not in warning for warning in again.warnings)


@pytest.mark.postgres
def test_postgresql_back_to_sqlite_and_sqlite_to_sqlite(
    source: Store, seeded: Seeded, pg_url: str, tmp_path: Path
) -> None:
    expected = dump(source.engine.url.render_as_string(hide_password=False))
    direct = f"sqlite:///{tmp_path / 'copies' / 'direct.db'}"
    with pytest.raises(errors.InvalidSetting, match="does not exist; create it first"):
        copy_store(source, direct)  # a typo'd directory is not created silently
    (tmp_path / "copies").mkdir()
    assert counts(copy_store(source, direct))["run_logs"] == (4 * LOG_LINES, 0, 0)
    assert dump(direct) == expected

    copy_store(source, pg_url)
    central = Store.open(pg_url, auto_upgrade=False)
    back = f"sqlite:///{tmp_path / 'back.db'}"
    try:
        copy_store(central, back, batch_size=BATCH)
        assert counts(copy_store(central, back))["runs"] == (0, 0, 5)
    finally:
        central.engine.dispose()
    assert dump(back) == expected


@pytest.mark.postgres
def test_a_target_migrated_by_a_newer_tfctl_is_refused(
    source: Store, seeded: Seeded, pg_url: str
) -> None:
    engine = create_store_engine(pg_url)
    try:
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    finally:
        engine.dispose()
    with pytest.raises(errors.SchemaTooNew, match="9999_future"):
        copy_store(source, pg_url)
    assert sizes(pg_url)["runs"] == 0


def test_copying_a_store_onto_itself_is_refused(store: Store, tmp_path: Path) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        aliases = [url, f"sqlite:///{path.parent}/../{path.parent.name}/{path.name}"]
    else:
        aliases = [url, f"{url}&application_name=other"]
    for alias in aliases:
        with pytest.raises(errors.InvalidInput, match="is the source store itself"):
            copy_store(store, alias)


@pytest.mark.postgres
def test_a_clashing_row_fails_the_copy_and_writes_nothing(
    source: Store, seeded: Seeded, pg_url: str
) -> None:
    central = Store.open(pg_url, auto_upgrade=True)
    try:  # someone already created a workspace "web" (another id) in the central store
        with central.write() as session:
            session.add(Stack(id=new_id("stk"), name="other", kind="storage"))
            session.flush()
            stack_id = session.execute(select(Stack.id)).scalar_one()
            session.add(Workspace(id=new_id("ws"), name="web", stack_id=stack_id, backend="local"))
    finally:
        central.engine.dispose()

    with pytest.raises(errors.StoreError, match="cannot copy workspaces.*nothing was copied"):
        copy_store(source, pg_url)
    after = dump(pg_url)
    assert [row["name"] for row in after["stacks"]] == ["other"]  # stacks came first, rolled back
    assert sizes(pg_url)["spec_versions"] == 0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u:hunter2@db/tfctl", "unsupported database"),
        ("postgresql+psycopg2://u:hunter2@db/tfctl", "psycopg2"),
    ],
)
def test_a_bad_target_url_is_invalid_input(source: Store, url: str, problem: str) -> None:
    with pytest.raises(errors.InvalidInput, match=problem) as caught:
        copy_store(source, url)
    assert "hunter2" not in caught.value.message


def test_an_unreachable_target_is_unavailable(source: Store, tmp_path: Path) -> None:
    for url in (
        "postgresql+psycopg://u:hunter2@no-such-host.invalid/tfctl",
        f"postgresql+psycopg://postgres@/tfctl?host={tmp_path}",  # nothing listens there
    ):
        with pytest.raises(errors.StoreUnavailable, match="cannot reach the target") as caught:
            copy_store(source, url)
        assert "hunter2" not in caught.value.message


def test_a_released_workspace_lock_is_updated_in_a_sqlite_target(
    source: Store, seeded: Seeded, tmp_path: Path
) -> None:
    target = f"sqlite:///{tmp_path / 'target.db'}"
    copy_store(source, target)
    with source.write() as session:
        workspace = session.execute(select(Workspace)).scalar_one()
        run_store.release_workspace(
            session=session, workspace_id=workspace.id, run_id=seeded.running_id
        )
        session.execute(update(Run).where(Run.id == seeded.queued_id).values(status="cancelled"))
    report = copy_store(source, target)
    assert counts(report)["workspaces"] == (0, 1, 0)
    assert counts(report)["runs"] == (0, 1, 4)
    assert dump(target) == dump(source.engine.url.render_as_string(hide_password=False))
    assert dump(target)["workspaces"][0]["locked_by_run_id"] is None
