"""Applying a destroy plan needs the workspace's name, by every command path; destroy shows
the plan before it asks; output says "destroy" wherever a destroy plan or its apply appears;
`--detailed-exitcode` makes every failure 1."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from clihelp import ok, refused, run_in_terminal, setup_files_workspace, tfctl, tfctl_bin

pytestmark = pytest.mark.terraform


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")
    monkeypatch.setenv("CI", "true")


@pytest.fixture
def applied(isolated_env: Path, tmp_path: Path) -> Path:
    out = setup_files_workspace(tmp_path)
    ok("apply", "dev", "--auto-approve")
    assert (out / "a").exists()
    return out


def terminal_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "CI"}


def test_a_pending_destroy_plan_is_never_applied_by_a_routine_apply(applied: Path) -> None:
    plan = json.loads(ok("plan", "dev", "--destroy", "--json"))
    assert plan["action"] == "destroy-plan"
    for args in (
        ["apply", "dev", "--auto-approve"],
        ["apply", "dev", "--auto-approve", "--run", plan["id"]],
        ["apply", "dev", "--auto-approve", "--queue"],
        ["apply", "dev", "--auto-approve", "--confirm", "prod"],
    ):
        line = refused(*args)
        assert "destroy plan" in line, args
        assert "--confirm dev" in line, args
    assert (applied / "a").exists()
    assert json.loads(ok("runs", "show", plan["id"], "--json"))["status"] == "awaiting_approval"
    assert "queued" not in ok("runs", "list", "--json")

    result = tfctl("apply", "dev", "--auto-approve", "--confirm", "dev")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("dev: destroyed (destroy run ")
    assert "applying destroy plan" in result.stderr
    assert not (applied / "a").exists()
    listed = ok("runs", "list")
    assert "destroy plan" in listed
    assert "+0 ~0 -2" in listed  # the CHANGES column in words
    shown = listed.splitlines()[2].split()[0]  # the table's id: the shortest unique end
    assert 4 <= len(shown) <= 8
    assert json.loads(ok("runs", "show", shown, "--json"))["id"].endswith(shown)
    runs = json.loads(ok("runs", "list", "--json"))
    assert [r["action"] for r in runs[:2]] == ["destroy", "destroy-plan"]
    assert "destroy" in ok("runs", "show", runs[0]["id"]).split("operation:")[1].splitlines()[0]


def test_a_queued_destroy_plan_needs_the_name_to_be_applied(applied: Path) -> None:
    queued = json.loads(ok("plan", "dev", "--destroy", "--queue", "--json"))
    assert queued["action"] == "destroy-plan"
    ok("worker", "--burst")
    assert "--confirm dev" in refused("apply", "dev", "--auto-approve", "--queue")
    ok("apply", "dev", "--auto-approve", "--queue", "--confirm", "dev")
    ok("worker", "--burst")
    assert not (applied / "a").exists()


def test_destroy_shows_the_plan_before_asking_and_a_wrong_name_discards_it(
    applied: Path,
) -> None:
    screen = run_in_terminal([tfctl_bin(), "destroy", "dev"], terminal_env(), answer=b"prod\n",
                             prompt=b"Type the workspace name", code=4)  # fmt: skip
    table = screen.index("Plan: 0 to add, 0 to change, 2 to destroy")
    assert table < screen.index("Type the workspace name")
    assert "nothing was destroyed" in screen
    assert "error" not in screen.split("Type the workspace name")[1]
    assert (applied / "a").exists()
    plan = json.loads(ok("runs", "list", "--json"))[0]
    assert (plan["action"], plan["status"]) == ("destroy-plan", "discarded")
    # nothing is left for a later routine apply to pick up: it plans afresh, finds nothing
    assert "dev: no changes" in ok("apply", "dev", "--auto-approve")
    assert (applied / "a").exists()


def test_apply_of_a_destroy_plan_in_a_terminal_asks_for_the_name(applied: Path) -> None:
    ok("plan", "dev", "--destroy")
    screen = run_in_terminal([tfctl_bin(), "apply", "dev", "--auto-approve"], terminal_env(),
                             answer=b"dev\n", prompt=b"Type the workspace name")  # fmt: skip
    assert "dev: destroyed" in screen
    assert not (applied / "a").exists()


def test_declining_an_apply_is_not_an_error(isolated_env: Path, tmp_path: Path) -> None:
    setup_files_workspace(tmp_path)
    screen = run_in_terminal([tfctl_bin(), "apply", "dev"], terminal_env(),
                             answer=b"n\n", prompt=b"Apply plan", code=4)  # fmt: skip
    assert "not applied" in screen
    assert "error" not in screen.split("Apply plan")[1]


def test_detailed_exitcode_makes_every_failure_one(isolated_env: Path, tmp_path: Path) -> None:
    setup_files_workspace(tmp_path)
    for args in (
        ["plan", "dev", "--destroy", "--refresh-only"],
        ["plan", "dev", "--no-such-option"],
        ["plan", "no-such-workspace"],
    ):
        assert tfctl(*args).returncode == 2, args
        assert tfctl(*args, "--detailed-exitcode").returncode == 1, args
    assert tfctl("plan", "dev", "--detailed-exitcode").returncode == 2


def test_queue_wait_without_a_worker_says_so_and_gives_up_when_told(
    isolated_env: Path, tmp_path: Path
) -> None:
    setup_files_workspace(tmp_path)
    started = time.monotonic()
    result = tfctl("plan", "dev", "--queue", "--wait", "--wait-timeout", "2")
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 30
    lines = result.stderr.strip().splitlines()
    queued = json.loads(ok("runs", "list", "--json"))[0]
    assert lines[0].startswith(f"queued plan run {queued['id']}; waiting for it")
    assert "start one with `tfctl worker`" in result.stderr
    assert "is still queued after 2s of waiting" in lines[-1]
    assert queued["status"] == "queued"  # it was not stopped: a worker can still take it
    ok("worker", "--burst")
    assert json.loads(ok("runs", "show", queued["id"], "--json"))["status"] == "awaiting_approval"


def test_ctrl_c_at_a_prompt_exits_4(isolated_env: Path, tmp_path: Path) -> None:
    setup_files_workspace(tmp_path)
    screen = run_in_terminal([tfctl_bin(), "apply", "dev"], terminal_env(), answer=b"\x03",
                             prompt=b"Apply plan", code=4)  # fmt: skip
    assert "tfctl: interrupted" in screen
    assert "Traceback" not in screen
