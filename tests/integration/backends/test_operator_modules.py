"""The operator modules (`modules/storage`, `modules/terraform_runner`) with real terraform.

Their providers (`hashicorp/aws`, `hashicorp/kubernetes`) cannot be downloaded here, so the
deepest honest check is `terraform init`: it parses every file of the module (terraform block,
variables with their validations, locals, resources, outputs) before it installs providers.
The CLI configuration points provider installation at an empty filesystem mirror, so init
fails — only — on the provider, without trying the network.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tfctl import errors
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.resources import modules_dir
from tfctl.runs.service import RunService
from tfctl.stacks import push_spec_file
from tfctl.workspaces import create_workspace

pytestmark = pytest.mark.terraform

PROVIDERS = {"storage": "hashicorp/aws", "terraform_runner": "hashicorp/kubernetes"}
VARIABLES = {
    "storage": {"name": "acme-tfstate-dev"},
    "terraform_runner": {
        "image": "registry.example.com/tfctl:latest",
        "database_url_secret": {"name": "tfctl-store", "key": "url"},
    },
}


@pytest.fixture
def empty_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CLI configuration whose only provider source is an empty directory, given to
    terraform directly and to tfctl (as TFCTL_TERRAFORM_CLI_CONFIG_FILE)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    config = tmp_path / "mirror.tfrc"
    config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n'
                      "  }\n}\n")  # fmt: skip
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config))
    monkeypatch.setenv("TFCTL_TERRAFORM_CLI_CONFIG_FILE", str(config))
    return config


def terraform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["terraform", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def test_the_modules_are_terraform_fmt_clean() -> None:
    result = terraform("fmt", "-check", "-recursive", "-list=true", cwd=modules_dir())
    assert result.returncode == 0, f"not fmt-clean: {result.stdout}{result.stderr}"
    assert sorted(PROVIDERS) == sorted(p.name for p in modules_dir().iterdir() if p.is_dir())


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_a_rendered_stack_reaches_the_module_and_fails_only_on_its_provider(
    name: str, store: Store, tmp_path: Path, empty_mirror: Path
) -> None:
    """The path a user takes: a spec with `module_source: ../../modules/NAME` (relative to
    the spec file, beside a `modules/` folder), pushed, planned by tfctl."""
    (tmp_path / "repo" / "stacks" / name).mkdir(parents=True)
    (tmp_path / "repo" / "modules").symlink_to(modules_dir(), target_is_directory=True)
    spec = tmp_path / "repo" / "stacks" / name / "stack.yaml"
    spec.write_text(yaml.safe_dump({"name": name.replace("_", "-"), "kind": "generic",
                                    "module_source": f"../../modules/{name}",
                                    "variables": VARIABLES[name]}))  # fmt: skip
    push_spec_file(store, spec, author="test")
    create_workspace(store, "ops", stack=name.replace("_", "-"), backend="local",
                     backend_config={}, variables={})  # fmt: skip
    with pytest.raises(errors.InitFailed) as failed:
        RunService(AppContext(store=store)).plan("ops")
    assert "Failed to query available provider packages" in str(failed.value)
    assert f"provider {PROVIDERS[name]}" in str(failed.value)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_the_module_itself_parses_up_to_the_provider_download(
    name: str, tmp_path: Path, empty_mirror: Path
) -> None:
    stderr = init_copy(modules_dir() / name, tmp_path / name)
    failures = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert failures == ["Error: Failed to query available provider packages"], stderr
    assert f"provider {PROVIDERS[name]}: provider registry.terraform.io" in " ".join(stderr.split())


def test_a_syntax_error_is_caught_before_the_provider_download(
    tmp_path: Path, empty_mirror: Path
) -> None:
    """The check above can fail: a broken copy of the module fails on its syntax instead."""
    broken = tmp_path / "broken"
    shutil.copytree(modules_dir() / "terraform_runner", broken)
    with (broken / "main.tf").open("a") as main:
        main.write('\nresource "kubernetes_secret_v1" "oops" {\n  metadata {\n')
    stderr = init_copy(broken, broken)
    assert "Failed to query available provider packages" not in stderr
    assert "Error: Unclosed configuration block" in stderr


def init_copy(module: Path, where: Path) -> str:
    """`terraform init` in a copy of `module` (so no `.terraform/` lands in the source tree);
    returns its stderr, after checking that it failed."""
    if module != where:
        shutil.copytree(module, where)
    result = terraform("init", "-input=false", "-no-color", "-backend=false", cwd=where)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr
