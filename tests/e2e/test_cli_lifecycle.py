"""The run lifecycle through the installed `tfctl` command, as a user or a CI job types it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from clihelp import REPO, ok, refused, run_in_terminal, setup_files_workspace, tfctl, tfctl_bin
from tfctl.resources import examples_dir

pytestmark = pytest.mark.terraform


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")
    monkeypatch.setenv("CI", "true")


def test_quickstart_is_a_real_plan_and_apply(isolated_env: Path, tmp_path: Path) -> None:
    """The README's main job."""
    env = {"PATH": f"{Path(tfctl_bin()).parent}:{os.environ['PATH']}", "HELLO_DIR": str(tmp_path)}
    script = examples_dir().parent / "examples" / "quickstart.sh"
    if not script.exists():  # an installed wheel ships examples without the repo around it
        script = REPO / "examples" / "quickstart.sh"
    for _ in range(2):  # running it twice is harmless
        result = subprocess.run([str(script)], capture_output=True, text=True,
                                env={**os.environ, **env}, cwd=tmp_path, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "hello.txt").read_text() == "hello from tfctl\n"
    assert "no changes" in result.stdout
    states = json.loads(ok("state", "list", "hello", "--json"))
    assert len(states) == 1
    assert states[0]["outputs"]["greeting"]["value"] == "hello from tfctl"


def test_plan_json_detailed_exitcode_apply_destroy(isolated_env: Path, tmp_path: Path) -> None:
    out = setup_files_workspace(tmp_path)

    planned = tfctl("plan", "dev", "--json", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    plan = json.loads(planned.stdout)  # stdout is exactly one JSON document
    assert plan["status"] == "awaiting_approval"
    assert plan["summary"]["add"] == 2
    assert "Plan: 2 to add" in planned.stderr  # the log went to stderr, timestamped
    assert planned.stderr.startswith("20")

    line = refused("apply", "dev")
    assert "no terminal to confirm in" in line
    assert "--auto-approve" in line

    applied = json.loads(ok("apply", "dev", "--auto-approve", "--json"))
    assert applied["status"] == "applied"
    assert applied["parent_run_id"] == plan["id"]
    assert (out / "a").exists()
    assert tfctl("plan", "dev", "--detailed-exitcode").returncode == 0
    outputs = json.loads(ok("state", "outputs", "dev", "--json"))
    assert outputs["token"]["value"] == "(sensitive value)"
    assert outputs["paths"]["value"] == [str(out / "a")]

    assert "--confirm dev" in refused("destroy", "dev", "--auto-approve")
    assert "--confirm dev" in refused("destroy", "dev", "--auto-approve", "--confirm", "prod")
    destroyed = json.loads(ok("destroy", "dev", "--auto-approve", "--confirm", "dev", "--json"))
    assert destroyed["status"] == "applied"
    assert destroyed["plan_mode"] == "destroy"
    assert not (out / "a").exists()

    runs = json.loads(ok("runs", "list", "--workspace", "dev", "--json"))
    assert [(r["operation"], r["status"]) for r in runs] == [
        ("apply", "applied"), ("plan", "applied"), ("plan", "no_changes"),
        ("apply", "applied"), ("plan", "applied"),
    ]  # fmt: skip
    assert json.loads(ok("runs", "show", plan["id"][:12], "--json"))["id"] == plan["id"]
    assert "Apply complete!" in ok("runs", "logs", runs[0]["id"])
    assert json.loads(ok("state", "show", "dev", "--json"))["resource_count"] == 0


def test_failures_exit_with_terraforms_meaning(isolated_env: Path, tmp_path: Path) -> None:
    setup_files_workspace(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "TF_VAR_token"}
    missing = subprocess.run([tfctl_bin(), "plan", "dev"], capture_output=True, text=True, env=env)
    assert missing.returncode == 2
    assert "token" in missing.stderr.strip().splitlines()[-1]
    detailed = subprocess.run([tfctl_bin(), "plan", "dev", "--detailed-exitcode"],
                              capture_output=True, text=True, env=env)  # fmt: skip
    assert detailed.returncode == 1  # as terraform: every failure is 1
    errored = json.loads(ok("runs", "list", "--status", "errored", "--json"))
    assert len(errored) == 2

    assert "unknown status" in refused("runs", "list", "--status", "bogus")
    assert "no run" in refused("runs", "show", "run-nothing")
    line = refused("apply", "dev", "--auto-approve", "--run", errored[0]["id"])
    assert "cannot be applied: it failed" in line


def test_discard_then_apply_is_refused(isolated_env: Path, tmp_path: Path) -> None:
    setup_files_workspace(tmp_path)
    plan = json.loads(ok("plan", "dev", "--json"))
    assert "discarded" in ok("runs", "discard", plan["id"])
    line = refused("apply", "dev", "--auto-approve", "--run", plan["id"])
    assert "discarded" in line


def test_cancel_from_another_terminal_stops_a_running_apply(
    isolated_env: Path, tmp_path: Path
) -> None:
    out = setup_files_workspace(tmp_path, sleep_seconds=60)
    ok("plan", "dev")
    apply = subprocess.Popen([tfctl_bin(), "apply", "dev", "--auto-approve"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        run_id = wait_for_running_apply()
        started = time.monotonic()
        ok("runs", "cancel", run_id)
        _, stderr = apply.communicate(timeout=30)
    finally:
        apply.kill()
    assert apply.returncode == 4, stderr
    assert time.monotonic() - started < 15
    assert "cancelled by" in stderr
    assert not (out / "a").exists()
    run = json.loads(ok("runs", "show", run_id, "--json"))
    assert run["status"] == "cancelled"
    assert json.loads(ok("state", "list", "dev", "--json"))[0]["run_id"] == run_id


def wait_for_running_apply() -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = json.loads(ok("runs", "list", "--status", "running", "--json"))
        provisioning = (
            runs
            and runs[0]["operation"] == "apply"
            and ("Provisioning with 'local-exec'" in ok("runs", "logs", runs[0]["id"]))
        )
        if provisioning:
            return str(runs[0]["id"])
        time.sleep(0.3)
    raise AssertionError("no apply started")


def test_in_a_terminal_apply_shows_the_plan_and_asks(isolated_env: Path, tmp_path: Path) -> None:
    out = setup_files_workspace(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    screen = run_in_terminal(
        [tfctl_bin(), "apply", "dev"], env, answer=b"y\n", prompt=b"Apply plan"
    )
    assert "create" in screen
    assert 'module.stack.terraform_data.file["a"]' in screen
    assert "Plan: 2 to add" in screen
    assert (out / "a").exists()
