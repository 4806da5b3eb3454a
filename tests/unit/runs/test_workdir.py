"""Init reuse (runs/workdir.py) without terraform: what the init hash covers, when `prepare`
initialises, the lock between processes, the markers, pruning. The runs that use it with real
terraform are in tests/integration/test_init_reuse.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tfctl import errors
from tfctl.runs import workdir
from tfctl.runs.workdir import Configuration, InitInputs, WorkDirs, init_sha256


def rendered(path: Path, main: str = 'resource "terraform_data" "a" {}\n') -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "main.tf").write_text(main)
    (path / "terraform.tfvars.json").write_text('{"n": 1}\n')
    return path


def given(tmp_path: Path, **changes: object) -> InitInputs:
    rc = tmp_path / "cli.tfrc"
    if not rc.exists():
        rc.write_text("")
    values: dict[str, object] = {
        "config": Configuration("local", {}),
        "terraform": "/usr/bin/terraform 1.11.4",
        "cli_config_file": rc,
        "plugin_cache_dir": None,
        **changes,
    }
    return InitInputs(**values)  # type: ignore[arg-type]


def test_the_init_hash_changes_with_everything_init_depends_on(tmp_path: Path) -> None:
    work = rendered(tmp_path / "work")
    module = rendered(tmp_path / "module")
    base = init_sha256(work, given(tmp_path))
    assert init_sha256(work, given(tmp_path)) == base  # stable
    assert len(base) == 64

    def changed(**changes: object) -> str:
        return init_sha256(work, given(tmp_path, **changes))

    other_rc = tmp_path / "other.tfrc"
    other_rc.write_text("provider_installation {\n  direct {}\n}\n")
    assert changed(cli_config_file=other_rc) != base  # the CLI configuration's bytes
    assert changed(cli_config_file=tmp_path / "missing.tfrc") != base
    assert changed(terraform="/usr/bin/terraform 1.12.0") != base
    assert changed(plugin_cache_dir="/var/cache/tf") != base
    assert changed(config=Configuration("s3", {"bucket": "b"})) != base
    assert changed(config=Configuration("local", {"path": "x"})) != base
    with_module = changed(config=Configuration("local", {}, module))
    assert with_module != base
    (module / "versions.tf").write_text('terraform {\n  required_version = ">= 1.4"\n}\n')
    assert changed(config=Configuration("local", {}, module)) != with_module
    (module / "README.md").write_text("not terraform")
    (module / ".terraform").mkdir()
    (module / ".terraform" / "x.tf").write_text("# installed elsewhere")
    before = changed(config=Configuration("local", {}, module))
    (module / "README.md").write_text("still not terraform")
    assert changed(config=Configuration("local", {}, module)) == before

    (work / "main.tf").write_text('resource "terraform_data" "b" {}\n')
    assert init_sha256(work, given(tmp_path)) != base  # the configuration
    configured = init_sha256(work, given(tmp_path))
    (work / ".terraform.lock.hcl").write_text('provider "x" {}\n')
    shipped = init_sha256(work, given(tmp_path))
    assert shipped != configured  # the lock file it ships
    (work / ".terraform.lock.hcl").write_text('provider "y" {}\n')
    assert init_sha256(work, given(tmp_path)) not in (configured, shipped)


def test_values_plan_files_and_the_data_directory_do_not_change_the_hash(tmp_path: Path) -> None:
    work = rendered(tmp_path / "work")
    base = init_sha256(work, given(tmp_path))
    (work / "terraform.tfvars.json").write_text('{"n": 2}\n')  # values never reach init
    (work / "tfplan.binary").write_bytes(b"plan")
    (work / ".terraform").mkdir()
    (work / ".terraform" / "terraform.tfstate").write_text("{}")
    assert init_sha256(work, given(tmp_path)) == base


class Inits:
    """A stand-in for `terraform init` in a working directory: it writes into `.terraform`
    and a lock file, and counts."""

    def __init__(self, work: Path, *, seconds: float = 0.0, fail: bool = False) -> None:
        self.work, self.seconds, self.fail = work, seconds, fail
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        (self.work / ".terraform" / "providers").write_text(f"init {self.count}")
        time.sleep(self.seconds)
        if self.fail:
            raise errors.InitFailed("terraform init failed: Error: no provider")
        (self.work / ".terraform.lock.hcl").write_text(f"# lock {self.count}\n")


def prepare(dirs: WorkDirs, work: Path, init: Inits, notes: list[str], **kw: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"workspace_id": "ws-1", "run_id": f"run-{work.name}",
                                  "sha256": "a" * 64, "reinit": False, **kw}  # fmt: skip
    return dirs.prepare(work, init=init, note=notes.append, **options)  # type: ignore[arg-type]


def test_init_runs_once_then_the_directory_and_its_lock_file_are_reused(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path / "workdirs")
    first, second = tmp_path / "runs" / "1", tmp_path / "runs" / "2"
    notes: list[str] = []
    init = Inits(first)
    prepare(dirs, first, init, notes).release()
    assert init.count == 1
    assert notes == [f"init: first run of this workspace here (init hash {'a' * 12})"]
    home = dirs.home("ws-1", "a" * 64)
    assert (first / ".terraform").resolve() == home / "data"
    assert (home / "ready").is_file()

    notes.clear()
    prepare(dirs, second, Inits(second), notes).release()
    assert notes == [f"init skipped: init hash {'a' * 12} unchanged since run run-1"]
    assert (second / ".terraform").resolve() == home / "data"
    assert (second / ".terraform.lock.hcl").read_text() == "# lock 1\n"  # what init produced

    notes.clear()
    third = Inits(tmp_path / "runs" / "3")
    prepare(dirs, third.work, third, notes, reinit=True).release()
    assert third.count == 1
    assert notes == [f"init: --reinit (init hash {'a' * 12})"]


def test_a_failed_or_interrupted_init_is_redone(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path / "workdirs")
    failing = Inits(tmp_path / "runs" / "1", fail=True)
    with pytest.raises(errors.InitFailed):
        prepare(dirs, failing.work, failing, [])
    assert not (dirs.home("ws-1", "a" * 64) / "ready").exists()
    notes: list[str] = []
    retry = Inits(tmp_path / "runs" / "2")
    prepare(dirs, retry.work, retry, notes).release()
    assert retry.count == 1
    assert notes == [f"init: the last init of this configuration did not finish "
                     f"(init hash {'a' * 12})"]  # fmt: skip


def test_an_errored_run_makes_the_next_run_init_but_a_cancelled_one_does_not(
    tmp_path: Path,
) -> None:
    dirs = WorkDirs(tmp_path / "workdirs")
    runs = tmp_path / "runs"
    lease = prepare(dirs, runs / "1", Inits(runs / "1"), [])
    lease.ended("run-1", errors.Cancelled("cancelled by someone"))
    lease.release()
    notes: list[str] = []
    lease = prepare(dirs, runs / "2", Inits(runs / "2"), notes)
    assert notes[0].startswith("init skipped")
    lease.ended("run-2", errors.RunError("terraform apply failed"))
    lease.release()
    notes.clear()
    again = Inits(runs / "3")
    prepare(dirs, runs / "3", again, notes).release()
    assert again.count == 1
    assert notes == [f"init: run run-2 ended errored with this configuration "
                     f"(init hash {'a' * 12})"]  # fmt: skip


def test_two_processes_never_initialise_one_directory_at_once(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path / "workdirs")
    inits = [Inits(tmp_path / "runs" / str(i), seconds=0.3) for i in range(2)]
    notes: list[list[str]] = [[], []]
    leases = []

    def run(i: int) -> None:
        leases.append(prepare(dirs, inits[i].work, inits[i], notes[i]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for lease in leases:
        lease.release()
    assert sorted(init.count for init in inits) == [0, 1]
    said = [line for lines in notes for line in lines]
    assert sum(line.startswith("init skipped") for line in said) == 1


def test_a_reinit_waits_until_no_run_uses_the_directory(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path / "workdirs")
    using = prepare(dirs, tmp_path / "runs" / "1", Inits(tmp_path / "runs" / "1"), [])
    reinit = Inits(tmp_path / "runs" / "2")
    notes: list[str] = []
    done = threading.Event()

    def run() -> None:
        prepare(dirs, reinit.work, reinit, notes, reinit=True).release()
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.3)
    assert reinit.count == 0
    assert not done.is_set()
    assert notes[0].startswith("waiting for another run")
    using.release()
    thread.join(timeout=10)
    assert reinit.count == 1


def test_a_cancelled_run_stops_waiting_for_the_lock(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path / "workdirs")
    using = prepare(dirs, tmp_path / "runs" / "1", Inits(tmp_path / "runs" / "1"), [])

    def cancelled() -> None:
        raise errors.TerraformCancelled("the run was cancelled")

    with pytest.raises(errors.TerraformCancelled):
        prepare(dirs, tmp_path / "runs" / "2", Inits(tmp_path / "runs" / "2"), [],
                reinit=True, check=cancelled)  # fmt: skip
    using.release()


def test_old_directories_are_pruned_but_not_a_pending_plans_or_one_in_use(
    tmp_path: Path,
) -> None:
    dirs = WorkDirs(tmp_path / "workdirs")
    hashes = [str(i) * 64 for i in range(1, 7)]
    pending, in_use = hashes[0], hashes[1]
    held = None
    for n, sha in enumerate(hashes):
        work = tmp_path / "runs" / str(n)
        lease = prepare(dirs, work, Inits(work), [], sha256=sha, protect=lambda: {pending})
        if sha == in_use:
            held = lease
        else:
            lease.release()
        time.sleep(0.01)  # distinct last-use times
    left = sorted(p.name for p in (tmp_path / "workdirs" / "ws-1").iterdir())
    assert left == sorted([pending, in_use, *hashes[-workdir.KEEP :]])
    assert held is not None
    held.release()


def test_an_inherited_tf_data_dir_is_not_passed_to_terraform() -> None:
    from tfctl.terraform.commands import TerraformEnv, build_env

    env = build_env(TerraformEnv(), {"TF_DATA_DIR": "/shared", "PATH": "/usr/bin"})
    assert "TF_DATA_DIR" not in env  # it would replace the run's .terraform
    assert env["PATH"] == "/usr/bin"
