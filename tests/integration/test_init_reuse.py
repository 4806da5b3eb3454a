"""No repeated `terraform init` (runs/workdir.py), with real terraform, on SQLite and PostgreSQL:
a workspace's runs reuse its initialised directory while nothing init depends on changed, and
init again on a change, after a failure, with --reinit, and when the directory is broken."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from clihelp import tfctl_bin
from filestack import FILES_MODULE, files_workspace, push_files
from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import RunStatus
from tfctl.runs import workdir
from tfctl.runs.service import RunService
from tfctl.runs.views import follow_logs

pytestmark = pytest.mark.terraform

#: What `terraform init` prints when it ran.
INIT_OUTPUT = "Terraform has been successfully initialized!"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "init-reuse-token-7c1f")


def log(store: Store, run_id: str) -> list[str]:
    return [line for _, line in follow_logs(store, run_id)]


def init_line(store: Store, run_id: str) -> str:
    """The run's one line saying whether it ran init, and why."""
    lines = [line for line in log(store, run_id) if line.startswith(("init:", "init skipped:"))]
    assert len(lines) == 1, log(store, run_id)
    return lines[0]


def ran_init(store: Store, run_id: str) -> bool:
    lines = log(store, run_id)
    return any(INIT_OUTPUT in line or "Initializing" in line for line in lines)


def init_sha256(store: Store, run_id: str) -> str | None:
    with store.read() as session:
        return run_store.get_run(session=session, run_id=run_id).init_sha256


def workdirs(isolated_env: Path) -> Path:
    """TFCTL_HOME/workdirs/<workspace_id>: the workspace's initialised directories."""
    (only,) = (isolated_env / "workdirs").iterdir()
    return only


def own_module(store: Store, tmp_path: Path, **variables: object) -> Path:
    """A stack `files` calling a copy of the files module that the test may edit."""
    from tfctl.stacks import push_spec_file

    module = tmp_path / "module"
    if not module.exists():
        shutil.copytree(FILES_MODULE, module)
    spec = {"name": "files", "kind": "generic", "module_source": str(module),
            "variables": variables}  # fmt: skip
    path = tmp_path / "files.yaml"
    path.write_text(yaml.safe_dump(spec))
    push_spec_file(store, path, author="test")
    return module


def test_an_unchanged_workspace_plans_and_applies_without_init_again(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path, isolated_env: Path
) -> None:
    push_files(store, tmp_path, names=["a"])
    files_workspace(store, "dev", out_dir)
    first = runtime.plan("dev")
    sha = init_sha256(store, first.id)
    assert sha is not None
    assert len(sha) == 64
    assert (
        init_line(store, first.id)
        == f"init: first run of this workspace here (init hash {sha[:12]})"
    )
    assert ran_init(store, first.id)
    applied = runtime.apply("dev")
    assert applied.status == RunStatus.APPLIED
    skipped = f"init skipped: init hash {sha[:12]} unchanged since run {first.id}"
    assert init_line(store, applied.id) == skipped
    assert not ran_init(store, applied.id)

    push_files(store, tmp_path, names=["a", "b"])  # other values: nothing init depends on
    second = runtime.plan("dev")
    assert init_line(store, second.id) == skipped
    assert not ran_init(store, second.id)
    assert init_sha256(store, second.id) == sha
    assert second.status == RunStatus.AWAITING_APPROVAL
    assert second.summary is not None
    assert second.summary["add"] == 1
    data = (runtime.run_dir(second.id) / "work" / ".terraform").resolve()
    assert data == workdirs(isolated_env) / sha / workdir.DATA
    assert runtime.apply("dev").status == RunStatus.APPLIED
    assert sorted(p.name for p in out_dir.iterdir()) == ["a", "b"]
    assert runtime.plan("dev").status == RunStatus.NO_CHANGES  # the state pull worked too


def test_a_changed_configuration_inits_again(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    module = own_module(store, tmp_path, names=["a"])
    files_workspace(store, "dev", out_dir)
    first = runtime.plan("dev")
    with (module / "main.tf").open("a") as tf:
        tf.write('\noutput "extra" {\n  value = "more"\n}\n')
    second = runtime.plan("dev")
    assert init_sha256(store, second.id) != init_sha256(store, first.id)
    sha = init_sha256(store, second.id) or ""
    assert init_line(store, second.id) == f"init: configuration changed (init hash {sha[:12]})"
    assert ran_init(store, second.id)
    assert runtime.apply("dev").status == RunStatus.APPLIED
    assert (out_dir / "a").read_text() == "hello\n"


def test_a_changed_cli_configuration_inits_again(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    push_files(store, tmp_path, names=["a"])
    files_workspace(store, "dev", out_dir)
    first = runtime.plan("dev")
    Path(os.environ["TF_CLI_CONFIG_FILE"]).write_text("disable_checkpoint = true\n")
    second = runtime.plan("dev")
    assert init_sha256(store, second.id) != init_sha256(store, first.id)
    assert init_line(store, second.id).startswith("init: configuration changed")
    assert ran_init(store, second.id)
    assert runtime.apply("dev").status == RunStatus.APPLIED


def test_a_failed_run_makes_the_next_run_init_again(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    push_files(store, tmp_path, names=["a"])
    files_workspace(store, "dev", out_dir)
    runtime.plan("dev")
    monkeypatch.delenv("TF_VAR_token")  # the module requires it: the plan fails
    with pytest.raises(errors.TfctlError):
        runtime.plan("dev")
    (failed,) = runtime.list_runs(workspace="dev", limit=1)
    assert failed.status == RunStatus.ERRORED
    assert init_line(store, failed.id).startswith("init skipped:")
    monkeypatch.setenv("TF_VAR_token", "init-reuse-token-7c1f")
    again = runtime.plan("dev")
    assert init_line(store, again.id).startswith(
        f"init: run {failed.id} ended errored with this configuration"
    )
    assert ran_init(store, again.id)
    assert again.status == RunStatus.AWAITING_APPROVAL


def test_reinit_inits_again_and_is_recorded_on_the_run(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    push_files(store, tmp_path, names=["a"])
    files_workspace(store, "dev", out_dir)
    first = runtime.plan("dev")
    again = runtime.plan("dev", reinit=True)
    assert init_line(store, again.id).startswith("init: --reinit (init hash")
    assert ran_init(store, again.id)
    assert init_sha256(store, again.id) == init_sha256(store, first.id)
    with store.read() as session:
        assert run_store.get_run(session=session, run_id=again.id).reinit
        assert not run_store.get_run(session=session, run_id=first.id).reinit
    applied = runtime.apply("dev", reinit=True)  # the plan's directory, initialised again
    assert applied.status == RunStatus.APPLIED
    assert init_line(store, applied.id).startswith("init: --reinit")


def test_a_half_initialised_or_missing_directory_is_initialised_again(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path, isolated_env: Path
) -> None:
    push_files(store, tmp_path, names=["a"])
    files_workspace(store, "dev", out_dir)
    first = runtime.plan("dev")
    home = workdirs(isolated_env) / (init_sha256(store, first.id) or "")
    (home / workdir.READY).unlink()  # as if init had been interrupted
    second = runtime.plan("dev")
    assert init_line(store, second.id).startswith(
        "init: the last init of this configuration did not finish"
    )
    assert ran_init(store, second.id)
    shutil.rmtree(home / workdir.DATA)  # removed by hand
    third = runtime.plan("dev")
    assert init_line(store, third.id).startswith(
        "init: the initialised directory of this configuration is gone"
    )
    assert runtime.apply("dev").status == RunStatus.APPLIED


def test_a_pending_plan_applies_after_later_plans_of_changed_configurations(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path, isolated_env: Path
) -> None:
    module = own_module(store, tmp_path, names=["a"])
    files_workspace(store, "dev", out_dir)
    runtime.plan("dev")
    runtime.apply("dev")
    own_module(store, tmp_path, names=["a", "b"])
    pending = runtime.plan("dev")
    assert pending.status == RunStatus.AWAITING_APPROVAL
    planned = init_sha256(store, pending.id) or ""
    # drift assessments of edited configurations (they never supersede the pending plan),
    # one more than the directories kept: the pending plan's would be the oldest
    assessed = []
    for n in range(workdir.KEEP + 1):
        with (module / "main.tf").open("a") as tf:
            tf.write(f'\noutput "extra{n}" {{\n  value = {n}\n}}\n')
        (result,) = runtime.assess(["dev"])
        assert result.run_id is not None
        assert init_line(store, result.run_id).startswith("init: configuration changed")
        assessed.append(init_sha256(store, result.run_id))
    kept = {p.name for p in workdirs(isolated_env).iterdir()}
    assert planned in kept
    assert assessed[0] not in kept  # pruned: the oldest, and no pending plan's
    applied = runtime.apply("dev")
    assert applied.status == RunStatus.APPLIED
    assert applied.parent_run_id == pending.id
    assert init_line(store, applied.id).startswith(f"init skipped: init hash {planned[:12]}")
    assert sorted(p.name for p in out_dir.iterdir()) == ["a", "b"]


def test_a_queued_reinit_plan_inits_again_where_a_worker_executes_it(
    runtime: RunService, store: Store, store_url: str, tmp_path: Path, out_dir: Path,
    isolated_env: Path,
) -> None:  # fmt: skip
    push_files(store, tmp_path, names=["a"])
    files_workspace(store, "dev", out_dir)
    first = runtime.plan("dev")
    env = {**os.environ, "TFCTL_DATABASE_URL": store_url, "TFCTL_HOME": str(isolated_env)}
    queued = subprocess.run([tfctl_bin(), "plan", "dev", "--queue", "--reinit", "--json"],
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    worker = subprocess.run([tfctl_bin(), "worker", "--burst", "--name", "w1"], env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert worker.returncode == 0, worker.stderr[-3000:]
    (run,) = runtime.list_runs(workspace="dev", limit=1)
    assert run.id != first.id
    assert run.worker == "w1"
    assert run.status == RunStatus.AWAITING_APPROVAL
    assert init_line(store, run.id).startswith("init: --reinit")
    assert ran_init(store, run.id)
