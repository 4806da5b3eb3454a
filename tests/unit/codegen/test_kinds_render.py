"""`render_workspace` for storage, faas, agents and secrets: the exact files (golden), the
values in terraform.tfvars.json, the checks on variables, and hostile values that reach
terraform only as JSON.

Golden files live in tests/fixtures/golden/<kind>_<cloud>/<case>/ (the state path appears as
@STATE@). Regenerate them after an intended change with
`TFCTL_UPDATE_GOLDEN=1 pytest tests/unit/codegen` and review the diff.
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
from tfctl.codegen import RenderResult, render_workspace, scan_module
from tfctl.resources import examples_dir
from tfctl.spec import TerraformStackSpec
from tfctl.specfile import load_spec_file

GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden"
# Read at import time: the autouse `isolated_env` fixture removes TFCTL_* before each test.
UPDATE_GOLDEN = os.environ.get("TFCTL_UPDATE_GOLDEN") == "1"
STATE = Path("/var/lib/tfctl/workspaces/dev/terraform.tfstate")
HOSTILE = '"} resource "x" "y" { ${file("/etc/passwd")} %{ if true }'

EXAMPLES = {
    "storage_aws": "storage/aws.yaml",
    "storage_gcp": "storage/gcp.yaml",
    "storage_azure": "storage/azure.yaml",
    "storage_local": "storage/local.yaml",
    "faas_local": "faas/stack.yaml",
    "agents_local": "agents/stack.yaml",
    "secrets_local": "secrets/stack.yaml",
}

# Variants beside the examples: other structures a template takes.
VARIANTS: dict[str, dict[str, Any]] = {
    "storage_aws/minimal": {"name": "assets", "kind": "storage", "cloud": "aws"},
    "storage_azure/disposable": {
        "name": "scratch",
        "kind": "storage",
        "cloud": "azure",
        "bucket": {"name": "acmescratch", "force_destroy": True, "versioning": False},
    },
    "storage_local/protected": {"name": "vault-data", "kind": "storage", "cloud": "local"},
    "faas_local/rabbitmq": {
        "name": "workers",
        "kind": "faas",
        "function": {
            "image": "ghcr.io/acme/worker:1.4.2",
            "broker": {"type": "rabbitmq", "secret": {"name": "amqp", "key": "url"}},
        },
        "queues": [{"name": "orders", "min_replicas": 1}],
    },
    "faas_local/keda_only": {"name": "keda", "kind": "faas"},
    "secrets_local/vault": {
        "name": "vault-secrets",
        "kind": "secrets",
        "secret_store": {
            "provider": "vault",
            "server": "http://vault.vault.svc:8200",
            "token_secret": {"name": "vault-token", "key": "token"},
        },
        "secret_mappings": [{"name": "db", "namespace": "payments", "remote_key": "db/prod"}],
    },
}


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


def example(case: str) -> TerraformStackSpec:
    return load_spec_file(examples_dir() / EXAMPLES[case])


def tfvars(out_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out_dir / "terraform.tfvars.json").read_text())
    return loaded


def hcl_text(out_dir: Path) -> str:
    return "".join(path.read_text() for path in sorted(out_dir.glob("*.tf")))


def assert_golden_dir(case: str, out_dir: Path) -> None:
    expected_dir = GOLDEN / case
    for path in sorted(out_dir.iterdir()):
        text = path.read_text(encoding="utf-8").replace(str(STATE), "@STATE@")
        golden = expected_dir / path.name
        if UPDATE_GOLDEN:
            expected_dir.mkdir(parents=True, exist_ok=True)
            golden.write_text(text, encoding="utf-8")
        assert text == golden.read_text(encoding="utf-8"), f"differs from {golden}"
    assert sorted(p.name for p in expected_dir.iterdir()) == sorted(
        p.name for p in out_dir.iterdir()
    )


@pytest.mark.parametrize("case", sorted(EXAMPLES))
def test_examples_match_golden_files(tmp_path: Path, case: str) -> None:
    render(example(case), tmp_path / "out")
    assert_golden_dir(f"{case}/example", tmp_path / "out")


@pytest.mark.parametrize("case", sorted(VARIANTS))
def test_variants_match_golden_files(tmp_path: Path, case: str) -> None:
    render(TerraformStackSpec.model_validate(VARIANTS[case]), tmp_path / "out")
    assert_golden_dir(case, tmp_path / "out")


def test_a_kind_with_a_remote_backend_matches_golden_files(tmp_path: Path) -> None:
    gcs = {"bucket": "acme-tfstate", "prefix": "assets/dev"}
    render(example("storage_gcp"), tmp_path / "out", backend="gcs", backend_config=gcs)
    assert_golden_dir("storage_gcp/gcs_backend", tmp_path / "out")


def test_result_names_files_variables_and_outputs(tmp_path: Path) -> None:
    result = render(example("storage_aws"), tmp_path / "out")
    assert result == RenderResult(
        out_dir=tmp_path / "out",
        files=("main.tf", "outputs.tf", "terraform.tfvars.json", "variables.tf"),
        variables=("bucket", "kms_key_arn", "region", "tags"),
        sensitive_variables=(),
        outputs=("bucket_arn", "bucket_name", "bucket_region"),
    )


@pytest.mark.parametrize("case", [*EXAMPLES, *VARIANTS])
def test_every_value_has_a_declaration_and_every_reference_a_variable(
    tmp_path: Path, case: str
) -> None:
    """terraform rejects neither a value without a variable nor a `var.x` without one before
    it has providers; check both here, for every template and structure."""
    spec = example(case) if case in EXAMPLES else TerraformStackSpec.model_validate(VARIANTS[case])
    result = render(spec, tmp_path / "out")
    declared = set(scan_module(tmp_path / "out").variables)
    assert declared == set(result.variables)
    assert set(tfvars(tmp_path / "out")) <= declared
    referenced = set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_]*)", hcl_text(tmp_path / "out")))
    assert referenced == declared


def test_spec_values_and_settings_land_in_tfvars(tmp_path: Path) -> None:
    spec = example("faas_local")
    render(spec, tmp_path / "out", variables={"install_keda": False, "namespace": "jobs"})
    values = tfvars(tmp_path / "out")
    assert values["install_keda"] is False
    assert values["namespace"] == "jobs"
    assert values["stack"] == "workers"
    assert values["labels"] == {"team": "platform"}
    assert [queue["name"] for queue in values["queues"]] == ["orders", "emails"]
    assert values["queues"][1] == {
        "name": "emails",
        "min_replicas": 0,
        "max_replicas": 10,
        "target_length": 5,
        "polling_interval": 30,
        "cooldown_period": 300,
    }
    assert values["function"]["broker"]["secret"] == {"name": "redis-auth", "key": "password"}


@pytest.mark.parametrize(
    ("case", "defaults"),
    [
        ("storage_local", {"namespace": "scratch-store"}),
        ("faas_local", {"namespace": "workers"}),
        ("agents_local", {"namespace": "bots"}),
        ("secrets_local", {"namespace": "external-secrets"}),
    ],
)
def test_settings_default_from_the_spec_and_yield_to_variables(
    tmp_path: Path, case: str, defaults: dict[str, Any]
) -> None:
    render(example(case), tmp_path / "a", variables={})
    assert tfvars(tmp_path / "a").items() >= defaults.items()
    render(example(case), tmp_path / "b", variables={"namespace": "elsewhere"})
    assert tfvars(tmp_path / "b")["namespace"] == "elsewhere"


def test_defaults_of_the_spec_are_resolved(tmp_path: Path) -> None:
    spec = TerraformStackSpec.model_validate({"name": "platform", "kind": "secrets"})
    render(spec, tmp_path / "out")
    assert tfvars(tmp_path / "out")["secret_store"] == {
        "name": "platform",
        "provider": "kubernetes",
        "refresh_interval": "1h",
        "remote_namespace": "platform",
    }
    storage = TerraformStackSpec.model_validate({"name": "logs", "kind": "storage", "cloud": "gcp"})
    render(storage, tmp_path / "gcs")
    assert tfvars(tmp_path / "gcs")["bucket"]["name"] == "logs"


@pytest.mark.parametrize(
    ("name", "cloud", "fragment"),
    [
        ("ab", "aws", "'ab' is not a bucket name"),
        ("my-store", "azure", "'my-store' names an Azure storage account"),
    ],
)
def test_a_stack_name_that_cannot_name_the_bucket_asks_for_one(
    tmp_path: Path, name: str, cloud: str, fragment: str
) -> None:
    spec = TerraformStackSpec.model_validate({"name": name, "kind": "storage", "cloud": cloud})
    with pytest.raises(errors.InvalidSpec, match=re.escape(fragment) + ".*set bucket.name"):
        render(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_variable_names_the_template_and_its_settings(tmp_path: Path) -> None:
    spec = example("storage_aws")
    with pytest.raises(errors.InvalidSpec) as caught:
        render(spec, tmp_path / "out", variables={"region": "x", "size": 3})
    assert caught.value.message == (
        "variable 'size': not declared by the storage template for cloud aws; "
        "its settings are kms_key_arn, region"
    )
    assert not (tmp_path / "out").exists()


def test_variables_cannot_replace_what_the_spec_says(tmp_path: Path) -> None:
    spec = example("agents_local")
    with pytest.raises(errors.InvalidSpec, match="variable 'bots': set by the spec's own fields"):
        render(spec, tmp_path / "out", variables={"bots": []})
    assert not (tmp_path / "out").exists()


def test_variable_names_must_be_identifiers(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidSpec, match="is not a valid Terraform name"):
        render(example("secrets_local"), tmp_path / "out", variables={HOSTILE: 1})


def test_backend_errors_stop_the_render_before_writing(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidInput, match="backend gcs: missing setting 'prefix'"):
        render(
            example("storage_gcp"), tmp_path / "out", backend="gcs", backend_config={"bucket": "b"}
        )
    assert not (tmp_path / "out").exists()


def test_rendering_twice_is_byte_identical(tmp_path: Path) -> None:
    for case in EXAMPLES:
        render(example(case), tmp_path / case / "a")
        render(example(case), tmp_path / case / "b")
        render(example(case), tmp_path / case / "b")
        for path in (tmp_path / case / "a").iterdir():
            assert path.read_bytes() == (tmp_path / case / "b" / path.name).read_bytes()


def test_tfvars_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    render(example("faas_local"), tmp_path / "out")
    mode = stat.S_IMODE((tmp_path / "out" / "terraform.tfvars.json").stat().st_mode)
    assert mode == 0o600


def test_protect_data_switch_guards_destroy_where_the_cloud_cannot(tmp_path: Path) -> None:
    """Azure and the MinIO chart delete the data with the account or the release: without
    force_destroy, destroy is refused; S3 and GCS refuse non-empty buckets themselves."""
    kept = {"name": "keep1", "kind": "storage", "bucket": {"force_destroy": False}}
    gone = {"name": "gone1", "kind": "storage", "bucket": {"force_destroy": True}}
    for cloud, guarded in (("azure", True), ("local", True), ("aws", False), ("gcp", False)):
        for document, force in ((kept, False), (gone, True)):
            spec = TerraformStackSpec.model_validate({**document, "cloud": cloud})
            out = tmp_path / f"{cloud}-{force}"
            render(spec, out)
            assert ("prevent_destroy = true" in hcl_text(out)) is (guarded and not force)
            assert tfvars(out)["bucket"]["force_destroy"] is force


# --- hostile values: JSON only -------------------------------------------------------------------

HOSTILE_SPECS: dict[str, dict[str, Any]] = {
    "storage_aws": {
        "name": "h",
        "kind": "storage",
        "cloud": "aws",
        "bucket": {
            "name": "acme-h",
            "lifecycle_rules": [{"id": "r", "prefix": HOSTILE, "expire_days": 1}],
        },
        "variables": {"region": HOSTILE, "kms_key_arn": HOSTILE + "\n}\n"},
    },
    "storage_gcp": {
        "name": "h",
        "kind": "storage",
        "cloud": "gcp",
        "bucket": {
            "name": "acme-h",
            "lifecycle_rules": [{"id": "r", "prefix": HOSTILE, "expire_days": 1}],
        },
        "variables": {"project": HOSTILE, "location": HOSTILE},
    },
    "storage_azure": {
        "name": "h",
        "kind": "storage",
        "cloud": "azure",
        "bucket": {
            "name": "acmeh",
            "lifecycle_rules": [{"id": "r", "prefix": HOSTILE, "expire_days": 1}],
        },
        "tags": {"owner": HOSTILE},
        "variables": {"resource_group_name": HOSTILE, "location": HOSTILE},
    },
    "storage_local": {
        "name": "hostile",
        "kind": "storage",
        "cloud": "local",
        "variables": {"kubeconfig_path": HOSTILE, "volume_size": HOSTILE, "namespace": HOSTILE},
    },
    "faas_local": {
        "name": "h",
        "kind": "faas",
        "function": {
            "image": "worker:1",
            "args": [HOSTILE],
            "env": {"GREETING": HOSTILE},
            "broker": {"type": "redis", "address": "redis:6379"},
        },
        "queues": [{"name": "q"}],
        "variables": {"keda_chart_version": HOSTILE, "kube_context": HOSTILE},
    },
    "agents_local": {
        "name": "h",
        "kind": "agents",
        "bots": [
            {
                "name": "b",
                "image": "bot:1",
                "args": [HOSTILE],
                "env": {"PROMPT": HOSTILE},
                "sidecar": {"image": "sync:1", "args": [HOSTILE], "env": {"SOURCE": HOSTILE}},
            }
        ],
        "variables": {"namespace": HOSTILE},
    },
    "secrets_local": {
        "name": "h",
        "kind": "secrets",
        "secret_mappings": [{"name": "db", "remote_key": "postgres"}],
        "variables": {"chart_version": HOSTILE, "namespace": HOSTILE},
    },
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SPECS))
def test_hostile_values_reach_terraform_only_as_json(tmp_path: Path, case: str) -> None:
    spec = TerraformStackSpec.model_validate(HOSTILE_SPECS[case])
    render(spec, tmp_path / "out")
    hcl = hcl_text(tmp_path / "out")
    for fragment in ("passwd", 'resource "x"', "%{ if", "${file"):
        assert fragment not in hcl
    document = json.dumps(tfvars(tmp_path / "out"))
    assert document.count(json.dumps(HOSTILE)[1:-1]) >= 2
