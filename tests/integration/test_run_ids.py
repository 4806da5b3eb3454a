"""Run ids a person can type: any unique abbreviation (the start or the random end), and
the shortest unique form shown in tables."""

from __future__ import annotations

import pytest

from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence.db import Store
from tfctl.persistence.models import Run
from tfctl.spec import TerraformStackSpec
from tfctl.stacks import persist_spec
from tfctl.workspaces import create_workspace


def make_runs(store: Store, ids: list[str]) -> None:
    spec = TerraformStackSpec.model_validate(
        {"name": "web", "kind": "generic", "module_source": "./m"}
    )
    with store.write() as session:
        persist_spec(session=session, spec=spec, author="t")
    ws = create_workspace(store, "dev", stack="web", backend="local", backend_config={},
                          variables={})  # fmt: skip
    with store.write() as session:
        for run_id in ids:
            session.add(Run(id=run_id, workspace_id=ws.id, operation="plan", status="queued",
                            actor="t", host="h"))  # fmt: skip


IDS = [
    "run-01m8gg3n4sd5d4aedv",
    "run-01m8gg3n4tq8z0aedv",  # shares the end `aedv` with the first
    "run-01m8gg3p00x1y2z3w4",
]


def test_any_unique_abbreviation_names_the_run(store: Store) -> None:
    make_runs(store, IDS)
    with store.read() as session:

        def get(text: str) -> str:
            return run_store.get_run(session=session, run_id=text).id

        assert get(IDS[0]) == IDS[0]
        assert get("d5d4aedv") == IDS[0]  # the random end, as tables show it
        assert get("4aedv") == IDS[0]
        assert get("z3w4") == IDS[2]
        assert get("run-01m8gg3p") == IDS[2]  # the start, with or without run-
        assert get("01m8gg3p") == IDS[2]
        assert get("RUN-01M8GG3P") == IDS[2]
        with pytest.raises(errors.RunNotFound, match="ambiguous: it matches run-") as many:
            get("aedv")
        assert IDS[0] in str(many.value)
        assert IDS[1] in str(many.value)
        with pytest.raises(errors.RunNotFound, match="ambiguous"):
            get("01m8gg3n")
        with pytest.raises(errors.RunNotFound, match="at least 4 characters"):
            get("edv")
        with pytest.raises(errors.RunNotFound, match="no run 'zzzz9'"):
            get("zzzz9")
        with pytest.raises(errors.RunNotFound, match="no run"):
            get("a%dv")  # no wildcards


def test_tables_show_the_shortest_unique_end(store: Store) -> None:
    make_runs(store, IDS)
    with store.read() as session:
        short = run_store.short_ids(session=session, run_ids=IDS)
        assert short == {IDS[0]: "4aedv", IDS[1]: "0aedv", IDS[2]: "z3w4"}
        for run_id, text in short.items():
            assert run_store.get_run(session=session, run_id=text).id == run_id
