"""`tfctl runs list` a page at a time, as a user types it: a full page ends with the command
for the next one on stderr (`--before` its last run, the same filters), following it lists
every run once; `--json` pages by the last run's id; bad input is one line, exit 2."""

from __future__ import annotations

import json
import shlex

import pytest

from clihelp import refused, tfctl
from manyruns import make_runs
from tfctl.persistence.db import Store


@pytest.fixture
def runs_env(store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("TFCTL_DATABASE_URL", store_url)
    return store


def test_a_full_page_says_how_to_list_the_next_one(runs_env: Store) -> None:
    made = make_runs(runs_env, 7, tie=3)
    dev = [run for run in made if run.workspace == "dev"]
    argv = ["runs", "list", "--workspace", "dev", "--limit", "2"]
    listed: list[str] = []
    while True:
        result = tfctl(*argv)
        assert result.returncode == 0, result.stderr
        rows = [line.split()[0] for line in result.stdout.splitlines()[2:] if line.strip()]
        listed += rows
        hint = [line for line in result.stderr.splitlines() if line.startswith("older runs: ")]
        if not hint:
            break
        command = shlex.split(hint[0].removeprefix("older runs: "))
        assert command[:3] == ["tfctl", "runs", "list"]
        assert command[-2:] == ["--before", rows[-1]]  # the short id shown in the table
        argv = command[1:]
    assert len(listed) == len(dev)
    assert all(run.id.endswith(short) for run, short in zip(dev, listed, strict=True))


def test_json_pages_by_the_last_runs_id(runs_env: Store) -> None:
    made = make_runs(runs_env, 5, tie=5)  # all created at the same instant
    first = json.loads(tfctl("runs", "list", "--limit", "3", "--json").stdout)
    rest = json.loads(
        tfctl("runs", "list", "--limit", "3", "--json", "--before", first[-1]["id"]).stdout
    )
    assert [run["id"] for run in first + rest] == [run.id for run in made]


def test_bad_paging_input_is_one_line(runs_env: Store) -> None:
    make_runs(runs_env, 2)
    assert "no run 'zzzzzz'" in refused("runs", "list", "--before", "zzzzzz")
    assert "--limit 0: give at least 1" in refused("runs", "list", "--limit", "0")
