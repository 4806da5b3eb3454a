"""Sensitive workspace variables, encrypted at rest.

`tfctl workspace create|update --var-sensitive NAME=VALUE` stores VALUE only encrypted, in
the workspace's `sensitive_variables` column (name → token). Nothing shows a value again:
views list the names only. A run decrypts them in its own process and hands them to
terraform as `TF_VAR_<NAME>` in its environment — never on a command line or in
`terraform.tfvars.json` — and scrubs them from every line it logs.

The key is a Fernet key (AES-128-CBC + HMAC-SHA256): `TFCTL_SECRET_KEY`, else the key file
`secret.key` in the tfctl home (mode 0600, created by `tfctl init` or on first use). Either
may hold several keys, comma- or line-separated: the first encrypts, any decrypts — that is
how `tfctl secrets rotate-key` moves every value to a new key without a moment in which some
value cannot be read. A token binds its value to the workspace id and the variable name, so
a token copied to another workspace or variable does not decrypt there. `tfctl store copy`
copies the tokens as they are: the target needs the same key.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfctl import errors

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

    from tfctl.persistence.db import Store
    from tfctl.persistence.models import Workspace
    from tfctl.settings import Settings

KEY_FILE = "secret.key"
ENV_NAME = "TFCTL_SECRET_KEY"
_SEPARATORS = re.compile(r"[\s,]+")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")  # as `--var`'s


def key_file(settings: Settings) -> Path:
    return settings.home.expanduser() / KEY_FILE


def generate_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@dataclass(frozen=True, slots=True)
class Keyring:
    """The keys sensitive variables are encrypted with: `keys[0]` encrypts, any decrypts.
    `source` says where they came from (`TFCTL_SECRET_KEY`, or the key file's path)."""

    keys: tuple[str, ...]
    source: str

    def seal(self, workspace_id: str, name: str, value: str) -> str:
        """An opaque token for `value` of variable `name` of workspace `workspace_id`."""
        plain = json.dumps({"w": workspace_id, "n": name, "v": value}, separators=(",", ":"))
        return self._fernet().encrypt(plain.encode()).decode()

    def open(self, workspace: str, workspace_id: str, name: str, token: str) -> str:
        """The value sealed in `token`; `InvalidSetting` naming the variable and the key
        when no key opens it (or it was sealed for another workspace or variable)."""
        from cryptography.fernet import InvalidToken

        try:
            doc = json.loads(self._fernet().decrypt(token.encode()))
        except (InvalidToken, ValueError) as exc:
            raise self._unreadable(workspace, name) from exc
        if not isinstance(doc, dict) or (doc.get("w"), doc.get("n")) != (workspace_id, name):
            raise self._unreadable(workspace, name)
        return str(doc["v"])

    def reseal(self, token: str) -> str:
        """`token` encrypted again with the first key (its content unchanged)."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet().rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise errors.InvalidSetting(
                f"a sensitive variable cannot be decrypted with the keys of {self.source}; "
                "add the key it was encrypted with (after the new one) and rotate again"
            ) from exc

    def _fernet(self) -> MultiFernet:
        from cryptography.fernet import Fernet, MultiFernet

        try:
            return MultiFernet([Fernet(key) for key in self.keys])
        except ValueError as exc:
            raise errors.InvalidSetting(
                f"{self.source}: not a valid key (32 url-safe base64-encoded bytes, as "
                "`tfctl secrets keygen` prints)"
            ) from exc

    def _unreadable(self, workspace: str, name: str) -> errors.InvalidSetting:
        return errors.InvalidSetting(
            f"workspace '{workspace}': sensitive variable {name} cannot be decrypted with the "
            f"key of {self.source}; use the key it was encrypted with (TFCTL_SECRET_KEY, or "
            "the key file in the tfctl home), or set it again with --var-sensitive"
        )


def load_keyring(settings: Settings, *, create: bool = False) -> Keyring:
    """The keys: `TFCTL_SECRET_KEY`, else the key file in the tfctl home — created (mode
    0600) when `create` and there is none; `InvalidSetting` saying what to do otherwise."""
    if settings.sensitive_key:
        return Keyring(_split(settings.sensitive_key), ENV_NAME)
    path = key_file(settings)
    if not path.exists() and create:
        write_key_file(path, [generate_key()])
    try:
        keys = _split(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise errors.InvalidSetting(
            f"no key for sensitive variables: set {ENV_NAME} (`tfctl secrets keygen` makes "
            f"one) or run `tfctl init`, which creates {path}"
        ) from None
    except OSError as exc:
        raise errors.InvalidSetting(f"cannot read the key file {path}: {exc}") from exc
    if not keys:
        raise errors.InvalidSetting(f"the key file {path} holds no key")
    return Keyring(keys, str(path))


def ensure_key(settings: Settings) -> dict[str, Any]:
    """For `tfctl init`: the key file exists (unless `TFCTL_SECRET_KEY` gives the key)."""
    if settings.sensitive_key:
        return {"source": ENV_NAME, "created": False}
    path = key_file(settings)
    created = not path.exists()
    if created:
        write_key_file(path, [generate_key()])
    return {"source": str(path), "created": created}


def write_key_file(path: Path, keys: Iterable[str]) -> None:
    """Write `keys` (first: the one that encrypts) to `path` atomically, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(prefix=".secret-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("".join(f"{key}\n" for key in keys))
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _split(text: str) -> tuple[str, ...]:
    return tuple(key for key in _SEPARATORS.split(text.strip()) if key)


# --- values --------------------------------------------------------------------------------


def parse_sensitive(
    pairs: Iterable[str], *, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`--var-sensitive` values: `NAME=VALUE`, or `NAME` alone to take the value from the
    environment variable `TF_VAR_NAME` (so it appears in no command line). Values are kept
    as given: strings, passed to terraform as they are."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not _NAME.match(name):
            raise errors.InvalidInput(
                f"--var-sensitive {name!r}: expected NAME=VALUE (or NAME, with the value in "
                "TF_VAR_NAME) with NAME of letters, digits, '_' or '-'"
            )
        if not sep:
            if f"TF_VAR_{name}" not in env:
                raise errors.InvalidInput(
                    f"--var-sensitive {name}: no value; give NAME=VALUE, or set TF_VAR_{name}"
                )
            value = env[f"TF_VAR_{name}"]
        values[name] = value
    return values


def seal_all(keyring: Keyring, workspace_id: str, values: Mapping[str, str]) -> dict[str, str]:
    return {name: keyring.seal(workspace_id, name, value) for name, value in values.items()}


def open_all(keyring: Keyring, workspace: Workspace) -> dict[str, str]:
    """The workspace's sensitive values in clear text (for a run's environment only)."""
    return {
        name: keyring.open(workspace.name, workspace.id, name, token)
        for name, token in sorted(workspace.sensitive_variables.items())
    }


def terraform_environment(values: Mapping[str, str]) -> dict[str, str]:
    return {f"TF_VAR_{name}": value for name, value in values.items()}


# --- rotation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rotation:
    """What `rotate_key` did; `to_dict()` is the `tfctl secrets rotate-key --json` shape."""

    values: int
    workspaces: int
    key: str  # where the key that now encrypts everything is
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"values": self.values, "workspaces": self.workspaces, "key": self.key,
                "note": self.note}  # fmt: skip


def rotate_key(db: Store, settings: Settings) -> Rotation:
    """Encrypt every sensitive variable again, in one transaction, with a new key.

    With the key file: a new key is put first in it (the old ones stay, so every value
    stays readable whatever happens), every value is re-encrypted, and then the old keys
    leave the file. With `TFCTL_SECRET_KEY`: its first key is the new one (put it before
    the old, `NEW,OLD`); every value is re-encrypted with it, and the old ones can then be
    dropped from the variable — refused when it holds a single key."""
    if settings.sensitive_key:
        keyring = load_keyring(settings)
        if len(keyring.keys) < 2:
            raise errors.InvalidInput(
                f"{ENV_NAME} holds one key: put the new key first and the old one after it "
                f"({ENV_NAME}=NEW,OLD; `tfctl secrets keygen` makes one), then rotate again"
            )
        values, workspaces = _reseal_everything(db, keyring)
        note = f"remove the old keys from {ENV_NAME} everywhere it is set; keep only the first"
        return Rotation(values, workspaces, ENV_NAME, note)
    path = key_file(settings)
    old = load_keyring(settings, create=True)
    new = Keyring((generate_key(), *old.keys), str(path))
    write_key_file(path, new.keys)
    values, workspaces = _reseal_everything(db, new)
    write_key_file(path, new.keys[:1])
    note = f"copy {path} to every machine that runs this store's runs"
    return Rotation(values, workspaces, str(path), note)


def _reseal_everything(db: Store, keyring: Keyring) -> tuple[int, int]:
    from sqlmodel import col, select

    from tfctl.persistence.models import Workspace

    values = workspaces = 0
    with db.write() as session:
        query = select(Workspace).order_by(col(Workspace.name)).with_for_update()
        for workspace in session.exec(query).all():
            if not workspace.sensitive_variables:
                continue
            workspace.sensitive_variables = {
                name: keyring.reseal(token) for name, token in workspace.sensitive_variables.items()
            }
            session.add(workspace)
            values += len(workspace.sensitive_variables)
            workspaces += 1
    return values, workspaces
