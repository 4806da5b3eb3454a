"""tfctl's settings, from the environment, built lazily (never at import time).

Every setting is read from `TFCTL_<NAME>`; the terraform settings also accept the older
`ALPHASWARM_TERRAFORM_<NAME>` names as fallbacks. The first name found wins, in the order of
`ENV_NAMES`. `describe_settings()` says, for `tfctl doctor`, where each value came from.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from tfctl import errors
from tfctl.persistence.kinds import Backend

#: Environment variable names per setting, highest precedence first.
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "home": ("TFCTL_HOME",),
    "database_url": ("TFCTL_DATABASE_URL",),
    "terraform_bin": ("TFCTL_TERRAFORM_BIN",),
    "terraform_state_backend": (
        "TFCTL_TERRAFORM_STATE_BACKEND",
        "ALPHASWARM_TERRAFORM_STATE_BACKEND",
    ),
    "terraform_cli_config_file": (
        "TFCTL_TERRAFORM_CLI_CONFIG_FILE",
        "ALPHASWARM_TERRAFORM_CLI_CONFIG_FILE",
    ),
    "terraform_plugin_cache_dir": (
        "TFCTL_TERRAFORM_PLUGIN_CACHE_DIR",
        "ALPHASWARM_TERRAFORM_PLUGIN_CACHE_DIR",
    ),
    "work_dir": ("TFCTL_WORK_DIR",),
    "heartbeat_timeout": ("TFCTL_HEARTBEAT_TIMEOUT",),
    "artifact_key": ("TFCTL_ARTIFACT_KEY",),
    "sensitive_key": ("TFCTL_SECRET_KEY",),
    "policy_require_engine": ("TFCTL_POLICY_REQUIRE_ENGINE",),
    "mcp_enable_operations": ("TFCTL_MCP_ENABLE_OPERATIONS",),
    "celery_broker_url": ("TFCTL_CELERY_BROKER_URL",),
    "celery_visibility_timeout": ("TFCTL_CELERY_VISIBILITY_TIMEOUT",),
    "hcp_hostname": ("TFCTL_HCP_HOSTNAME",),
    "notify_webhook_url": ("TFCTL_NOTIFY_WEBHOOK_URL",),
    "public_url": ("TFCTL_PUBLIC_URL",),
}

#: Settings whose values are secrets: reported as set or not, never shown.
SECRET_SETTINGS = frozenset({"artifact_key", "sensitive_key", "notify_webhook_url"})

#: Variables read outside `Settings`: `TFCTL_ACTOR` by the application context (per
#: process), `TFCTL_DEBUG` by the CLI before any setting is read (so it works when one is bad).
PROCESS_VARIABLES: dict[str, str] = {"actor": "TFCTL_ACTOR", "debug": "TFCTL_DEBUG"}

#: terraform's own variables that runs inherit when the tfctl setting is not set.
_TERRAFORM_FALLBACKS: dict[str, str] = {
    "terraform_cli_config_file": "TF_CLI_CONFIG_FILE",
    "terraform_plugin_cache_dir": "TF_PLUGIN_CACHE_DIR",
}


def _env(field: str) -> Any:
    return AliasChoices(*ENV_NAMES[field])


def local_state_path(home: Path, workspace: str) -> Path:
    """Where a workspace on the `local` backend keeps its state, under the tfctl home."""
    return home.expanduser() / "workspaces" / workspace / "terraform.tfstate"


def default_home() -> Path:
    """Per-user data directory: `$XDG_DATA_HOME/tfctl`, else `~/.local/share/tfctl`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tfctl"


class Settings(BaseSettings):
    """The resolved settings. Construct with `get_settings()`, not directly."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True, frozen=True)

    home: Path = Field(default_factory=default_home, validation_alias=_env("home"))
    database_url: str | None = Field(default=None, validation_alias=_env("database_url"))
    terraform_bin: str = Field(default="terraform", validation_alias=_env("terraform_bin"))
    terraform_state_backend: Backend = Field(
        default=Backend.LOCAL, validation_alias=_env("terraform_state_backend")
    )
    terraform_cli_config_file: Path | None = Field(
        default=None, validation_alias=_env("terraform_cli_config_file")
    )
    terraform_plugin_cache_dir: Path | None = Field(
        default=None, validation_alias=_env("terraform_plugin_cache_dir")
    )
    work_dir: Path | None = Field(default=None, validation_alias=_env("work_dir"))
    heartbeat_timeout: float = Field(default=30.0, gt=0, validation_alias=_env("heartbeat_timeout"))
    artifact_key: str | None = Field(default=None, validation_alias=_env("artifact_key"))
    # Fernet key(s) encrypting sensitive workspace variables (tfctl.secrets); else the key
    # file in the home. Several, comma-separated: the first encrypts, any decrypts.
    sensitive_key: str | None = Field(default=None, validation_alias=_env("sensitive_key"))
    # Fail closed: with no Rego engine, policy checks are skipped, and this blocks apply.
    policy_require_engine: bool = Field(
        default=False, validation_alias=_env("policy_require_engine")
    )
    # `tfctl mcp` and serve's /mcp: the tools that apply, discard, cancel, destroy or halt
    # are offered only when this is on; the read-only tools and create_plan always are.
    mcp_enable_operations: bool = Field(
        default=False, validation_alias=_env("mcp_enable_operations")
    )
    # Every queued run is also published as the Celery task `tfctl.execute_run` (queue
    # `terraform`) to this broker, e.g. redis://127.0.0.1:6379/0.
    celery_broker_url: str | None = Field(default=None, validation_alias=_env("celery_broker_url"))
    # Seconds before a broker redelivers a task a worker took but did not acknowledge:
    # longer than the longest run (a redelivery is harmless, only wasted).
    celery_visibility_timeout: float = Field(
        default=43200.0, gt=0, validation_alias=_env("celery_visibility_timeout")
    )
    # The `hcp` backend's host when a workspace's settings name none (Terraform Enterprise).
    hcp_hostname: str | None = Field(default=None, validation_alias=_env("hcp_hostname"))
    # Webhooks (comma-separated) that get a JSON POST on new drift, a plan awaiting
    # approval, a failed run and a halt (tfctl.notify); a webhook URL is a secret.
    notify_webhook_url: str | None = Field(
        default=None, validation_alias=_env("notify_webhook_url")
    )
    # Where people reach `tfctl serve` (e.g. https://tfctl.example.com): notifications link
    # to the run's page under it.
    public_url: str | None = Field(default=None, validation_alias=_env("public_url"))

    @property
    def heartbeat_interval(self) -> float:
        """How often live runs and workers say so: well inside the timeout."""
        return min(5.0, self.heartbeat_timeout / 3)

    @property
    def runs_dir(self) -> Path:
        """Where run directories go: `TFCTL_WORK_DIR`, else `runs/` in the home."""
        return (self.work_dir or self.home / "runs").expanduser()

    @property
    def store_url(self) -> str:
        """The job store's URL: `TFCTL_DATABASE_URL`, or the SQLite file in the tfctl home."""
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def sqlite_path(self) -> Path:
        return self.home.expanduser() / "tfctl.db"

    @property
    def uses_embedded_store(self) -> bool:
        return self.database_url is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings once per process; a bad value is an `InvalidSetting` naming the
    environment variable that holds it."""
    try:
        return Settings()
    except ValidationError as exc:
        detail = exc.errors(include_url=False)[0]
        field = str(detail["loc"][0]) if detail["loc"] else ""
        raise errors.InvalidSetting(
            f"{_source_name(field)}={detail.get('input')!r}: {detail['msg']}"
        ) from exc


@dataclass(frozen=True, slots=True)
class SettingReport:
    name: str
    env_var: str
    value: str | None
    source: str


def describe_settings(settings: Settings, *, actor: str | None = None) -> list[SettingReport]:
    """Each setting (and each `PROCESS_VARIABLES` entry) with the value in effect (passwords
    masked, secrets only "(set)") and where it came from. A default shows what it amounts
    to: the embedded store's URL, the runs directory, terraform's own variable when runs
    inherit it. `actor` is who acts when `TFCTL_ACTOR` is not set (the login name)."""
    reports = [_describe(settings, field, names) for field, names in ENV_NAMES.items()]
    debug = os.environ.get("TFCTL_DEBUG", "") not in ("", "0")  # as the CLI decides it
    for field, value, default in (
        ("actor", os.environ.get("TFCTL_ACTOR") or actor, "default (login name)"),
        ("debug", "on" if debug else "off", "default"),
    ):
        name = PROCESS_VARIABLES[field]
        source = f"env {name}" if os.environ.get(name) else default
        reports.append(SettingReport(field, name, value, source))
    return reports


def _describe(settings: Settings, field: str, names: tuple[str, ...]) -> SettingReport:
    found = next((name for name in names if os.environ.get(name)), None)
    value, source = getattr(settings, field), f"env {found}" if found else "default"
    inherited = _TERRAFORM_FALLBACKS.get(field)
    if value is None and inherited and os.environ.get(inherited):
        value, source = os.environ[inherited], f"env {inherited}"
    value = {"database_url": settings.store_url, "work_dir": settings.runs_dir}.get(field, value)
    shown = None if value is None else mask_url_password(str(value))
    if field in SECRET_SETTINGS and value is not None:
        shown = "(set)"
    return SettingReport(field, names[0], shown, source)


def terraform_cli_config(settings: Settings) -> tuple[str, str] | None:
    """The CLI configuration file terraform runs are given, and the variable naming it:
    `TFCTL_TERRAFORM_CLI_CONFIG_FILE` (or its fallback), else `TF_CLI_CONFIG_FILE` that runs
    inherit; None when neither is set (terraform then reads its default, if any)."""
    field = "terraform_cli_config_file"
    if settings.terraform_cli_config_file is not None:
        return _source_name(field), str(settings.terraform_cli_config_file)
    inherited = os.environ.get(_TERRAFORM_FALLBACKS[field])
    return (_TERRAFORM_FALLBACKS[field], inherited) if inherited else None


def mask_url_password(url: str) -> str:
    """`postgresql://u:secret@h/db` → `postgresql://u:***@h/db`."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def _source_name(loc: str) -> str:
    """The variable that supplied a setting; `loc` is a field name or one of its aliases."""
    names = next((n for f, n in ENV_NAMES.items() if loc == f or loc in n), (loc,))
    return next((name for name in names if os.environ.get(name)), names[0])
