"""The token the `hcp` backend checks with is the one terraform itself will use: found where
terraform 1.11 looks, in its order, and never only in TFE_TOKEN (which terraform ignores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfctl.hcp.credentials import missing_terraform_token_message, terraform_token


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TFE_TOKEN", raising=False)
    return tmp_path


def login_file(home: Path, host: str, token: str) -> None:
    """What `terraform login HOST` writes."""
    path = home / ".terraform.d" / "credentials.tfrc.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"credentials": {host: {"token": token}}}))


def cli_config(path: Path, host: str, token: str) -> Path:
    path.write_text(
        'plugin_cache_dir = "/tmp/cache"\n\n'
        f'credentials "{host}" {{\n  token = "{token}"\n}}\n\n'
        'credentials "other.example.com" {\n  token = "not.this.one"\n}\n'
    )
    return path


def source(host: str, config: Path | None, env: dict[str, str] | None = None) -> tuple[str, str]:
    found = terraform_token(host, cli_config_file=config, environ=env or {})
    assert found is not None
    return found.value, found.source


def test_the_host_variable_wins_over_a_credentials_block(home: Path, tmp_path: Path) -> None:
    config = cli_config(tmp_path / "cli.tfrc", "app.terraform.io", "block.atlasv1.x")
    env = {"TF_TOKEN_app_terraform_io": "env.atlasv1.x"}

    assert source("app.terraform.io", config, env) == ("env.atlasv1.x", "TF_TOKEN_app_terraform_io")
    assert source("app.terraform.io", config) == ("block.atlasv1.x", str(config))


def test_without_a_cli_config_file_the_login_file_is_read(home: Path) -> None:
    login_file(home, "TFE.example.com", "login.atlasv1.x")

    assert source("tfe.example.com", None) == (
        "login.atlasv1.x",
        str(home / ".terraform.d" / "credentials.tfrc.json"),
    )


def test_with_a_cli_config_file_the_login_file_is_not_read_as_terraform_does(
    home: Path, tmp_path: Path
) -> None:
    login_file(home, "app.terraform.io", "login.atlasv1.x")
    empty = tmp_path / "empty.tfrc"
    empty.write_text("")

    assert terraform_token("app.terraform.io", cli_config_file=empty, environ={}) is None


def test_tfe_token_alone_is_not_a_token_terraform_would_use(home: Path) -> None:
    found = terraform_token("app.terraform.io", cli_config_file=None,
                            environ={"TFE_TOKEN": "tfe.atlasv1.x"})  # fmt: skip
    assert found is None


def test_a_host_with_a_port_has_no_variable_and_a_block_can_name_it(
    home: Path, tmp_path: Path
) -> None:
    config = cli_config(tmp_path / "cli.tfrc", "localhost:8443", "port.atlasv1.x")

    assert source("localhost:8443", config)[0] == "port.atlasv1.x"
    assert missing_terraform_token_message("localhost:8443", cli_config_file=None) == (
        "no HCP Terraform API token for localhost:8443: run `terraform login localhost:8443` "
        f"(it saves the token in {home / '.terraform.d' / 'credentials.tfrc.json'})"
    )


def test_the_message_names_the_variable_and_terraform_login(home: Path) -> None:
    assert missing_terraform_token_message("app.terraform.io", cli_config_file=None) == (
        "no HCP Terraform API token for app.terraform.io: set TF_TOKEN_app_terraform_io, or "
        "run `terraform login app.terraform.io` (it saves the token in "
        f"{home / '.terraform.d' / 'credentials.tfrc.json'})"
    )
