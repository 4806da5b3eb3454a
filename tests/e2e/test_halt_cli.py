"""`tfctl halt` through the installed command: an operator stops a running apply from another
terminal during an incident."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from clihelp import ok, refused, tfctl, tfctl_bin
from filestack import FILES_MODULE
from procs import provisioner_sleeps, wait_until

pytestmark = pytest.mark.terraform

ONCALL = {"TFCTL_ACTOR": "oncall"}


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")
    monkeypatch.setenv("CI", "true")


def add_workspace(tmp_path: Path, name: str, **variables: object) -> Path:
    out = tmp_path / f"out-{name}"
    out.mkdir()
    spec = {"name": f"files-{name}", "kind": "generic", "module_source": str(FILES_MODULE),
            "variables": {"names": ["a"], **variables}}  # fmt: skip
    (tmp_path / f"{name}.json").write_text(json.dumps(spec))
    ok("init")
    ok("stack", "push", str(tmp_path / f"{name}.json"))
    ok("workspace", "create", name, "--stack", f"files-{name}", "--var", f"dir={out}")
    return out


def test_halt_stops_a_running_apply_from_another_terminal(
    isolated_env: Path, tmp_path: Path
) -> None:
    out = add_workspace(tmp_path, "dev", sleep_seconds=30)
    plan = json.loads(ok("plan", "dev", "--json"))
    apply = subprocess.Popen([tfctl_bin(), "apply", "dev", "--auto-approve"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        run_id = wait_for_running_apply()
        assert provisioner_sleeps(out), "the provisioner's sleep should be running"
        halted_at = time.monotonic()
        halt = subprocess.Popen([tfctl_bin(), "halt", "--reason", "incident 42", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **ONCALL})  # fmt: skip
        apply.wait(timeout=30)
        latency = time.monotonic() - halted_at
        halt_out, halt_err = halt.communicate(timeout=30)
        _, stderr = apply.communicate(timeout=10)
    finally:
        apply.kill()
    print(f"\nhalt → apply exited: {latency:.2f} s (halt command included)")
    assert halt.returncode == 0, halt_err
    report = json.loads(halt_out)
    assert sorted((r["id"], r["previous_status"]) for r in report["halted"]) == sorted(
        [(run_id, "running"), (plan["id"], "awaiting_approval")]
    )
    assert (report["reason"], report["halted_by"], report["workspace"]) == (
        "incident 42", "oncall", None,
    )  # fmt: skip

    assert apply.returncode == 4, stderr
    assert latency < 10
    last = stderr.strip().splitlines()[-1]
    assert "halted by oncall: incident 42" in last, last
    wait_until(lambda: not provisioner_sleeps(out), within=5, what="no sleep to survive")
    assert not (out / "a").exists()

    run = json.loads(ok("runs", "show", run_id, "--json"))
    assert (run["status"], run["halted"], run["halt_reason"], run["halted_by"]) == (
        "cancelled", True, "incident 42", "oncall",
    )  # fmt: skip
    assert run["finished_at"] is not None
    assert json.loads(ok("state", "list", "dev", "--json"))[0]["run_id"] == run_id
    assert "Interrupt received" in ok("runs", "logs", run_id)

    again = tfctl("halt", env=ONCALL)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "nothing to halt"
    assert json.loads(ok("halt", "--json"))["halted"] == []

    line = refused("apply", "dev", "--auto-approve", "--run", plan["id"])
    assert "halted by oncall: incident 42" in line


def test_halt_of_one_workspace_prints_what_it_stopped(isolated_env: Path, tmp_path: Path) -> None:
    add_workspace(tmp_path, "dev")
    add_workspace(tmp_path, "prod")
    dev_plan = json.loads(ok("plan", "dev", "--json"))
    prod_plan = json.loads(ok("plan", "prod", "--json"))

    halted = tfctl("halt", "-w", "dev", "--reason", "bad deploy", env=ONCALL)

    assert halted.returncode == 0, halted.stderr
    header, row = halted.stdout.splitlines()[0], halted.stdout.splitlines()[2]
    assert header.split() == ["ID", "WORKSPACE", "OPERATION", "WAS", "STARTED", "BY"]
    assert row.split()[:4] == [dev_plan["id"], "dev", "plan", "awaiting_approval"]
    assert row.split()[4:] == [dev_plan["actor"], "on", dev_plan["host"]]
    assert halted.stdout.splitlines()[-1] == "halted 1 run in workspace dev"
    assert json.loads(ok("runs", "show", prod_plan["id"], "--json"))["status"] == (
        "awaiting_approval"
    )
    assert json.loads(ok("apply", "prod", "--auto-approve", "--json"))["status"] == "applied"

    assert "no workspace named 'prdo'" in refused("halt", "--workspace", "prdo")
    helptext = ok("halt", "--help")
    for promise in ("incident", "SIGINT", "process group", "grace period", "state", "twice"):
        assert promise in helptext


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
