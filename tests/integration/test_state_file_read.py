"""After an apply on the `local` backend tfctl reads the state file itself instead of starting
`terraform state pull`: the same bytes, so the same SHA-256 and no spurious state versions."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from filestack import files_workspace, push_files
from tfctl.persistence.db import Store
from tfctl.runs.service import RunService
from tfctl.settings import get_settings, local_state_path
from tfctl.state_versions import list_states
from tfctl.terraform.runner import TerraformExecutor
from tfctl.terraform.state import local_state_file, snapshot_state, state_file_as_pulled

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH"),
]

CONFIG = """
terraform {
  backend "local" {
    path = "%s"
  }
}
resource "terraform_data" "r" {
  count = 3
  input = "v${count.index}"
}
output "secret" {
  value     = "s3cr3t-value"
  sensitive = true
}
"""


def terraform(cwd: Path, *args: str) -> bytes:
    return subprocess.run(["terraform", *args], cwd=cwd, check=True, capture_output=True).stdout


def test_the_state_file_read_as_pulled_has_the_bytes_of_state_pull(tmp_path: Path) -> None:
    work, state = tmp_path / "work", tmp_path / "state" / "dev.tfstate"
    work.mkdir()
    (work / "main.tf").write_text(CONFIG % state)
    terraform(work, "init", "-input=false")
    assert local_state_file(work) == state
    assert state_file_as_pulled(state) is None  # no state yet: terraform is asked
    terraform(work, "apply", "-auto-approve", "-input=false")

    pulled = terraform(work, "state", "pull")
    read = state_file_as_pulled(state)

    assert read == pulled
    assert snapshot_state(read).sha256 == hashlib.sha256(pulled).hexdigest()


def test_other_backends_and_workspaces_are_left_to_state_pull(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / ".terraform").mkdir(parents=True)
    recorded = work / ".terraform" / "terraform.tfstate"
    recorded.write_text(json.dumps({"backend": {"type": "s3", "config": {"bucket": "b"}}}))
    assert local_state_file(work) is None
    recorded.write_text(json.dumps({"backend": {"type": "local", "config": {"path": None}}}))
    assert local_state_file(work) == work / "terraform.tfstate"
    (work / ".terraform" / "environment").write_text("staging")
    assert local_state_file(work) is None
    recorded.write_text("not json")
    assert local_state_file(work) is None
    assert local_state_file(tmp_path / "never-initialised") is None


def test_an_apply_records_its_state_without_state_pull_and_no_spurious_version(
    store: Store, runtime: RunService, tmp_path: Path, out_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")
    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    pulls: list[Any] = []
    original = TerraformExecutor.state_pull

    def counting(self: TerraformExecutor, *args: Any, **kw: Any) -> bytes:
        pulls.append(args)
        return original(self, *args, **kw)

    monkeypatch.setattr(TerraformExecutor, "state_pull", counting)
    runtime.plan("dev")
    applied = runtime.apply("dev")

    assert pulls == []
    states = list_states(store, "dev")
    assert len(states) == 1
    assert states[0]["run_id"] == applied.id
    assert states[0]["resource_count"] > 0
    # what `terraform state pull` prints for that file has the recorded SHA-256, so versions
    # recorded before tfctl read the file are not recorded again
    reader = tmp_path / "reader"
    reader.mkdir()
    path = local_state_path(get_settings().home, "dev")
    (reader / "main.tf").write_text(
        f'terraform {{\n  backend "local" {{\n    path = "{path}"\n  }}\n}}\n'
    )
    terraform(reader, "init", "-input=false")
    pulled = terraform(reader, "state", "pull")
    assert hashlib.sha256(pulled).hexdigest() == states[0]["sha256"]


def test_a_torn_state_file_is_a_note_never_the_runs_error(
    store: Store, tmp_path: Path, out_dir: Path
) -> None:
    """A full disk can leave the local state file cut short: recording the state after the
    apply says so in the run's log and leaves the apply's own error to end the run."""
    from tfctl.context import AppContext
    from tfctl.persistence import runs as run_store
    from tfctl.persistence import store as ws_store
    from tfctl.runs.executor import RunExecutor, _Execution
    from tfctl.runs.guard import RunGuard
    from tfctl.runs.ledger import RunLedger
    from tfctl.runs.log import RunLogSink
    from tfctl.runs.views import follow_logs

    push_files(store, tmp_path)
    files_workspace(store, "dev", out_dir)
    with store.write() as session:
        ws = ws_store.get_workspace(session=session, name="dev")
        run_id = run_store.create_run(
            session=session, workspace_id=ws.id, operation="apply", status="running",
            actor="ci", host="h",
        ).id  # fmt: skip
    work, state = tmp_path / "work", tmp_path / "dev.tfstate"
    (work / ".terraform").mkdir(parents=True)
    (work / ".terraform" / "terraform.tfstate").write_text(
        json.dumps({"backend": {"type": "local", "config": {"path": str(state)}}})
    )
    state.write_text('{\n  "version": 4,\n  "serial": 3,\n  "lin')  # cut short

    ctx = AppContext(store=store)
    runner = RunExecutor(ctx, RunLedger(ctx))
    sink = RunLogSink(store, run_id, tmp_path / "log")
    runner._snapshot_state(work, _Execution(run_id, ws.id, sink, RunGuard(store, run_id)))
    sink.close()

    assert list_states(store, "dev") == []
    notes = [text for _, text in follow_logs(store, run_id)]
    assert any("could not read the state after the run: terraform state is not JSON" in n
               for n in notes)  # fmt: skip
