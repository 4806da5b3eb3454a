"""tfctl refuses a terraform older than 1.4 with a message saying what to do.

Old binaries are not installable here, so their `version -json` output is faked with
pytest-subprocess; the current binary is checked for real in tests/integration/terraform.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_subprocess import FakeProcess

from tfctl import errors
from tfctl.terraform.commands import TerraformEnv
from tfctl.terraform.runner import TerraformExecutor, TerraformVersion


@pytest.fixture
def terraform_bin(tmp_path: Path) -> str:
    path = tmp_path / "terraform"
    path.write_text("#!/bin/sh\nexit 99\n")
    path.chmod(0o755)
    return str(path)


def version_of(fp: FakeProcess, binary: str, stdout: str) -> TerraformVersion:
    fp.register([binary, "version", "-json"], stdout=stdout)
    return TerraformExecutor(TerraformEnv(binary=binary)).version()


def test_a_supported_version_is_reported_with_its_platform(
    fp: FakeProcess, terraform_bin: str
) -> None:
    stdout = (
        '{"terraform_version": "1.4.0", "platform": "darwin_arm64", "terraform_outdated": true}'
    )
    assert version_of(fp, terraform_bin, stdout) == TerraformVersion("1.4.0", "darwin_arm64")


def test_older_than_1_4_is_refused_naming_the_setting(fp: FakeProcess, terraform_bin: str) -> None:
    with pytest.raises(errors.TerraformTooOld) as caught:
        version_of(fp, terraform_bin, '{"terraform_version": "1.3.9", "platform": "linux_amd64"}')
    assert caught.value.message == (
        f"{terraform_bin} is Terraform 1.3.9, but tfctl needs 1.4.0 or newer; install a newer "
        "terraform or point TFCTL_TERRAFORM_BIN at one"
    )
    assert caught.value.exit_code == 2


def test_a_binary_too_old_for_json_is_still_recognised_as_too_old(
    fp: FakeProcess, terraform_bin: str
) -> None:
    with pytest.raises(errors.TerraformTooOld, match="is Terraform 0.12.31"):
        version_of(fp, terraform_bin, "Terraform v0.12.31\n\nYour version is out of date!\n")


def test_something_that_is_not_terraform_is_reported(fp: FakeProcess, terraform_bin: str) -> None:
    with pytest.raises(errors.TerraformError, match="Is TFCTL_TERRAFORM_BIN a terraform binary"):
        version_of(fp, terraform_bin, "hello from another tool\n")


def test_opentofu_reports_in_the_same_shape(fp: FakeProcess, terraform_bin: str) -> None:
    stdout = '{"terraform_version": "1.8.3", "platform": "linux_amd64"}'
    assert version_of(fp, terraform_bin, stdout).version == "1.8.3"


def test_the_version_is_asked_once_per_binary_file_with_a_cache(
    fp: FakeProcess, terraform_bin: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache" / "terraform-version.json"
    executor = TerraformExecutor(TerraformEnv(binary=terraform_bin))
    fp.register([terraform_bin, "version", "-json"], stdout='{"terraform_version": "1.11.4"}')
    assert executor.version(cache=cache) == TerraformVersion("1.11.4", None)
    assert executor.version(cache=cache) == TerraformVersion("1.11.4", None)
    assert fp.call_count([terraform_bin, "version", "-json"]) == 1

    # an upgraded binary (another size and mtime) is asked again
    Path(terraform_bin).write_text("#!/bin/sh\n# a newer build\nexit 99\n")
    fp.register([terraform_bin, "version", "-json"], stdout='{"terraform_version": "1.12.0"}')
    assert executor.version(cache=cache).version == "1.12.0"
    assert fp.call_count([terraform_bin, "version", "-json"]) == 2


def test_a_cached_version_is_still_checked_and_a_broken_cache_ignored(
    fp: FakeProcess, terraform_bin: str, tmp_path: Path
) -> None:
    cache = tmp_path / "terraform-version.json"
    cache.write_text("{not json")
    executor = TerraformExecutor(TerraformEnv(binary=terraform_bin))
    fp.register([terraform_bin, "version", "-json"], stdout='{"terraform_version": "1.3.0"}')
    with pytest.raises(errors.TerraformTooOld):
        executor.version(cache=cache)
    assert not cache.exists() or "1.3.0" not in cache.read_text()
