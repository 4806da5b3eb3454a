"""`tfctl.secrets`: sealing sensitive workspace variables, their keys and key file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfctl import errors
from tfctl.secrets import Keyring, generate_key, load_keyring, parse_sensitive
from tfctl.settings import get_settings

SECRET = "hunter2-secret-value"


def test_a_sealed_value_opens_only_for_its_workspace_and_name() -> None:
    keyring = Keyring((generate_key(),), "test")
    token = keyring.seal("ws-1", "token", SECRET)
    assert SECRET not in token
    assert keyring.open("dev", "ws-1", "token", token) == SECRET
    for workspace_id, name in (("ws-2", "token"), ("ws-1", "password")):
        with pytest.raises(errors.InvalidSetting, match="sensitive variable .* cannot be"):
            keyring.open("dev", workspace_id, name, token)


def test_any_key_of_the_ring_opens_and_the_first_seals() -> None:
    old, new = generate_key(), generate_key()
    token = Keyring((old,), "old").seal("ws-1", "token", SECRET)
    both = Keyring((new, old), "both")
    assert both.open("dev", "ws-1", "token", token) == SECRET
    moved = both.reseal(token)
    assert Keyring((new,), "new").open("dev", "ws-1", "token", moved) == SECRET
    with pytest.raises(errors.InvalidSetting, match="api_token cannot be decrypted with the key"):
        Keyring((old,), "old").open("dev", "ws-1", "api_token", moved)


def test_a_bad_key_is_one_clear_line_without_the_key() -> None:
    with pytest.raises(errors.InvalidSetting) as caught:
        Keyring(("not-a-key",), "TFCTL_SECRET_KEY").seal("ws-1", "token", SECRET)
    assert "TFCTL_SECRET_KEY: not a valid key" in str(caught.value)
    assert "not-a-key" not in str(caught.value)


def test_the_key_file_is_created_once_private_and_the_environment_wins(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings()
    with pytest.raises(errors.InvalidSetting, match="run `tfctl init`"):
        load_keyring(settings)
    created = load_keyring(settings, create=True)
    path = isolated_env / "secret.key"
    assert created.source == str(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_keyring(settings, create=True) == created

    key = generate_key()
    monkeypatch.setenv("TFCTL_SECRET_KEY", f"{key}, {created.keys[0]}")
    get_settings.cache_clear()
    assert load_keyring(get_settings()) == Keyring((key, created.keys[0]), "TFCTL_SECRET_KEY")


def test_var_sensitive_takes_name_value_or_the_tf_var_environment() -> None:
    env = {"TF_VAR_password": "from-env"}
    assert parse_sensitive(["token=a=b", "password"], environ=env) == {
        "token": "a=b", "password": "from-env",
    }  # fmt: skip
    with pytest.raises(errors.InvalidInput, match="or set TF_VAR_other"):
        parse_sensitive(["other"], environ=env)
    with pytest.raises(errors.InvalidInput, match="expected NAME=VALUE"):
        parse_sensitive(["bad name=x"], environ=env)
