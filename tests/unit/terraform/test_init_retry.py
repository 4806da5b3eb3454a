"""`terraform init` retries a flaky provider download, and only that.

The flaky registry is faked with pytest-subprocess: it cannot be produced on demand for real.
The stderr texts are real Terraform 1.11.4 output (see test_classify.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pytest_subprocess import FakeProcess

from tfctl import errors
from tfctl.terraform.commands import TerraformEnv
from tfctl.terraform.runner import TerraformExecutor, backoff_delay

REGISTRY_DOWN = """
Error: Failed to query available provider packages

Could not retrieve the list of available versions for provider
hashicorp/null: could not connect to registry.terraform.io: failed to request
discovery document: Get
"https://registry.terraform.io/.well-known/terraform.json": dial tcp: lookup
registry.terraform.io on 10.255.255.53:53: no such host
"""

MIRROR_BUSY = """
Error: Failed to install provider

Error while installing hashicorp/null v3.2.3: could not query provider
registry for registry.terraform.io/hashicorp/null: 503 Service Unavailable
"""

SYNTAX_ERROR = """
Error: Terraform encountered problems during initialisation, including problems
with the configuration, described below.

The Terraform configuration must be valid before initialization so that
Terraform can determine which modules and providers need to be installed.


Error: Invalid multi-line string

  on main.tf line 2, in resource "terraform_data" "a":
   2:   input = "x
   3: }

Quoted strings may not be split over multiple lines.
"""

INIT_OK = ["Initializing provider plugins...", "Terraform has been successfully initialized!"]


@pytest.fixture
def terraform_bin(tmp_path: Path) -> str:
    """An executable named terraform, so the binary resolves; fp runs in its place."""
    path = tmp_path / "bin" / "terraform"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 99\n")
    path.chmod(0o755)
    return str(path)


def executor(binary: str, sleeps: list[float], **kwargs: Any) -> TerraformExecutor:
    return TerraformExecutor(TerraformEnv(binary=binary), sleep=sleeps.append, **kwargs)


def register_init(fp: FakeProcess, binary: str, stderr: str, returncode: int) -> None:
    stdout = INIT_OK if returncode == 0 else ["Initializing provider plugins..."]
    fp.register([binary, "init", fp.any()], stdout=stdout, stderr=stderr, returncode=returncode)


def test_flaky_download_is_retried_until_it_succeeds(
    fp: FakeProcess, terraform_bin: str, tmp_path: Path
) -> None:
    register_init(fp, terraform_bin, REGISTRY_DOWN, 1)
    register_init(fp, terraform_bin, MIRROR_BUSY, 1)
    register_init(fp, terraform_bin, "", 0)
    sleeps: list[float] = []
    lines: list[tuple[str, str]] = []

    result = executor(terraform_bin, sleeps, init_backoff_cap=0.5).init(
        tmp_path, on_line=lambda stream, line: lines.append((stream, line))
    )

    assert result.exit_code == 0
    assert fp.call_count([terraform_bin, "init", fp.any()]) == 3
    assert len(sleeps) == 2
    assert all(0.0 <= s <= 0.5 for s in sleeps)  # full jitter, never above the cap
    assert ("stdout", "Terraform has been successfully initialized!") in lines


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    ceilings = [backoff_delay(n, base=1.0, cap=30.0, rand=lambda: 1.0) for n in range(7)]
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff_delay(3, base=1.0, cap=30.0, rand=lambda: 0.25) == 2.0


def test_sleeps_stay_under_each_retrys_ceiling(
    fp: FakeProcess, terraform_bin: str, tmp_path: Path
) -> None:
    for _ in range(5):
        register_init(fp, terraform_bin, REGISTRY_DOWN, 1)
    sleeps: list[float] = []
    with pytest.raises(errors.InitFailed):
        executor(terraform_bin, sleeps, init_attempts=5, init_backoff_base=0.1).init(tmp_path)
    assert len(sleeps) == 4
    assert all(0.0 <= s <= 0.1 * 2**n for n, s in enumerate(sleeps))


def test_a_permanent_error_fails_at_once_with_terraforms_message(
    fp: FakeProcess, terraform_bin: str, tmp_path: Path
) -> None:
    register_init(fp, terraform_bin, SYNTAX_ERROR, 1)
    sleeps: list[float] = []

    with pytest.raises(errors.InitFailed) as caught:
        executor(terraform_bin, sleeps).init(tmp_path)

    assert caught.value.message == (
        "terraform init failed: Invalid multi-line string at main.tf:2: Quoted strings may not "
        "be split over multiple lines."
    )
    assert fp.call_count([terraform_bin, "init", fp.any()]) == 1
    assert sleeps == []


def test_exhausted_attempts_fail_with_the_last_error_and_what_to_check(
    fp: FakeProcess, terraform_bin: str, tmp_path: Path
) -> None:
    for _ in range(3):
        register_init(fp, terraform_bin, REGISTRY_DOWN, 1)
    sleeps: list[float] = []

    with pytest.raises(errors.InitFailed) as caught:
        executor(terraform_bin, sleeps, init_attempts=3).init(tmp_path)

    message = caught.value.message
    assert message.startswith("terraform init failed 3 times on a transient error, last: ")
    assert "could not connect to registry.terraform.io" in message
    assert "TFCTL_TERRAFORM_CLI_CONFIG_FILE" in message
    assert len(sleeps) == 2


def test_a_cancel_during_backoff_stops_retrying(
    fp: FakeProcess, terraform_bin: str, tmp_path: Path
) -> None:
    register_init(fp, terraform_bin, REGISTRY_DOWN, 1)
    sleeps: list[float] = []
    with pytest.raises(errors.TerraformCancelled):
        executor(terraform_bin, sleeps).init(tmp_path, should_cancel=lambda: True)
    assert sleeps == []


def test_init_runs_without_shell_in_its_own_session_in_automation_mode(
    fp: FakeProcess, terraform_bin: str, tmp_path: Path
) -> None:
    recorder = fp.register([terraform_bin, "init", fp.any()], stdout=INIT_OK)
    TerraformExecutor(TerraformEnv(binary=terraform_bin)).init(tmp_path)
    (call,) = recorder.calls
    assert call.args == [terraform_bin, "init", "-input=false", "-no-color"]
    assert call.kwargs is not None
    assert call.kwargs["start_new_session"] is True
    assert call.kwargs.get("shell", False) is False
    assert call.kwargs["stdin"] == subprocess.DEVNULL
    assert call.kwargs["env"]["TF_IN_AUTOMATION"] == "1"
    assert call.kwargs["env"]["TF_INPUT"] == "0"


def test_a_missing_binary_names_it_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(errors.TerraformNotFound) as caught:
        TerraformExecutor(TerraformEnv(binary="terraform-1.99-missing")).init(tmp_path)
    assert "'terraform-1.99-missing' was not found" in caught.value.message
    assert "TFCTL_TERRAFORM_BIN" in caught.value.message
    assert caught.value.exit_code == 2
