"""Run lists a page at a time (keyset pagination, as `runs list --before` and the API's
`after` cursor use it): every run exactly once and newest first, even when runs share a
creation time; filters hold across pages; a bad cursor is one clear error. Short ids and
abbreviations find runs by the indexed end of their id, also runs written without it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text

from manyruns import make_runs
from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence.db import Store
from tfctl.persistence.schema import alembic_config, upgrade
from tfctl.runs.views import decode_cursor, encode_cursor, run_page


def walk(store: Store, *, limit: int, by_run: bool = False, **filters: object) -> list[str]:
    """Every page from the first on, by the `next` cursor or by `before` the last run."""
    seen: list[str] = []
    pages, after, before = 0, None, None
    while True:
        page = run_page(store, limit=limit, after=after, before=before, **filters)  # type: ignore[arg-type]
        pages += 1
        assert 0 < len(page.runs) <= limit or (pages == 1 and not page.runs)
        seen += [run.id for run in page.runs]
        if page.next is None:
            assert pages == max(1, -(-len(seen) // limit))  # no empty page at the end
            return seen
        after, before = (None, page.runs[-1].id) if by_run else (page.next, None)


@pytest.mark.parametrize("by_run", [False, True], ids=["cursor", "before-run"])
def test_pages_hold_every_run_once_newest_first_when_creation_times_tie(
    store: Store, by_run: bool
) -> None:
    made = make_runs(store, 23, tie=4)
    assert made[0].created_at == made[1].created_at  # ties: their order is by id
    newest_first = [run.id for run in made]
    for limit in (1, 3, 4, 23, 50):
        assert walk(store, limit=limit, by_run=by_run) == newest_first


def test_filters_hold_across_pages(store: Store) -> None:
    made = make_runs(store, 40, tie=3)

    def expected(workspace: str | None = None, statuses: tuple[str, ...] = ()) -> list[str]:
        return [run.id for run in made if workspace in (None, run.workspace)
                and (not statuses or run.status in statuses)]  # fmt: skip

    both = ("applied", "errored")
    assert walk(store, limit=3, workspace="dev") == expected("dev")
    assert walk(store, limit=3, status=["errored"]) == expected(statuses=("errored",))
    assert walk(store, limit=4, status=list(both)) == expected(statuses=both)
    assert walk(store, limit=2, workspace="prod", status=list(both)) == expected("prod", both)
    by_run = walk(store, limit=3, by_run=True, workspace="dev", status=["no_changes"])
    assert by_run == expected("dev", ("no_changes",))
    assert run_page(store, workspace="dev", status=["cancelled"]).runs == ()


def test_a_cursor_is_a_position_in_the_list_not_a_run_of_it(store: Store) -> None:
    made = make_runs(store, 12, tie=2)
    after = encode_cursor(made[1].created_at, made[1].id)
    assert decode_cursor(after) == (made[1].created_at, made[1].id)
    page = run_page(store, limit=10, after=after, status=["no_changes"])  # made[1] is not one
    assert [r.id for r in page.runs] == [r.id for r in made[2:] if r.status == "no_changes"]


def test_a_bad_cursor_is_one_clear_error(store: Store) -> None:
    make_runs(store, 2)
    valid = encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), "run-01m8gg3n4sd5d4aedv")
    wrong_shape = base64.urlsafe_b64encode(b"123.stack-x").decode()
    for cursor in ("bogus", "", "!!!!", valid[:-3], wrong_shape, valid + "\n"):
        with pytest.raises(errors.InvalidInput, match="is not one this list gave: start from"):
            run_page(store, after=cursor)


def test_a_bad_limit_run_or_status_is_one_clear_error(store: Store) -> None:
    make_runs(store, 2)
    with pytest.raises(errors.InvalidInput, match="--limit 0: give at least 1"):
        run_page(store, limit=0)
    with pytest.raises(errors.RunNotFound, match="no run 'zzzzzz'"):
        run_page(store, before="zzzzzz")
    with pytest.raises(errors.InvalidInput, match="--status 'sleeping': unknown status"):
        run_page(store, status=["sleeping"])


INSERT_AROUND_SQLALCHEMY = (
    "INSERT INTO runs (id, workspace_id, operation, plan_mode, status, actor, host, halted,"
    " auto_apply, reinit, created_at) SELECT :id, workspace_id, operation, plan_mode, status,"
    " actor, host, halted, auto_apply, reinit, created_at FROM runs WHERE id = :copied"
)


def test_runs_written_without_id_tail_still_count_for_short_ids(store: Store) -> None:
    made = make_runs(store, 3)
    first, second = made[0].id, made[1].id
    twin = "run-0000000000zzzz" + first[-4:]  # ends like `first`, no id_tail (NULL)
    with store.write() as session:
        session.connection().execute(text(INSERT_AROUND_SQLALCHEMY), {"id": twin, "copied": first})
    with store.read() as session:
        short = run_store.short_ids(session=session, run_ids=[first, second, twin])
        assert (short[first], short[twin]) == (first[-5:], twin[-5:])
        for run_id, abbreviation in short.items():
            assert run_store.get_run(session=session, run_id=abbreviation).id == run_id
        with pytest.raises(errors.RunNotFound, match="ambiguous"):
            run_store.get_run(session=session, run_id=first[-4:])


def test_upgrading_gives_existing_runs_their_id_tail(store: Store) -> None:
    made = make_runs(store, 5)
    with store.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0010_init_reuse")
    upgrade(store.engine)
    with store.read() as session:
        rows = session.connection().execute(text("SELECT id, id_tail FROM runs")).all()
        assert sorted(rows) == sorted((run.id, run.id[-4:]) for run in made)
        assert run_store.get_run(session=session, run_id=made[2].id[-6:]).id == made[2].id


def test_a_start_abbreviation_is_an_index_range_of_ids_whatever_its_last_character(
    store: Store,
) -> None:
    made = make_runs(store, 1)
    nine, next_one = "run-01m8gg39zz4k7d2x1a", "run-01m8gg3a004k7d2x2b"
    with store.write() as session:
        for run_id in (nine, next_one):
            session.connection().execute(text(INSERT_AROUND_SQLALCHEMY),
                                         {"id": run_id, "copied": made[0].id})  # fmt: skip
    with store.read() as session:

        def get(text_: str) -> str:
            return run_store.get_run(session=session, run_id=text_).id

        assert get("01m8gg39") == nine  # the range ends before 01m8gg3a
        assert get("run-01m8gg39zz") == nine
        assert get("01m8gg3a0") == next_one
        with pytest.raises(errors.RunNotFound, match="ambiguous"):
            get("01m8gg3")
        with pytest.raises(errors.RunNotFound, match="no run"):
            get("01m8gg3-")
