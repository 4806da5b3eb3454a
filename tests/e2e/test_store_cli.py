"""The bootstrap handover as an operator types it: `tfctl store copy --to URL` and
`tfctl doctor --wait-for-db SECONDS` (plus `wait_for_store`'s backoff with a fake clock)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from subprocess import PIPE

import psycopg
import pytest

from clihelp import ok, refused, tfctl, tfctl_bin
from pg import PostgresServer
from tfctl import errors
from tfctl.doctor import wait_for_store

SPEC = "name: web\nkind: storage\nvariables: {size: 1}\n"
TABLES = {
    "stacks",
    "spec_versions",
    "workers",
    "workspaces",
    "runs",
    "run_artifacts",
    "run_logs",
    "state_versions",
}


@pytest.fixture
def pushed(tmp_path: Path) -> None:
    ok("init")
    (tmp_path / "web.yaml").write_text(SPEC)
    ok("stack", "push", str(tmp_path / "web.yaml"))
    ok("workspace", "create", "web", "--stack", "web", "--var", "namespace=eu")


@pytest.mark.postgres
def test_store_copy_to_postgresql_twice(pushed: None, pg_server: PostgresServer) -> None:
    with pg_server.database() as url:
        # trust authentication ignores the password; the output must never show it
        secret_url = url.replace("postgres@", "postgres:hunter2@")
        first_out = ok("store", "copy", "--to", secret_url, "--json")
        second_out = ok("store", "copy", "--to", secret_url, "--json")
        table_out = ok("store", "copy", "--to", secret_url)
    first, second = json.loads(first_out), json.loads(second_out)

    assert first["target"] == url.replace("postgres@", "postgres:***@")
    assert first["source"].endswith("/tfctl.db")
    assert set(first["tables"]) >= TABLES  # every table, including any added later
    assert first["warnings"] == []
    copied = {"stacks": 1, "spec_versions": 1, "workspaces": 1}
    for name, counts in first["tables"].items():
        assert counts == {"inserted": copied.get(name, 0), "updated": 0, "unchanged": 0}
    for name, counts in second["tables"].items():
        assert counts == {"inserted": 0, "updated": 0, "unchanged": copied.get(name, 0)}
    assert "hunter2" not in first_out + table_out
    lines = table_out.splitlines()
    assert "INSERTED" in lines[1]
    assert any(line.split() == ["workspaces", "0", "0", "1"] for line in lines)


def test_store_copy_refuses_bad_targets(pushed: None, isolated_env: Path) -> None:
    assert "not a database URL" in refused("store", "copy", "--to", "nonsense")
    itself = f"sqlite:///{isolated_env / 'tfctl.db'}"
    assert "is the source store itself" in refused("store", "copy", "--to", itself)


def test_doctor_gives_up_waiting_for_a_server_that_is_not_there(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres:hunter2@/tfctl?host={tmp_path}"  # nothing listens
    started = time.monotonic()
    result = tfctl("doctor", "--wait-for-db", "2", env={"TFCTL_DATABASE_URL": url})
    elapsed = time.monotonic() - started

    assert result.returncode == 1, result.stderr
    assert 2 <= elapsed < 6  # the deadline, plus starting the command
    assert result.stdout == ""
    *notes, error = result.stderr.strip().splitlines()
    assert notes  # one per failed attempt but the last
    assert all(note.startswith("waiting for the job store:") for note in notes)
    assert error.startswith("tfctl: error: the job store at postgresql+psycopg://postgres:***@")
    assert "did not answer within 2s; last error:" in error
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr


@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("terraform") is None, reason="doctor checks terraform too")
def test_doctor_waits_on_the_live_server(pg_server: PostgresServer) -> None:
    with pg_server.database() as url:
        env = {"TFCTL_DATABASE_URL": url}
        ok("db", "upgrade", env=env)
        result = tfctl("doctor", "--wait-for-db", "2", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["store"]["ok"] is True
    assert "waiting" not in result.stderr
    assert "the job store answered after" in result.stderr  # at the first attempt


@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("terraform") is None, reason="doctor checks terraform too")
def test_doctor_notices_a_database_that_comes_up_mid_wait(pg_server: PostgresServer) -> None:
    name = f"t_late_{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "TFCTL_DATABASE_URL": pg_server.url(name)}
    argv = [tfctl_bin(), "doctor", "--wait-for-db", "60", "--json"]
    waiting = subprocess.Popen(argv, stdout=PIPE, stderr=PIPE, text=True, env=env)
    try:
        assert waiting.stderr is not None
        first_note = waiting.stderr.readline()  # the first attempt failed: it is waiting now
        _create_migrated(pg_server, name)
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
        waiting.wait()
        with psycopg.connect(pg_server.psql_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert first_note.startswith("waiting for the job store:")
    assert f'database "{name}" does not exist' in first_note
    assert waiting.returncode == 0, err
    assert "the job store answered after" in err
    assert json.loads(out)["store"]["ok"] is True


def _create_migrated(server: PostgresServer, name: str) -> None:
    """Create database `name` already migrated — migrated under another name, then renamed,
    so the waiting doctor never sees it half-made."""
    from tfctl.persistence.engine import create_store_engine
    from tfctl.persistence.schema import upgrade

    staging = f"{name}_staging"
    with psycopg.connect(server.psql_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{staging}"')
    engine = create_store_engine(server.url(staging))
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    with psycopg.connect(server.psql_url(), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{staging}" RENAME TO "{name}"')


# --- wait_for_store's schedule, with a fake clock ----------------------------------------


class FakeTime:
    """A clock that only moves when slept on, and a store that answers after `failures`."""

    def __init__(self, failures: int) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.attempts: list[float] = []
        self.failures = failures

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def probe(self, url: str, seconds_left: float) -> None:
        self.attempts.append(seconds_left)
        if len(self.attempts) <= self.failures:
            raise errors.StoreUnavailable("connection refused")


URL = "postgresql+psycopg://tfctl:s3cret@db.internal/tfctl"


def test_wait_backs_off_exponentially_and_returns_the_time_waited() -> None:
    fake, notes = FakeTime(failures=3), []
    waited = wait_for_store(
        URL, 10, sleep=fake.sleep, clock=fake.clock, probe=fake.probe, notify=notes.append
    )
    assert fake.sleeps == pytest.approx([0.2, 0.4, 0.8])
    assert waited == pytest.approx(1.4)
    assert len(notes) == 3
    assert notes[0] == "waiting for the job store: connection refused (retrying in 0.2s)"


def test_wait_caps_the_delay_and_never_sleeps_past_the_deadline() -> None:
    fake = FakeTime(failures=1000)
    with pytest.raises(errors.StoreUnavailable) as caught:
        wait_for_store(URL, 30, sleep=fake.sleep, clock=fake.clock, probe=fake.probe)
    assert fake.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5, 5, 5, 5, 3.8])
    assert fake.now == pytest.approx(130)
    assert fake.attempts[0] == 30  # each attempt knows how long it may take
    assert caught.value.message == (
        "the job store at postgresql+psycopg://tfctl:***@db.internal/tfctl did not answer "
        "within 30s; last error: connection refused"
    )


def test_wait_with_no_time_tries_once() -> None:
    fake = FakeTime(failures=1)
    with pytest.raises(errors.StoreUnavailable):
        wait_for_store(URL, 0, sleep=fake.sleep, clock=fake.clock, probe=fake.probe)
    assert (len(fake.attempts), fake.sleeps) == (1, [])


def test_wait_does_not_retry_a_bad_url_or_wait_for_sqlite(tmp_path: Path) -> None:
    fake = FakeTime(failures=0)
    with pytest.raises(errors.InvalidSetting):
        wait_for_store("mysql://u@db/tfctl", 5, sleep=fake.sleep, clock=fake.clock)
    store = tmp_path / "tfctl.db"
    assert wait_for_store(f"sqlite:///{store}", 5, sleep=fake.sleep, probe=fake.probe) == 0.0
    assert (fake.sleeps, fake.attempts, store.exists()) == ([], [], False)


def test_a_store_host_that_does_not_resolve_is_a_one_line_error_without_the_password() -> None:
    url = "postgresql+psycopg://tfctl:s3cret-pw@db.invalid:5432/tfctl"
    result = tfctl("stack", "list", env={"TFCTL_DATABASE_URL": url})
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tfctl: error: cannot reach the job store at "), lines[0]
    assert "tfctl:***@db.invalid:5432/tfctl" in lines[0]
    assert "resolve" in lines[0] or "name" in lines[0].lower()
    assert "s3cret-pw" not in result.stderr
    assert "internal error" not in result.stderr
