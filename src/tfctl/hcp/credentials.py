"""Finding the HCP Terraform API token as terraform does, and keeping it out of sight.

The token for a host comes from, in order:

1. `TFE_TOKEN` (the variable go-tfe and the `tfe` provider read), for whatever host;
2. `TF_TOKEN_<host>`, terraform's per-host variable: dots become `_`, hyphens `__`
   (`TF_TOKEN_app_terraform_io`);
3. terraform's credentials file, `~/.terraform.d/credentials.tfrc.json`, which
   `terraform login` writes: `{"credentials": {"app.terraform.io": {"token": "..."}}}`.
   terraform finds it through `$HOME` and no variable moves it (there is no
   `TF_CLI_CONFIG_DIR`), so neither does tfctl.

A `Token` keeps its value out of its repr, and says where it came from so that an error can
name the source without showing the secret.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from tfctl import errors
from tfctl.hcp.errors import HcpAuthError

DEFAULT_HOSTNAME: Final = "app.terraform.io"
TOKEN_ENV: Final = "TFE_TOKEN"  # noqa: S105 (the variable's name, not a secret)

# Tokens are opaque but printable: anything else would end up in an HTTP header, where the
# HTTP library's complaint about an illegal header value would quote the token.
_TOKEN_CHARS: Final = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class Token:
    """An API token and where it was found (an environment variable or a file path)."""

    value: str = field(repr=False)
    source: str


def credentials_file() -> Path:
    """terraform's credentials file: `$HOME/.terraform.d/credentials.tfrc.json`."""
    return Path.home() / ".terraform.d" / "credentials.tfrc.json"


def normalize_hostname(hostname: str) -> str:
    """A hostname as terraform compares them: lower case, no trailing dot, no `:443`."""
    host = hostname.strip().lower().rstrip(".")
    return host.removesuffix(":443")


def hostname_of(base_url: str) -> str:
    """The hostname (with a non-default port) that keys the credentials for `base_url`."""
    return normalize_hostname(urlsplit(base_url).netloc)


def host_env_name(hostname: str) -> str:
    """terraform's per-host variable: `my-tfe.example.com` has `TF_TOKEN_my__tfe_example_com`."""
    return "TF_TOKEN_" + normalize_hostname(hostname).replace("-", "__").replace(".", "_")


def find_token(hostname: str, environ: Mapping[str, str] | None = None) -> Token | None:
    """The token for `hostname` from the environment or the credentials file, or None.

    Raises `HcpAuthError` when the credentials file exists but cannot be read or parsed, or when
    the token found is not a plausible token; the message names the source, never the value.
    """
    env = os.environ if environ is None else environ
    for name in (TOKEN_ENV, host_env_name(hostname)):
        if env.get(name, "").strip():
            return checked_token(Token(env[name], name))
    return _token_from_file(credentials_file(), hostname)


def terraform_token(
    hostname: str, *, cli_config_file: Path | None, environ: Mapping[str, str] | None = None
) -> Token | None:
    """The token terraform itself uses for `hostname`, or None; TFE_TOKEN is not one of them.

    terraform (1.11, checked) looks, in order: `TF_TOKEN_<host>` (not for a host with a port,
    whose name no variable can spell); a `credentials "<host>" { token = "..." }` block of its
    CLI configuration file; and the credentials file that `terraform login` writes, which it
    reads only when no `TF_CLI_CONFIG_FILE` moves the configuration (`cli_config_file` is that
    file, or None). Credentials helpers are not consulted.
    """
    env = os.environ if environ is None else environ
    host = normalize_hostname(hostname)
    name = host_env_name(host)
    if ":" not in host and env.get(name, "").strip():
        return checked_token(Token(env[name], name))
    config = cli_config_file or Path.home() / ".terraformrc"
    found = _token_from_cli_config(config, host)
    if found is None and cli_config_file is None:
        found = _token_from_file(credentials_file(), host)
    return found


def missing_terraform_token_message(hostname: str, *, cli_config_file: Path | None) -> str:
    """What to set so that tfctl and terraform both find a token for `hostname`."""
    host = normalize_hostname(hostname)
    ways = [] if ":" in host else [f"set {host_env_name(host)}"]
    if cli_config_file is None:
        ways.append(f"run `terraform login {host}` (it saves the token in {credentials_file()})")
    else:
        ways.append(
            f'add a credentials "{host}" {{ token = "..." }} block to {cli_config_file} '
            "(terraform reads no credentials file while TF_CLI_CONFIG_FILE is set)"
        )
    unread = f"; terraform does not read {TOKEN_ENV}" if os.environ.get(TOKEN_ENV) else ""
    return f"no HCP Terraform API token for {host}: {', or '.join(ways)}{unread}"


_CREDENTIALS_BLOCK: Final = re.compile(
    r'credentials\s+"(?P<host>[^"]+)"\s*\{[^{}]*?\btoken\s*=\s*"(?P<token>[^"]*)"', re.S
)


def _token_from_cli_config(path: Path, hostname: str) -> Token | None:
    """The token of a `credentials "<host>"` block in a CLI configuration file (HCL, or JSON
    for a `.json` file); None when the file or the block is missing."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # terraform warns about an unreadable file itself, in every run's log
    if path.suffix == ".json":
        return _token_from_file(path, hostname)
    for block in _CREDENTIALS_BLOCK.finditer(text):
        if normalize_hostname(block["host"]) == hostname and block["token"].strip():
            return checked_token(Token(block["token"], str(path)))
    return None


def checked_token(token: Token) -> Token:
    """`token` with surrounding whitespace removed; `HcpAuthError` if it cannot be a token."""
    value = token.value.strip()
    if not _TOKEN_CHARS.fullmatch(value):
        raise HcpAuthError(
            f"the HCP Terraform token from {token.source} has characters an API token cannot "
            "have (spaces, line breaks or non-ASCII); copy it again"
        )
    return Token(value, token.source)


def missing_token_message(hostname: str) -> str:
    return (
        f"no HCP Terraform API token for {hostname}: set {TOKEN_ENV} (or "
        f"{host_env_name(hostname)}), or run `terraform login {hostname}`, which saves it in "
        f"{credentials_file()}"
    )


def _token_from_file(path: Path, hostname: str) -> Token | None:
    document = _read_json(path)
    if document is None:
        return None
    entries = document.get("credentials") if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        return None
    wanted = normalize_hostname(hostname)
    entry = next((v for k, v in entries.items() if normalize_hostname(k) == wanted), None)
    value = entry.get("token") if isinstance(entry, dict) else None
    if not isinstance(value, str) or not value.strip():
        return None
    return checked_token(Token(value, str(path)))


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise HcpAuthError(f"cannot read the terraform credentials file {path}: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # `from None`: the decode error keeps the whole document, token included, in `.doc`.
        raise HcpAuthError(
            f"the terraform credentials file {path} is not valid JSON (line {exc.lineno}, "
            f"column {exc.colno}); fix it or run `terraform login` again"
        ) from None


def normalize_base_url(base_url: str) -> str:
    """`https://host[:port]` from a URL or a bare hostname (`tfe.example.com`); `InvalidInput`
    for anything else. A trailing `/` or `/api/v2` is dropped: the client adds the API path."""
    text = base_url.strip().rstrip("/")
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    path = parts.path.removesuffix("/api/v2").rstrip("/")
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.username:
        raise errors.InvalidInput(
            f"{base_url!r} is not an HCP Terraform address; give a hostname such as "
            f"{DEFAULT_HOSTNAME} or a URL such as https://tfe.example.com"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}{path}"
