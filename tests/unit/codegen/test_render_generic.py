"""`render_workspace` for `kind: generic`: the files, their exact text (golden files), and the
errors that stop a render before anything is written.

Golden files live in tests/fixtures/golden/generic/<case>/; the machine-specific module
directory and state path appear there as @MODULE@ and @STATE@. Regenerate them after an
intended change with `TFCTL_UPDATE_GOLDEN=1 pytest tests/unit/codegen` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from tfctl import errors
from tfctl.codegen import RenderResult, render_workspace
from tfctl.resources import examples_dir
from tfctl.spec import TerraformStackSpec
from tfctl.specfile import load_spec_file

GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden" / "generic"
# Read at import time: the autouse `isolated_env` fixture removes TFCTL_* before each test.
UPDATE_GOLDEN = os.environ.get("TFCTL_UPDATE_GOLDEN") == "1"
STATE = Path("/var/lib/tfctl/workspaces/dev/terraform.tfstate")

SECRETS_MODULE = """
variable "name" {
  type = string
}

variable "password" {
  type      = string
  sensitive = true
}

variable "size" {
  type    = number
  default = 1

  validation {
    condition     = var.size > 0
    error_message = "size must be positive."
  }
}

resource "terraform_data" "account" {
  input = "${var.name}:${var.password}:${var.size}"
}

output "name" {
  value = var.name
}

output "credentials" {
  value     = terraform_data.account.output
  sensitive = true
}
"""


def assert_golden_dir(case: str, out_dir: Path, replacements: dict[str, str]) -> None:
    expected_dir = GOLDEN / case
    for path in sorted(out_dir.iterdir()):
        text = path.read_text(encoding="utf-8")
        for real, placeholder in replacements.items():
            text = text.replace(real, placeholder)
        golden = expected_dir / path.name
        if UPDATE_GOLDEN:
            expected_dir.mkdir(parents=True, exist_ok=True)
            golden.write_text(text, encoding="utf-8")
        assert text == golden.read_text(encoding="utf-8"), f"differs from {golden}"
    assert sorted(p.name for p in expected_dir.iterdir()) == sorted(
        p.name for p in out_dir.iterdir()
    )


def generic(module_source: str, **variables: Any) -> TerraformStackSpec:
    return TerraformStackSpec(
        name="demo", kind="generic", module_source=module_source, variables=variables
    )


def render(spec: TerraformStackSpec, out_dir: Path, **overrides: Any) -> RenderResult:
    arguments: dict[str, Any] = {
        "spec": spec,
        "variables": spec.variables,
        "backend": "local",
        "backend_config": {},
        "local_state_path": STATE,
        "out_dir": out_dir,
        **overrides,
    }
    return render_workspace(**arguments)


@pytest.fixture
def secrets_module(tmp_path: Path) -> Path:
    path = tmp_path / "modules" / "secrets"
    path.mkdir(parents=True)
    (path / "main.tf").write_text(SECRETS_MODULE)
    return path


def test_hello_example_matches_golden_files(tmp_path: Path) -> None:
    spec = load_spec_file(examples_dir() / "hello" / "stack.yaml")
    render(spec, tmp_path / "out")
    module = str(examples_dir() / "hello" / "module")
    assert_golden_dir("hello", tmp_path / "out", {module: "@MODULE@", str(STATE): "@STATE@"})


def test_secrets_module_on_hcp_matches_golden_files(tmp_path: Path, secrets_module: Path) -> None:
    hcp = {"organization": "acme", "workspace": "demo-dev"}
    render(
        generic(str(secrets_module), name="svc"),
        tmp_path / "out",
        backend="hcp",
        backend_config=hcp,
    )
    assert_golden_dir("secrets_hcp", tmp_path / "out", {str(secrets_module): "@MODULE@"})


def test_result_names_files_variables_and_outputs(tmp_path: Path, secrets_module: Path) -> None:
    result = render(generic(str(secrets_module), name="svc", size=2), tmp_path / "out")
    assert result == RenderResult(
        out_dir=tmp_path / "out",
        files=("main.tf", "outputs.tf", "terraform.tfvars.json", "variables.tf"),
        variables=("name", "password", "size"),
        sensitive_variables=("password",),
        outputs=("credentials", "name"),
    )


def test_required_variables_are_declared_even_without_a_value(
    tmp_path: Path, secrets_module: Path
) -> None:
    result = render(generic(str(secrets_module)), tmp_path / "out")
    assert result.variables == ("name", "password")
    assert json.loads((tmp_path / "out" / "terraform.tfvars.json").read_text()) == {}


def test_values_reach_terraform_only_as_json(tmp_path: Path, secrets_module: Path) -> None:
    hostile = '"} resource "x" "y" { ${file("/etc/passwd")}'
    render(generic(str(secrets_module), name=hostile, size=3), tmp_path / "out")
    tfvars = (tmp_path / "out" / "terraform.tfvars.json").read_text()
    assert json.loads(tfvars) == {"name": hostile, "size": 3}
    for hcl_file in (tmp_path / "out").glob("*.tf"):
        assert "passwd" not in hcl_file.read_text()


def test_tfvars_file_is_readable_by_its_owner_only(tmp_path: Path, secrets_module: Path) -> None:
    render(generic(str(secrets_module), name="svc"), tmp_path / "out")
    mode = stat.S_IMODE((tmp_path / "out" / "terraform.tfvars.json").stat().st_mode)
    assert mode == 0o600


def test_rendering_twice_is_byte_identical(tmp_path: Path, secrets_module: Path) -> None:
    spec = generic(str(secrets_module), size=5, name="svc")
    render(spec, tmp_path / "a")
    render(spec, tmp_path / "b")
    render(spec, tmp_path / "b")
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()


def test_remote_module_declares_exactly_the_given_variables(tmp_path: Path) -> None:
    spec = generic("app.terraform.io/acme/network/aws", cidr="10.0.0.0/16", az_count=2)
    result = render(spec, tmp_path / "out")
    assert result.variables == ("az_count", "cidr")
    assert result.outputs == ()
    main = (tmp_path / "out" / "main.tf").read_text()
    assert 'source = "app.terraform.io/acme/network/aws"' in main
    assert "az_count = var.az_count\n" in main


def test_value_for_undeclared_variable_names_it_and_the_module(
    tmp_path: Path, secrets_module: Path
) -> None:
    spec = generic(str(secrets_module), name="svc", colour="blue")
    message = f"variable 'colour': not declared by module {secrets_module}; it declares name, "
    with pytest.raises(errors.InvalidSpec, match=re.escape(message + "password, size")):
        render(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("source", ["git::https://example.com/m.git", "/placeholder"])
def test_variable_names_must_be_identifiers(
    tmp_path: Path, secrets_module: Path, source: str
) -> None:
    module_source = str(secrets_module) if source == "/placeholder" else source
    spec = generic(module_source, **{"bad name": 1})
    with pytest.raises(errors.InvalidSpec, match="'bad name' is not a valid Terraform name"):
        render(spec, tmp_path / "out")


def test_relative_module_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidSpec, match="a relative path cannot be rendered"):
        render(generic("./modules/x"), tmp_path / "out")


def test_missing_local_module_is_an_invalid_spec(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidSpec, match="not a directory"):
        render(generic(str(tmp_path / "gone")), tmp_path / "out")


def test_backend_errors_stop_the_render_before_writing(
    tmp_path: Path, secrets_module: Path
) -> None:
    spec = generic(str(secrets_module), name="svc")
    with pytest.raises(errors.InvalidInput, match="backend s3: missing setting 'bucket'"):
        render(spec, tmp_path / "out", backend="s3", backend_config={"key": "k", "region": "r"})
    assert not (tmp_path / "out").exists()
