"""The one wrapper that renders a workspace's backend block (DESIGN.md "Code generation").

`render_backend` knows every backend tfctl supports and the settings each accepts. Settings are
checked before anything is rendered: a missing required setting, an unknown one, or a value of
the wrong type is an `errors.InvalidInput` that names the backend and the setting. Strings are
rendered through `hcl_string`, so no setting can inject configuration.

Credentials are never rendered, and never stored: the configuration lands in run directories,
logs and the job store, so access keys, secrets and tokens must come from the environment the
backend already reads (`AWS_*`, `ARM_*`, `GOOGLE_*`, `TF_TOKEN_*`). Settings that hold one are
refused by name, with the variable to set instead, and there is no exception: even emulators
take their dummy credentials from the environment (`AWS_ACCESS_KEY_ID=test`,
`GOOGLE_OAUTH_ACCESS_TOKEN=dummy`). `check_backend_config` runs the same checks without
rendering, for `workspace create` to call before it stores anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfctl import errors
from tfctl.codegen.hcl import hcl_identifier, hcl_string, is_identifier


@dataclass(frozen=True, slots=True)
class _Setting:
    """One backend setting: its name, value type (str, bool, int or dict of str), required?"""

    name: str
    type: type = str
    required: bool = False


_S3_FLAGS = (
    "use_path_style",
    "skip_credentials_validation",
    "skip_requesting_account_id",
    "skip_metadata_api_check",
    "skip_region_validation",
)

_SETTINGS: dict[str, tuple[_Setting, ...]] = {
    "local": (),
    "s3": (
        _Setting("bucket", required=True),
        _Setting("key", required=True),
        _Setting("region", required=True),
        _Setting("use_lockfile", bool),
        _Setting("dynamodb_table"),
        _Setting("encrypt", bool),
        _Setting("kms_key_id"),
        _Setting("profile"),
        _Setting("max_retries", int),
        _Setting("endpoints", dict),
        *(_Setting(flag, bool) for flag in _S3_FLAGS),
    ),
    "azurerm": (
        _Setting("storage_account_name", required=True),
        _Setting("container_name", required=True),
        _Setting("key", required=True),
        _Setting("resource_group_name"),
        _Setting("subscription_id"),
        _Setting("tenant_id"),
        _Setting("use_azuread_auth", bool),
    ),
    "gcs": (
        _Setting("bucket", required=True),
        _Setting("prefix", required=True),
        _Setting("storage_custom_endpoint"),
        _Setting("impersonate_service_account"),
    ),
    "hcp": (
        _Setting("organization", required=True),
        _Setting("workspace", required=True),
        _Setting("hostname"),
        _Setting("project"),
        _Setting("workspace_id"),  # recorded by `workspace create`; not rendered
    ),
}

#: Settings that hold a secret, refused for every backend; see `CREDENTIAL_ENVIRONMENT`.
CREDENTIAL_SETTINGS = frozenset(
    {
        "access_key",
        "secret_key",
        "token",
        "session_token",
        "sse_customer_key",
        "sas_token",
        "client_secret",
        "client_certificate",
        "client_certificate_password",
        "oidc_token",
        "oidc_request_token",
        "access_token",
        "credentials",
        "encryption_key",
        "password",
    }
)

#: Where each backend reads a refused credential from instead (named in the refusal).
CREDENTIAL_ENVIRONMENT: dict[tuple[str, str], str] = {
    ("s3", "access_key"): "AWS_ACCESS_KEY_ID",
    ("s3", "secret_key"): "AWS_SECRET_ACCESS_KEY",
    ("s3", "token"): "AWS_SESSION_TOKEN",
    ("s3", "session_token"): "AWS_SESSION_TOKEN",
    ("s3", "sse_customer_key"): "AWS_SSE_CUSTOMER_KEY",
    ("azurerm", "access_key"): "ARM_ACCESS_KEY",
    ("azurerm", "sas_token"): "ARM_SAS_TOKEN",
    ("azurerm", "client_secret"): "ARM_CLIENT_SECRET",
    ("azurerm", "client_certificate"): "ARM_CLIENT_CERTIFICATE",
    ("azurerm", "client_certificate_password"): "ARM_CLIENT_CERTIFICATE_PASSWORD",
    ("azurerm", "oidc_token"): "ARM_OIDC_TOKEN",
    ("azurerm", "oidc_request_token"): "ARM_OIDC_REQUEST_TOKEN",
    ("gcs", "credentials"): "GOOGLE_BACKEND_CREDENTIALS",
    ("gcs", "access_token"): "GOOGLE_OAUTH_ACCESS_TOKEN",
    ("gcs", "encryption_key"): "GOOGLE_ENCRYPTION_KEY",
    ("hcp", "token"): "TF_TOKEN_<hostname, dots as underscores> (e.g. TF_TOKEN_app_terraform_io)",
}


def render_backend(backend: str, config: Mapping[str, Any], *, local_state_path: Path) -> str:
    """Render the state block for `backend` with `config`; the caller nests it in `terraform {}`.

    - `local`: `backend "local" { path = local_state_path }`; takes no settings.
    - `s3`: bucket, key, region required; locking by `use_lockfile = true` unless the config
      sets `use_lockfile` or `dynamodb_table`; endpoints (a mapping, or `endpoints.NAME` keys),
      `use_path_style` and the `skip_*` flags pass through for emulators.
    - `azurerm`: storage_account_name, container_name, key required; resource_group_name,
      subscription_id, tenant_id, use_azuread_auth optional.
    - `gcs`: bucket and prefix required; storage_custom_endpoint (emulators) and
      impersonate_service_account optional.
    - `hcp`: a `cloud { organization, hostname?, workspaces { name, project? } }` block from
      organization, workspace, and optional hostname and project; `workspace_id`, the HCP
      workspace's id that `workspace create` records, is not rendered.

    Output is deterministic (settings sorted by name) and `terraform fmt`-clean. Raises
    `errors.InvalidInput` as `check_backend_config` does.
    """
    settings = check_backend_config(backend, config)
    if backend == "hcp":
        return _render_cloud(settings)
    if backend == "local":
        settings = {"path": str(local_state_path)}
    if backend == "s3" and not {"use_lockfile", "dynamodb_table"} & settings.keys():
        settings["use_lockfile"] = True
    lines = [f"backend {hcl_string(backend)} {{", *_attribute_lines(settings), "}"]
    return "\n".join(lines) + "\n"


def check_backend_config(backend: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` checked for `backend` and normalised: dotted keys nested (`endpoints.s3`),
    command-line strings made booleans and numbers, `None` values dropped.

    Call it before a workspace is stored, so that what is stored renders. Raises
    `errors.InvalidInput` naming the backend and the setting for an unknown backend, a
    missing required setting, an unknown setting, a credential (with the environment variable
    to set instead), or a value of the wrong type.
    """
    return _checked_settings(backend, _nest_dotted(config))


def _nest_dotted(config: Mapping[str, Any]) -> dict[str, Any]:
    """`{"endpoints.s3": URL}` → `{"endpoints": {"s3": URL}}`, so callers can pass a map as flat
    keys. (`--backend-config` passes a map as JSON instead: `endpoints='{"s3": "URL"}'`.)"""
    nested = {key: value for key, value in config.items() if "." not in key}
    for key, value in config.items():
        parent, dot, child = key.partition(".")
        if dot:
            existing = nested.get(parent) or {}
            nested[parent] = {**existing, child: value} if isinstance(existing, Mapping) else value
    return nested


def _checked_settings(backend: str, config: Mapping[str, Any]) -> dict[str, Any]:
    if backend not in _SETTINGS:
        known = ", ".join(_SETTINGS)
        raise errors.InvalidInput(f"unknown backend {backend!r}; expected one of {known}")
    known_settings = {setting.name: setting for setting in _SETTINGS[backend]}
    for key in config:
        _check_known(backend, key, known_settings)
    for setting in known_settings.values():
        if setting.required and config.get(setting.name) in (None, ""):
            raise errors.InvalidInput(
                f"backend {backend}: missing setting {setting.name!r}; "
                f"pass --backend-config {setting.name}=VALUE"
            )
    return {
        key: _coerce(backend, known_settings[key], value)
        for key, value in config.items()
        if value is not None
    }


def _check_known(backend: str, key: str, known: Mapping[str, _Setting]) -> None:
    if key in known:
        return
    if key in CREDENTIAL_SETTINGS:
        where = CREDENTIAL_ENVIRONMENT.get((backend, key), "the environment the backend reads")
        raise errors.InvalidInput(
            f"backend {backend}: {key!r} is a credential; tfctl never stores credentials or "
            f"writes them into the configuration. Set it in the environment instead: {where}"
        )
    accepted = ", ".join(sorted(known)) or "none"
    raise errors.InvalidInput(
        f"backend {backend}: unknown setting {key!r}; accepted settings: {accepted}"
    )


def _coerce(backend: str, setting: _Setting, value: Any) -> Any:
    """Check `value` against the setting's type; "true"/"false" and digit strings are accepted
    for booleans and numbers because command-line values arrive as strings."""
    if setting.type is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    elif setting.type is int and isinstance(value, str) and value.isdigit():
        value = int(value)
    valid = isinstance(value, setting.type) and not (
        setting.type is int and isinstance(value, bool)
    )
    if setting.type is dict and valid:
        valid = all(is_identifier(k) and isinstance(v, str) for k, v in value.items())
    if not valid:
        expected = {str: "a string", bool: "true or false", int: "a whole number"}
        wanted = expected.get(setting.type, "a mapping of identifiers to strings")
        raise errors.InvalidInput(f"backend {backend}: setting {setting.name!r} must be {wanted}")
    return value


def _render_cloud(settings: Mapping[str, Any]) -> str:
    top = {"organization": settings["organization"]}
    if "hostname" in settings:
        top["hostname"] = settings["hostname"]
    workspaces = {"name": settings["workspace"]}
    if "project" in settings:
        workspaces["project"] = settings["project"]
    lines = ["cloud {", *_attribute_lines(top), ""]
    lines += ["  workspaces {", *_attribute_lines(workspaces, indent=4), "  }", "}"]
    return "\n".join(lines) + "\n"


def _attribute_lines(settings: Mapping[str, Any], *, indent: int = 2) -> list[str]:
    """`name = value` lines sorted by name, `=` aligned as `terraform fmt` aligns them."""
    width = max((len(name) for name in settings), default=0)
    pad = " " * indent
    return [
        f"{pad}{hcl_identifier(name).ljust(width)} = {_hcl_value(settings[name])}"
        for name in sorted(settings)
    ]


def _hcl_value(value: Any) -> str:
    """A setting's value as HCL: strings quoted by `hcl_string`, booleans and numbers native,
    a mapping as a one-line object (one line, so `terraform fmt` has nothing to align)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return hcl_string(value)
    if isinstance(value, Mapping):
        items = ", ".join(
            f"{hcl_identifier(k)} = {_hcl_value(v)}" for k, v in sorted(value.items())
        )
        return "{ " + items + " }" if items else "{}"
    raise errors.InvalidInput(f"cannot render {type(value).__name__} as a backend setting")
