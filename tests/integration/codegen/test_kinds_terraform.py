"""Every kind's rendered configuration against the real terraform binary.

Terraform has no registry access here, so provider-using configurations cannot finish `init`.
What can be proved offline is proved: the files are `terraform fmt`-clean, and `init` parses
the whole configuration and then fails *only* because it cannot download the providers —
exactly the providers and version constraints the template declares, and no provider implied
by a mistyped resource type. Where a provider binary is available locally (the AWS provider in
a filesystem mirror, /opt/tf-plugins or $TFCTL_TEST_PROVIDER_MIRROR), `terraform validate`
checks the configuration against the provider's schema as well.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tfctl.codegen import render_workspace
from tfctl.codegen.kinds import plan_kind
from tfctl.resources import examples_dir
from tfctl.spec import TerraformStackSpec
from tfctl.specfile import load_spec_file

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH"),
]

# Read at import time: the autouse `isolated_env` fixture removes TFCTL_* before each test.
MIRROR = Path(os.environ.get("TFCTL_TEST_PROVIDER_MIRROR", "/opt/tf-plugins"))
AWS_IN_MIRROR = any(MIRROR.glob("registry.terraform.io/hashicorp/aws/5.*/*/terraform-provider-*"))

HOSTILE = '"} resource "x" "y" { ${file("/etc/passwd")} %{ if true }\n}\n'
ONE_LINE = HOSTILE.splitlines()[0]  # spec text fields are one line

KUBERNETES = ("hashicorp/kubernetes", "~> 2.36")
HELM = ("hashicorp/helm", "~> 2.17")
KUBECTL = ("alekc/kubectl", "~> 2.1")
PROVIDERS = {
    "storage_aws": {("hashicorp/aws", "~> 5.0")},
    "storage_gcp": {("hashicorp/google", "~> 5.0")},
    "storage_azure": {("hashicorp/azurerm", "~> 4.9")},
    "storage_local": {KUBERNETES, HELM, ("hashicorp/random", "~> 3.6")},
    "faas_local": {KUBERNETES, HELM, KUBECTL},
    "agents_local": {KUBERNETES},
    "secrets_local": {KUBERNETES, HELM, KUBECTL},
}

CASES: dict[str, tuple[str, dict[str, Any] | str]] = {
    "storage_aws": ("storage_aws", "storage/aws.yaml"),
    "storage_aws_minimal": ("storage_aws", {"name": "assets", "kind": "storage", "cloud": "aws"}),
    "storage_gcp": ("storage_gcp", "storage/gcp.yaml"),
    "storage_azure": ("storage_azure", "storage/azure.yaml"),
    "storage_azure_disposable": (
        "storage_azure",
        {
            "name": "s",
            "kind": "storage",
            "cloud": "azure",
            "bucket": {"name": "acme1", "force_destroy": True},
        },
    ),
    "storage_local": ("storage_local", "storage/local.yaml"),
    "storage_local_protected": ("storage_local", {"name": "data", "kind": "storage"}),
    "faas_local": ("faas_local", "faas/stack.yaml"),
    "faas_local_rabbitmq": (
        "faas_local",
        {
            "name": "w",
            "kind": "faas",
            "function": {
                "image": "w:1",
                "broker": {"type": "rabbitmq", "secret": {"name": "a", "key": "u"}},
            },
            "queues": [{"name": "q"}],
        },
    ),
    "faas_local_keda_only": ("faas_local", {"name": "keda", "kind": "faas"}),
    "agents_local": ("agents_local", "agents/stack.yaml"),
    "secrets_local": ("secrets_local", "secrets/stack.yaml"),
    "secrets_local_vault": (
        "secrets_local",
        {
            "name": "v",
            "kind": "secrets",
            "secret_store": {
                "provider": "vault",
                "server": "https://vault.example:8200",
                "token_secret": {"name": "t", "key": "token"},
            },
        },
    ),
}


def terraform(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args],
        cwd=cwd,
        env={**os.environ, "TF_IN_AUTOMATION": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def spec_of(source: dict[str, Any] | str) -> TerraformStackSpec:
    if isinstance(source, str):
        return load_spec_file(examples_dir() / source)
    return TerraformStackSpec.model_validate(source)


def render(spec: TerraformStackSpec, out: Path, **variables: Any) -> Path:
    render_workspace(
        spec=spec,
        variables={**spec.variables, **variables},
        backend="local",
        backend_config={},
        local_state_path=out.parent / "state" / "terraform.tfstate",
        out_dir=out,
    )
    return out


def assert_parses_and_needs_only(out: Path, providers: set[tuple[str, str]]) -> None:
    """`init` got past the configuration and failed only at downloading these providers."""
    fmt = terraform(out, "fmt", "-check", "-diff", "-no-color")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    init = terraform(out, "init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 1, init.stdout + init.stderr
    wanted = set(re.findall(r'- Finding (\S+) versions matching "([^"]+)"', init.stdout))
    implied = re.findall(r"- Finding latest version of (\S+)", init.stdout)
    assert (wanted, implied) == (providers, []), init.stdout
    errors = re.findall(r"^Error: (.*)$", init.stderr, flags=re.MULTILINE)
    assert errors == ["Failed to query available provider packages"] * len(providers), init.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_configuration_parses_and_needs_exactly_its_providers(
    tmp_path: Path, case: str
) -> None:
    template, source = CASES[case]
    out = render(spec_of(source), tmp_path / "config")
    assert_parses_and_needs_only(out, PROVIDERS[template])


@pytest.mark.parametrize("template", sorted(PROVIDERS))
def test_hostile_settings_change_only_the_json(tmp_path: Path, template: str) -> None:
    """Every setting of the template set to hostile text: the HCL is byte-identical to a
    render without them, and still parses."""
    spec = spec_of(next(source for t, source in CASES.values() if t == template))
    probe = render_workspace(
        spec=spec, variables={}, backend="local", backend_config={},
        local_state_path=tmp_path / "state", out_dir=tmp_path / "probe",
    )  # fmt: skip
    settings = set(probe.variables) - set(plan_kind(spec).spec_values)
    assert settings
    out = render(spec, tmp_path / "config", **dict.fromkeys(settings, HOSTILE))
    assert {p.name: p.read_text() for p in out.glob("*.tf")} == {
        p.name: p.read_text().replace(
            str(tmp_path / "state"), str(out.parent / "state" / "terraform.tfstate")
        )
        for p in (tmp_path / "probe").glob("*.tf")
    }
    assert_parses_and_needs_only(out, PROVIDERS[template])


@pytest.fixture(scope="module")
def aws_mirror(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for terraform to install hashicorp/aws from the local mirror only; the
    plugin cache makes every init after the first a link instead of a 700 MB copy."""
    base = tmp_path_factory.mktemp("aws-mirror")
    config = base / "mirror.tfrc"
    config.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{MIRROR}"\n'
        '    include = ["registry.terraform.io/hashicorp/aws"]\n'
        "  }\n"
        "}\n"
    )
    (base / "cache").mkdir()
    return {"TF_CLI_CONFIG_FILE": str(config), "TF_PLUGIN_CACHE_DIR": str(base / "cache")}


@pytest.mark.skipif(not AWS_IN_MIRROR, reason=f"no hashicorp/aws 5.x provider in {MIRROR}")
@pytest.mark.parametrize("case", ["storage_aws", "storage_aws_minimal", "hostile"])
def test_storage_aws_validates_against_the_real_aws_provider(
    tmp_path: Path, aws_mirror: dict[str, str], case: str
) -> None:
    if case == "hostile":
        spec = TerraformStackSpec.model_validate(
            {
                "name": "h",
                "kind": "storage",
                "cloud": "aws",
                "bucket": {
                    "name": "acme-h",
                    "lifecycle_rules": [{"id": "r", "prefix": ONE_LINE, "expire_days": 9}],
                },
                "tags": {"owner": "a b"},
                "variables": {"region": HOSTILE, "kms_key_arn": HOSTILE},
            }
        )
    else:
        spec = spec_of(CASES[case][1])
    out = render(spec, tmp_path / "config")
    init = terraform(out, "init", "-backend=false", "-input=false", "-no-color", env=aws_mirror)
    assert init.returncode == 0, init.stdout + init.stderr
    validate = terraform(out, "validate", "-no-color", env=aws_mirror)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "Success! The configuration is valid." in validate.stdout
