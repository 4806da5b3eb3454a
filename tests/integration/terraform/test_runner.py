"""TerraformExecutor against the real terraform binary, on `terraform_data` configurations."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tfctl import errors
from tfctl.terraform.commands import ApplyOptions, PlanOptions, TerraformEnv, apply_argv
from tfctl.terraform.process import ProcessResult
from tfctl.terraform.runner import TerraformExecutor

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH"),
]

HELLO = """
variable "greeting" {
  type    = string
  default = "hello"
}

resource "terraform_data" "hello" {
  input = var.greeting
  provisioner "local-exec" {
    command = "echo ${self.input} > greeting.txt"
  }
}

output "greeting" {
  value = terraform_data.hello.output
}
"""

# `sleep N &` in a non-interactive shell ignores SIGINT: only a group SIGKILL ends it.
SLOW = """
resource "terraform_data" "slow" {
  input = "x"
  provisioner "local-exec" {
    command = "sh -c 'sleep %d & sleep 30'"
  }
}

resource "terraform_data" "after" {
  input      = "y"
  depends_on = [terraform_data.slow]
}
"""


@pytest.fixture
def executor(tmp_path: Path) -> TerraformExecutor:
    """An executor configured the way settings would, with an empty CLI configuration (the
    shared conftest also isolates TF_* and sets CHECKPOINT_DISABLE=1)."""
    config = tmp_path / "empty.tfrc"
    config.write_text("")
    return TerraformExecutor(TerraformEnv(cli_config_file=str(config)))


def workdir(tmp_path: Path, config: str) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    (path / "main.tf").write_text(config)
    return path


def processes(*argv: str) -> list[int]:
    """PIDs of live processes whose command line is exactly `argv`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:  # it exited while we looked
            continue
        if cmdline.split(b"\0")[:-1] == [a.encode() for a in argv]:
            found.append(int(entry.name))
    return found


def pgid_of(pid: int) -> int:
    # /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces.
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_no_survivor(pgid: int | None, *argv: str) -> None:
    """Within a few seconds nothing of the group is left: no live `argv` (a zombie has an
    empty command line), and, once init has reaped the killed members, no group id either.
    The `sleep`s used here run for minutes, so only tfctl's kill can make this true."""
    wait_for(lambda: processes(*argv) == [], timeout=5.0)
    if pgid is not None:
        wait_for(lambda: not group_exists(pgid), timeout=5.0)
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)


class CancelWhenProvisioning:
    """A `should_cancel` that flips once the provisioner's grandchild `sleep N` is running,
    remembering the process group it ran in."""

    def __init__(self, sleep_seconds: int) -> None:
        self.marker = ("sleep", str(sleep_seconds))
        self.pgid: int | None = None
        self.flipped_at: float | None = None

    def __call__(self) -> bool:
        if self.pgid is None:
            pids = processes(*self.marker)
            self.pgid = pgid_of(pids[0]) if pids else None
        if self.pgid is not None and self.flipped_at is None:
            self.flipped_at = time.monotonic()
        return self.flipped_at is not None


def test_version_is_read_from_the_binary(executor: TerraformExecutor, tmp_path: Path) -> None:
    found = executor.version(tmp_path)
    assert found.version.startswith("1.")
    assert found.platform is not None


def test_init_plan_apply_stream_their_output_and_change_the_world(
    executor: TerraformExecutor, tmp_path: Path
) -> None:
    cwd = workdir(tmp_path, HELLO)
    lines: list[tuple[str, str]] = []

    def collect(stream: str, line: str) -> None:
        lines.append((stream, line))

    executor.init(cwd, on_line=collect)
    planned = executor.plan(
        cwd, PlanOptions(out="tfplan", detailed_exitcode=True), on_line=collect, timeout=60
    )
    applied = executor.apply(cwd, ApplyOptions(plan_file="tfplan"), on_line=collect, timeout=60)

    assert planned.exit_code == 2  # changes
    assert ("stdout", "Terraform has been successfully initialized!") in lines
    assert ("stdout", "Plan: 1 to add, 0 to change, 0 to destroy.") in lines
    assert ("stdout", "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.") in lines
    assert applied.stdout_tail.endswith('greeting = "hello"')
    assert (cwd / "greeting.txt").read_text() == "hello\n"
    outputs = json.loads(executor.output_json(cwd))
    assert outputs["greeting"]["value"] == "hello"
    assert executor.plan(cwd, PlanOptions(detailed_exitcode=True)).exit_code == 0


def test_show_json_streams_the_plan_to_a_file(executor: TerraformExecutor, tmp_path: Path) -> None:
    cwd = workdir(tmp_path, HELLO)
    executor.init(cwd)
    executor.plan(cwd, PlanOptions(out="tfplan"))
    out = tmp_path / "plan.json"

    result = executor.show_json(cwd, "tfplan", out)

    plan = json.loads(out.read_bytes())
    assert [c["address"] for c in plan["resource_changes"]] == ["terraform_data.hello"]
    assert plan["resource_changes"][0]["change"]["actions"] == ["create"]
    assert result.stdout_tail == ""  # it went to the file, not through memory


def test_cancel_stops_terraform_and_every_process_of_its_group(
    executor: TerraformExecutor, tmp_path: Path
) -> None:
    cwd = workdir(tmp_path, SLOW % 307)
    executor.init(cwd)
    cancel = CancelWhenProvisioning(307)

    result = executor.run(
        apply_argv("terraform", ApplyOptions(auto_approve=True)),
        cwd=cwd, should_cancel=cancel, poll_interval=0.1, timeout=60,
    )  # fmt: skip

    assert result.cancelled
    assert not result.timed_out
    assert result.exit_code != 0
    assert cancel.pgid is not None
    assert cancel.flipped_at is not None
    assert cancel.pgid != os.getpgrp()  # terraform had a group of its own
    assert time.monotonic() - cancel.flipped_at < 5.0
    assert_no_survivor(cancel.pgid, "sleep", "307")
    assert "Interrupt received." in result.stdout_tail  # a graceful stop, not a kill


def test_graceful_stop_writes_state_with_the_interrupted_resource_tainted(
    executor: TerraformExecutor, tmp_path: Path
) -> None:
    cwd = workdir(tmp_path, SLOW % 308)
    executor.init(cwd)

    with pytest.raises(errors.TerraformCancelled) as caught:
        executor.apply(
            cwd, ApplyOptions(auto_approve=True), should_cancel=CancelWhenProvisioning(308),
            poll_interval=0.1, timeout=60,
        )  # fmt: skip

    assert caught.value.exit_code == 4
    state = json.loads(executor.state_pull(cwd))
    resources = {r["name"]: r["instances"] for r in state["resources"]}
    assert set(resources) == {"slow"}  # the one after it was never started
    assert resources["slow"][0]["status"] == "tainted"


def test_timeout_stops_terraform_and_its_group(executor: TerraformExecutor, tmp_path: Path) -> None:
    cwd = workdir(tmp_path, SLOW % 309)
    executor.init(cwd)
    started = time.monotonic()

    with pytest.raises(errors.TerraformTimeout) as caught:
        executor.apply(cwd, ApplyOptions(auto_approve=True), timeout=1.5, poll_interval=0.1)

    assert time.monotonic() - started < 6.0
    assert "did not finish in time and was stopped" in caught.value.message
    assert_no_survivor(None, "sleep", "309")


def test_a_process_ignoring_sigint_is_killed_after_the_grace_period(
    executor: TerraformExecutor, tmp_path: Path
) -> None:
    started = time.monotonic()
    result = executor.run(
        ["sh", "-c", "trap '' INT; sleep 310"],
        cwd=tmp_path, should_cancel=lambda: time.monotonic() - started > 0.3,
        poll_interval=0.05, grace_period=0.5,
    )  # fmt: skip
    assert result.cancelled
    assert result.exit_code == -9  # SIGKILL
    assert time.monotonic() - started < 3.0
    assert_no_survivor(None, "sleep", "310")


def test_leftover_children_are_killed_even_after_a_successful_run(
    executor: TerraformExecutor, tmp_path: Path
) -> None:
    result = executor.run(["sh", "-c", "sleep 311 & echo started"], cwd=tmp_path, timeout=10)
    assert (result.exit_code, result.stdout_tail) == (0, "started")
    assert_no_survivor(None, "sleep", "311")


def test_a_concurrent_apply_reports_who_holds_the_lock(
    executor: TerraformExecutor, tmp_path: Path
) -> None:
    cwd = workdir(tmp_path, SLOW % 312)
    executor.init(cwd)
    holder = CancelWhenProvisioning(312)
    release = threading.Event()
    first = run_in_thread(
        lambda: executor.run(
            apply_argv("terraform", ApplyOptions(auto_approve=True)),
            cwd=cwd, should_cancel=release.is_set, poll_interval=0.1, timeout=60,
        )
    )  # fmt: skip
    wait_for(lambda: holder() or not first.is_alive())

    try:
        with pytest.raises(errors.StateLocked) as caught:
            executor.apply(cwd, ApplyOptions(auto_approve=True), timeout=30)
    finally:
        release.set()
        first.join(30)

    assert "the state is locked by " in caught.value.message
    assert "OperationTypeApply" in caught.value.message


def test_real_diagnostics_become_typed_errors(executor: TerraformExecutor, tmp_path: Path) -> None:
    cwd = workdir(tmp_path, 'variable "region" {\n  type = string\n}\n')
    executor.init(cwd)
    with pytest.raises(errors.MissingVariable, match="'region' has no value"):
        executor.plan(cwd, PlanOptions())
    (cwd / "main.tf").write_text('resource "terraform_data" "a" {\n  bogus = 1\n}\n')
    with pytest.raises(errors.InvalidConfiguration, match="Unsupported argument at main.tf:2"):
        executor.plan(cwd, PlanOptions())


def test_a_failing_line_sink_is_raised_once_the_process_is_gone(
    executor: TerraformExecutor, tmp_path: Path
) -> None:
    def broken(stream: str, line: str) -> None:
        raise RuntimeError("log store is down")

    with pytest.raises(RuntimeError, match="log store is down"):
        executor.run(["sh", "-c", "echo one; sleep 313 & echo two"], cwd=tmp_path, on_line=broken)
    assert_no_survivor(None, "sleep", "313")


def test_a_group_that_is_not_our_child_is_never_signalled() -> None:
    from tfctl.terraform.process import _owned_group

    assert _owned_group(1) is None  # killpg(1) would be kill(-1): every process
    assert _owned_group(os.getppid()) is None


class _Thread(threading.Thread):
    result: ProcessResult | None = None


def run_in_thread(target: Callable[[], ProcessResult]) -> _Thread:
    thread = _Thread(daemon=True)

    def body() -> None:
        thread.result = target()

    thread.run = body  # type: ignore[method-assign]
    thread.start()
    return thread


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
