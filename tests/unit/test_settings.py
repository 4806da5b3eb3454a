"""Settings: TFCTL_* wins over the older ALPHASWARM_* names, which win over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfctl import errors
from tfctl.persistence.kinds import Backend
from tfctl.settings import Settings, describe_settings, get_settings, mask_url_password


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TFCTL_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = Settings()
    assert settings.home == tmp_path / "tfctl"
    assert settings.store_url == f"sqlite:///{tmp_path / 'tfctl' / 'tfctl.db'}"
    assert settings.terraform_bin == "terraform"
    assert settings.terraform_state_backend is Backend.LOCAL
    assert settings.terraform_cli_config_file is None


def test_home_defaults_to_local_share_without_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TFCTL_HOME")
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert Settings().home == Path.home() / ".local" / "share" / "tfctl"


@pytest.mark.parametrize(
    ("field", "suffix", "value", "expected"),
    [
        ("terraform_state_backend", "STATE_BACKEND", "s3", Backend.S3),
        ("terraform_cli_config_file", "CLI_CONFIG_FILE", "/etc/tf.rc", Path("/etc/tf.rc")),
        ("terraform_plugin_cache_dir", "PLUGIN_CACHE_DIR", "/var/cache/tf", Path("/var/cache/tf")),
    ],
)
def test_alphaswarm_names_are_fallbacks(
    monkeypatch: pytest.MonkeyPatch, field: str, suffix: str, value: str, expected: object
) -> None:
    monkeypatch.setenv(f"ALPHASWARM_TERRAFORM_{suffix}", value)
    assert getattr(Settings(), field) == expected
    report = {r.name: r for r in describe_settings(Settings())}[field]
    assert report.source == f"env ALPHASWARM_TERRAFORM_{suffix}"


def test_tfctl_name_wins_over_alphaswarm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHASWARM_TERRAFORM_STATE_BACKEND", "gcs")
    monkeypatch.setenv("TFCTL_TERRAFORM_STATE_BACKEND", "azurerm")
    assert Settings().terraform_state_backend is Backend.AZURERM
    report = {r.name: r for r in describe_settings(Settings())}["terraform_state_backend"]
    assert report.source == "env TFCTL_TERRAFORM_STATE_BACKEND"


def test_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFCTL_TERRAFORM_BIN", "")
    assert Settings().terraform_bin == "terraform"


def test_database_url_replaces_the_embedded_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFCTL_DATABASE_URL", "postgresql+psycopg://u:pw@db/tfctl")
    settings = Settings()
    assert settings.store_url == "postgresql+psycopg://u:pw@db/tfctl"
    assert not settings.uses_embedded_store
    report = {r.name: r for r in describe_settings(settings)}["database_url"]
    assert report.value == "postgresql+psycopg://u:***@db/tfctl"


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHASWARM_TERRAFORM_STATE_BACKEND", "ftp")
    get_settings.cache_clear()
    with pytest.raises(errors.InvalidSetting, match="ALPHASWARM_TERRAFORM_STATE_BACKEND='ftp'"):
        get_settings()


def test_settings_are_read_lazily_once(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("TFCTL_TERRAFORM_BIN", "tofu")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().terraform_bin == "tofu"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+psycopg://user:s3cr3t@host:5432/db",
            "postgresql+psycopg://user:***@host:5432/db",
        ),
        ("postgresql+psycopg://user@host/db", "postgresql+psycopg://user@host/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_passwords_are_masked(url: str, masked: str) -> None:
    assert mask_url_password(url) == masked


def test_defaults_are_described_by_what_they_amount_to(
    monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    monkeypatch.setenv("TF_PLUGIN_CACHE_DIR", "/var/cache/tf")
    reports = {r.env_var: r for r in describe_settings(Settings(), actor="alice")}
    assert reports["TFCTL_DATABASE_URL"].value == f"sqlite:///{isolated_env / 'tfctl.db'}"
    assert reports["TFCTL_WORK_DIR"].value == str(isolated_env / "runs")
    plugin_cache = reports["TFCTL_TERRAFORM_PLUGIN_CACHE_DIR"]
    assert (plugin_cache.value, plugin_cache.source) == ("/var/cache/tf", "env TF_PLUGIN_CACHE_DIR")
    assert (reports["TFCTL_ACTOR"].value, reports["TFCTL_ACTOR"].source) == (
        "alice",
        "default (login name)",
    )
    assert reports["TFCTL_DEBUG"].value == "off"
