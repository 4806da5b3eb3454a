"""`render_backend`: exact text for every backend (golden files), and refused settings.

Golden files live in tests/fixtures/golden/backend/; regenerate them after an intended change
with `TFCTL_UPDATE_GOLDEN=1 pytest tests/unit/codegen` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tfctl import errors
from tfctl.codegen import render_backend
from tfctl.codegen.wrapper import check_backend_config
from tfctl.persistence.kinds import BACKENDS

GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden" / "backend"
# Read at import time: the autouse `isolated_env` fixture removes TFCTL_* before each test.
UPDATE_GOLDEN = os.environ.get("TFCTL_UPDATE_GOLDEN") == "1"
STATE = Path("/var/lib/tfctl/workspaces/dev/terraform.tfstate")


def assert_golden(path: Path, text: str) -> None:
    if UPDATE_GOLDEN:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"differs from {path}"


CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "local": ("local", {}),
    "s3": (
        "s3",
        {"bucket": "tfstate", "key": "envs/dev/terraform.tfstate", "region": "eu-west-1"},
    ),
    "s3_emulator": (
        "s3",
        {
            "bucket": "tfstate",
            "key": "envs/dev/terraform.tfstate",
            "region": "us-east-1",
            "endpoints": {"s3": "http://127.0.0.1:9000"},
            "use_path_style": True,
            "skip_credentials_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
        },
    ),
    "s3_dynamodb": (
        "s3",
        {
            "bucket": "tfstate",
            "key": "dev.tfstate",
            "region": "eu-west-1",
            "dynamodb_table": "tf-locks",
            "encrypt": True,
        },
    ),
    "azurerm": (
        "azurerm",
        {
            "storage_account_name": "tfstateacct",
            "container_name": "tfstate",
            "key": "dev.terraform.tfstate",
            "resource_group_name": "platform",
        },
    ),
    "gcs": ("gcs", {"bucket": "tfstate", "prefix": "envs/dev"}),
    "gcs_emulator": (
        "gcs",
        {
            "bucket": "tfstate",
            "prefix": "envs/dev",
            "storage_custom_endpoint": "http://127.0.0.1:4443/storage/v1/",
        },
    ),
    "hcp": ("hcp", {"organization": "acme", "workspace": "dev"}),
    "hcp_full": (
        "hcp",
        {
            "organization": "acme",
            "workspace": "dev",
            "hostname": "tfe.example.com",
            "project": "platform",
            "workspace_id": "ws-SihZTyXKfNXUWuUa",  # recorded by tfctl, never rendered
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_backend_block_matches_golden_file(case: str) -> None:
    backend, config = CASES[case]
    assert_golden(GOLDEN / f"{case}.tf", render_backend(backend, config, local_state_path=STATE))


def test_every_backend_tfctl_knows_has_a_golden_case() -> None:
    assert {backend for backend, _ in CASES.values()} == set(BACKENDS)


def test_local_backend_renders_the_state_path() -> None:
    text = render_backend("local", {}, local_state_path=STATE)
    assert text == f'backend "local" {{\n  path = "{STATE}"\n}}\n'


def test_s3_locks_with_a_lockfile_unless_told_otherwise() -> None:
    base = {"bucket": "b", "key": "k", "region": "r"}
    assert "use_lockfile = true" in render_backend("s3", base, local_state_path=STATE)
    off = render_backend("s3", {**base, "use_lockfile": False}, local_state_path=STATE)
    assert "use_lockfile = false" in off


def test_command_line_strings_become_booleans_numbers_and_maps() -> None:
    config = {
        "bucket": "b",
        "key": "k",
        "region": "r",
        "use_path_style": "True",
        "max_retries": "5",
        "endpoints.s3": "http://127.0.0.1:9000",
        "endpoints.sts": "http://127.0.0.1:9001",
    }
    assert render_backend("s3", config, local_state_path=STATE) == (
        'backend "s3" {\n'
        '  bucket         = "b"\n'
        '  endpoints      = { s3 = "http://127.0.0.1:9000", sts = "http://127.0.0.1:9001" }\n'
        '  key            = "k"\n'
        "  max_retries    = 5\n"
        '  region         = "r"\n'
        "  use_lockfile   = true\n"
        "  use_path_style = true\n"
        "}\n"
    )


def test_hostile_values_stay_inside_their_string() -> None:
    config = {"bucket": '"} resource "x" "y" {', "key": '${file("/etc/passwd")}', "region": "r"}
    text = render_backend("s3", config, local_state_path=STATE)
    assert r'bucket       = "\"} resource \"x\" \"y\" {"' in text
    assert r'key          = "$${file(\"/etc/passwd\")}"' in text


@pytest.mark.parametrize(
    ("backend", "config", "missing"),
    [
        ("s3", {"key": "k", "region": "r"}, "bucket"),
        ("s3", {"bucket": "b", "key": "k"}, "region"),
        ("s3", {"bucket": "", "key": "k", "region": "r"}, "bucket"),
        ("azurerm", {"storage_account_name": "a", "key": "k"}, "container_name"),
        ("gcs", {"bucket": "b"}, "prefix"),
        ("hcp", {"workspace": "dev"}, "organization"),
        ("hcp", {"organization": "acme"}, "workspace"),
    ],
)
def test_missing_required_setting_names_backend_and_key(
    backend: str, config: dict[str, Any], missing: str
) -> None:
    message = f"backend {backend}: missing setting '{missing}'; pass --backend-config {missing}="
    with pytest.raises(errors.InvalidInput, match=message):
        render_backend(backend, config, local_state_path=STATE)


@pytest.mark.parametrize(
    ("backend", "key"),
    [
        ("local", "path"),
        ("s3", "bucket_name"),
        ("gcs", "endpoint"),
        ("hcp", "workspaces"),
    ],
)
def test_unknown_setting_is_refused(backend: str, key: str) -> None:
    with pytest.raises(errors.InvalidInput, match=f"backend {backend}: unknown setting '{key}'"):
        render_backend(backend, {key: "x"}, local_state_path=STATE)


@pytest.mark.parametrize(
    ("backend", "key"),
    [
        ("s3", "access_key"),
        ("s3", "secret_key"),
        ("s3", "token"),
        ("azurerm", "sas_token"),
        ("azurerm", "access_key"),
        ("azurerm", "client_secret"),
        ("gcs", "credentials"),
        ("gcs", "encryption_key"),
        ("hcp", "token"),
        ("s3", "access_token"),
        ("gcs", "access_token"),  # not even the dummy token an emulator takes
        ("s3", "sse_customer_key"),
    ],
)
def test_credentials_are_never_rendered(backend: str, key: str) -> None:
    with pytest.raises(errors.InvalidInput, match=f"backend {backend}: '{key}' is a credential"):
        render_backend(backend, {key: "s3cr3t"}, local_state_path=STATE)


@pytest.mark.parametrize(
    ("backend", "key", "variable"),
    [
        ("s3", "secret_key", "AWS_SECRET_ACCESS_KEY"),
        ("azurerm", "sas_token", "ARM_SAS_TOKEN"),
        ("gcs", "access_token", "GOOGLE_OAUTH_ACCESS_TOKEN"),
        ("hcp", "token", "TF_TOKEN_app_terraform_io"),
        ("local", "password", "the environment the backend reads"),
    ],
)
def test_a_refused_credential_names_the_environment_variable_to_set(
    backend: str, key: str, variable: str
) -> None:
    with pytest.raises(errors.InvalidInput, match=f"environment instead: .*{variable}"):
        check_backend_config(backend, {key: "s3cr3t"})


def test_checking_normalises_what_a_workspace_stores() -> None:
    config = {"bucket": "b", "key": "k", "region": "r", "use_path_style": "true",
              "max_retries": "3", "endpoints.s3": "http://127.0.0.1:9000",
              "profile": None}  # fmt: skip
    assert check_backend_config("s3", config) == {
        "bucket": "b",
        "key": "k",
        "region": "r",
        "use_path_style": True,
        "max_retries": 3,
        "endpoints": {"s3": "http://127.0.0.1:9000"},
    }


def test_checking_accepts_what_the_command_line_parses_from_json() -> None:
    from tfctl.workspaces import parse_assignments

    pairs = ["bucket=b", "key=k", "region=r", 'endpoints={"s3": "http://127.0.0.1:9000"}',
             "use_path_style=true"]  # fmt: skip
    config = parse_assignments(pairs, option="--backend-config")
    assert check_backend_config("s3", config)["endpoints"] == {"s3": "http://127.0.0.1:9000"}
    assert check_backend_config("s3", config)["use_path_style"] is True


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"use_lockfile": "yes"}, "'use_lockfile' must be true or false"),
        ({"max_retries": "many"}, "'max_retries' must be a whole number"),
        ({"max_retries": True}, "'max_retries' must be a whole number"),
        ({"region": 5}, "'region' must be a string"),
        ({"endpoints": {"s3": 1}}, "'endpoints' must be a mapping"),
        ({"endpoints": {"bad key": "x"}}, "'endpoints' must be a mapping"),
    ],
)
def test_wrongly_typed_setting_is_refused(config: dict[str, Any], problem: str) -> None:
    full = {"bucket": "b", "key": "k", "region": "r", **config}
    with pytest.raises(errors.InvalidInput, match=f"backend s3: setting {problem}"):
        render_backend("s3", full, local_state_path=STATE)


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="unknown backend 'consul'; expected one of"):
        render_backend("consul", {}, local_state_path=STATE)
