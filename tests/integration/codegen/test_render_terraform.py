"""Rendered configurations against the real terraform binary: valid, `fmt`-clean, planned and
applied, and hostile values arriving in terraform exactly as typed.

Terraform runs offline here (built-in `terraform_data` only); the autouse `isolated_env`
fixture points TF_CLI_CONFIG_FILE at an empty file and sets CHECKPOINT_DISABLE.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tfctl.codegen import RenderResult, hcl_string, render_workspace
from tfctl.resources import examples_dir
from tfctl.spec import TerraformStackSpec
from tfctl.specfile import load_spec_file

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH"),
]

GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden"

HOSTILE = [
    '"} resource "x" "y" {',
    '${file("/etc/passwd")}',
    "%{ if true }yes%{ endif }",
    "$${already escaped} %%{too}",
    "back\\slash \\n not a newline\\",
    "new\nline\ttab\r\n",
    "bell\x07 esc\x1b del\x7f",
    "héllo 😀 \u2028 日本",
    "# not a comment /* nor this */",
]

REQUIRED_SECRET_MODULE = """
variable "password" {
  type      = string
  sensitive = true
}

resource "terraform_data" "login" {
  input = var.password
}

output "password" {
  value     = terraform_data.login.output
  sensitive = true
}
"""

ECHO_MODULE = """
variable "texts" {
  type = list(string)
}

resource "terraform_data" "echo" {
  input = var.texts
}

output "texts" {
  value = terraform_data.echo.output
}
"""


def terraform(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args],
        cwd=cwd,
        env={**os.environ, "TF_IN_AUTOMATION": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def write_module(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    (path / "main.tf").write_text(text)
    return path


def render(spec: TerraformStackSpec, out_dir: Path, state: Path, **overrides: Any) -> RenderResult:
    arguments: dict[str, Any] = {
        "spec": spec,
        "variables": spec.variables,
        "backend": "local",
        "backend_config": {},
        "local_state_path": state,
        "out_dir": out_dir,
        **overrides,
    }
    return render_workspace(**arguments)


def test_hello_example_renders_fmt_clean_and_plans(tmp_path: Path) -> None:
    spec = load_spec_file(examples_dir() / "hello" / "stack.yaml")
    values = {**spec.variables, "output_file": str(tmp_path / "hello.txt")}
    out = tmp_path / "config"
    render(spec, out, tmp_path / "state" / "terraform.tfstate", variables=values)
    first = {path.name: path.read_bytes() for path in out.iterdir()}

    ok(terraform(out, "fmt", "-check", "-diff", "-recursive"))
    ok(terraform(out, "init", "-input=false", "-no-color"))
    plan = terraform(out, "plan", "-input=false", "-no-color", "-detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert '+ greeting = "hello from tfctl"' in plan.stdout

    render(spec, out, tmp_path / "state" / "terraform.tfstate", variables=values)
    assert {name: (out / name).read_bytes() for name in first} == first


def test_required_sensitive_variable_comes_from_the_environment(tmp_path: Path) -> None:
    module = write_module(tmp_path / "module", REQUIRED_SECRET_MODULE)
    spec = TerraformStackSpec(name="secret", kind="generic", module_source=str(module))
    out = tmp_path / "config"
    result = render(spec, out, tmp_path / "terraform.tfstate")
    assert result.sensitive_variables == ("password",)
    ok(terraform(out, "init", "-input=false", "-no-color"))

    missing = terraform(out, "plan", "-input=false", "-no-color")
    assert missing.returncode == 1
    assert "No value for required variable" in missing.stderr

    env = {"TF_VAR_password": "hunter2-s3cret"}
    plan = terraform(out, "plan", "-input=false", "-no-color", "-out=tfplan", env=env)
    assert "hunter2" not in ok(plan)
    shown = json.loads(ok(terraform(out, "show", "-json", "tfplan")))
    root = shown["configuration"]["root_module"]
    assert root["variables"]["password"]["sensitive"] is True
    assert root["outputs"]["password"]["sensitive"] is True


def test_hostile_values_reach_terraform_exactly_as_typed(tmp_path: Path) -> None:
    """Values via tfvars.json, and a module directory and state path built from hostile text
    (rendered into HCL through `hcl_string`): terraform applies and reports them unchanged."""
    # No '%' or '\\' in the module directory: terraform's module installer reads an absolute
    # source as a file:// URL and rejects them, however they are quoted.
    module = write_module(tmp_path / 'mod "} ${x} q', ECHO_MODULE)
    state = tmp_path / 'state "} ${x} %{y} \\ a\nb' / "terraform.tfstate"
    spec = TerraformStackSpec(
        name="hostile", kind="generic", module_source=str(module), variables={"texts": HOSTILE}
    )
    out = tmp_path / "config"
    render(spec, out, state)
    ok(terraform(out, "fmt", "-check", "-diff"))
    ok(terraform(out, "init", "-input=false", "-no-color"))
    ok(terraform(out, "apply", "-input=false", "-no-color", "-auto-approve"))

    outputs = json.loads(ok(terraform(out, "output", "-json")))
    assert outputs["texts"]["value"] == HOSTILE
    assert state.is_file()


def test_hcl_string_round_trips_through_terraform(tmp_path: Path) -> None:
    lines = [f'output "v{i}" {{\n  value = {hcl_string(v)}\n}}\n' for i, v in enumerate(HOSTILE)]
    (tmp_path / "main.tf").write_text("\n".join(lines))
    ok(terraform(tmp_path, "fmt", "-check", "-diff"))
    ok(terraform(tmp_path, "apply", "-input=false", "-no-color", "-auto-approve"))
    outputs = json.loads(ok(terraform(tmp_path, "output", "-json")))
    assert [outputs[f"v{i}"]["value"] for i in range(len(HOSTILE))] == HOSTILE


@pytest.mark.parametrize(
    ("backend", "config"),
    [
        ("s3", {"bucket": HOSTILE[0], "key": HOSTILE[1], "region": HOSTILE[5]}),
        ("s3", {"bucket": "b", "key": "k", "region": "r", "endpoints": {"s3": HOSTILE[2]}}),
        (
            "gcs",
            {"bucket": HOSTILE[3], "prefix": HOSTILE[4], "impersonate_service_account": HOSTILE[0]},
        ),
        (
            "azurerm",
            {"storage_account_name": HOSTILE[6], "container_name": HOSTILE[7], "key": HOSTILE[8]},
        ),
        ("hcp", {"organization": HOSTILE[0], "workspace": HOSTILE[1], "project": HOSTILE[2]}),
    ],
)
def test_hostile_backend_settings_give_a_valid_configuration(
    tmp_path: Path, backend: str, config: dict[str, Any]
) -> None:
    module = write_module(tmp_path / "module", ECHO_MODULE)
    spec = TerraformStackSpec(name="b", kind="generic", module_source=str(module))
    out = tmp_path / "config"
    render(spec, out, tmp_path / "unused.tfstate", backend=backend, backend_config=config)
    ok(terraform(out, "fmt", "-check", "-diff"))
    ok(terraform(out, "init", "-backend=false", "-input=false", "-no-color"))
    ok(terraform(out, "validate", "-no-color"))


def test_golden_files_are_fmt_clean() -> None:
    ok(terraform(GOLDEN, "fmt", "-check", "-diff", "-recursive"))
