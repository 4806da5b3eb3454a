"""`tfctl drift check/status`, drift in `workspace show/list`, `workspace update --no-assess`
and `--assess-every`, as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clihelp import ok, refused, setup_files_workspace, tfctl
from tfctl.settings import local_state_path

pytestmark = pytest.mark.terraform


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "drift-cli-secret")


@pytest.fixture
def dev(tmp_path: Path) -> str:
    setup_files_workspace(tmp_path, name="dev")
    ok("apply", "dev", "--auto-approve")
    return "dev"


def drop_file_resource(home: Path, workspace: str) -> None:
    path = local_state_path(home, workspace)
    doc = json.loads(path.read_text())
    doc["resources"] = [r for r in doc["resources"] if r["name"] != "file"]
    doc["serial"] += 1
    path.write_text(json.dumps(doc))


def test_check_exits_0_in_sync_then_2_drifted_and_status_shows_it(
    dev: str, isolated_env: Path
) -> None:
    [in_sync] = json.loads(ok("drift", "check", dev, "--json"))
    assert in_sync["result"] == "in_sync"

    drop_file_resource(isolated_env, dev)
    checked = tfctl("drift", "check", dev)
    assert checked.returncode == 2, checked.stderr
    assert "drifted" in checked.stdout
    assert 'would change: module.stack.terraform_data.file["a"] (create)' in checked.stdout

    [status] = json.loads(ok("drift", "status", "--json"))
    assert status["result"] == "drifted"
    assert status["would_change"] == [
        {"address": 'module.stack.terraform_data.file["a"]', "action": "create"}
    ]
    shown = json.loads(ok("workspace", "show", dev, "--json"))
    assert shown["drift"]["run_id"] == status["run_id"]
    assert "drift:     drifted (2)" in ok("workspace", "show", dev)
    assert "drifted (2)" in ok("workspace", "list")


def test_a_failed_assessment_exits_1_and_a_busy_workspace_is_skipped(
    dev: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TF_VAR_token")
    failed = tfctl("drift", "check", "--all", "--json")
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)[0]["result"] == "failed"

    monkeypatch.setenv("TF_VAR_token", "drift-cli-secret")
    queued = json.loads(ok("plan", dev, "--queue", "--json"))
    skipped = json.loads(ok("drift", "check", dev, "--json"))
    assert skipped[0]["result"] == "skipped"
    assert skipped[0]["run_id"] == queued["id"]


def test_no_assess_leaves_a_workspace_out_of_all(dev: str) -> None:
    assert json.loads(ok("workspace", "update", dev, "--no-assess", "--json"))["assess"] is False
    assert "scheduled drift assessments off" in ok("workspace", "update", dev, "--no-assess")
    [result] = json.loads(ok("drift", "check", "--all", "--json"))
    assert result["result"] == "skipped"
    assert f"tfctl workspace update {dev} --assess" in result["message"]
    assert "assess:    off" in ok("workspace", "show", dev)
    ok("workspace", "update", dev, "--assess")
    assert json.loads(ok("drift", "check", "--all", "--json"))[0]["result"] == "in_sync"


def test_queue_returns_at_once_and_a_worker_runs_it(dev: str) -> None:
    [queued] = json.loads(ok("drift", "check", dev, "--queue", "--json"))
    assert queued["result"] == "queued"
    ok("worker", "--burst")
    [status] = json.loads(ok("drift", "status", dev, "--json"))
    assert (status["result"], status["run_id"]) == ("in_sync", queued["run_id"])


def test_bad_input_is_one_line(isolated_env: Path) -> None:
    ok("init")
    assert "name the workspaces to assess, or pass --all" in refused("drift", "check")
    assert "name the workspaces to assess, or pass --all" in refused("drift", "check", "x",
                                                                     "--all")  # fmt: skip
    assert "no workspace named 'nope'" in refused("drift", "check", "nope")
    line = refused("worker", "--assess-every", "soon")
    assert "--assess-every 'soon': expected a duration" in line
    line = refused("serve", "--assess-every", "1h", "--workers", "0")
    assert "--assess-every needs worker slots" in line


def test_doctor_shows_only_that_a_webhook_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFCTL_NOTIFY_WEBHOOK_URL", "https://hooks.example.com/T0/s3cr3t")
    monkeypatch.setenv("TFCTL_PUBLIC_URL", "https://tfctl.example.com")
    shown = tfctl("doctor").stdout
    assert "TFCTL_NOTIFY_WEBHOOK_URL" in shown
    assert "s3cr3t" not in shown
    assert "https://tfctl.example.com" in shown
