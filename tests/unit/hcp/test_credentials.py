"""Where the token comes from, and that lacking one fails only a request, clearly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tfctl.hcp.client import HcpAuthError, HcpClient
from tfctl.hcp.credentials import find_token, host_env_name
from unit.hcp.fakehcp import FakeHcp, reply

WS_PATH = "/workspaces/ws-SihZTyXKfNXUWuUa"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory of its own, and no token in the environment."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TFE_TOKEN", raising=False)
    return tmp_path


def write_credentials(home: Path, credentials: object) -> Path:
    path = home / ".terraform.d" / "credentials.tfrc.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"credentials": credentials}))
    return path


def sent_token(fake: FakeHcp, base_url: str = "https://app.terraform.io") -> str:
    fake.on("GET", f"{base_url}/api/v2{WS_PATH}", reply(200, "workspace"))
    with HcpClient(base_url=base_url, transport=httpx.MockTransport(fake.handle)) as client:
        client.get_workspace_by_id("ws-SihZTyXKfNXUWuUa")
    return fake.requests[-1].headers["Authorization"].removeprefix("Bearer ")


def test_the_credentials_file_written_by_terraform_login_is_used(home: Path, fake: FakeHcp) -> None:
    write_credentials(home, {"app.terraform.io": {"token": "from-file.atlasv1.x"}})

    assert sent_token(fake) == "from-file.atlasv1.x"


def test_the_credentials_file_is_keyed_by_hostname(home: Path, fake: FakeHcp) -> None:
    write_credentials(
        home,
        {
            "app.terraform.io": {"token": "cloud.atlasv1.x"},
            "TFE.Example.com": {"token": "enterprise.atlasv1.x"},
        },
    )

    assert sent_token(fake, "https://tfe.example.com") == "enterprise.atlasv1.x"


def test_tfe_token_wins_over_the_credentials_file(
    home: Path, fake: FakeHcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_credentials(home, {"app.terraform.io": {"token": "from-file.atlasv1.x"}})
    monkeypatch.setenv("TFE_TOKEN", "  from-env.atlasv1.x\n")

    assert sent_token(fake) == "from-env.atlasv1.x"


def test_terraforms_per_host_variable_is_used(
    home: Path, fake: FakeHcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert host_env_name("my-tfe.example.com") == "TF_TOKEN_my__tfe_example_com"
    monkeypatch.setenv("TF_TOKEN_my__tfe_example_com", "per-host.atlasv1.x")

    assert sent_token(fake, "https://my-tfe.example.com") == "per-host.atlasv1.x"


def test_an_explicit_token_wins_over_everything(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_client: Callable[..., HcpClient],
    fake: FakeHcp,
) -> None:
    monkeypatch.setenv("TFE_TOKEN", "from-env.atlasv1.x")
    fake.on("GET", WS_PATH, reply(200, "workspace"))

    make_client(token="explicit.atlasv1.x").get_workspace_by_id("ws-SihZTyXKfNXUWuUa")

    assert fake.requests[0].headers["Authorization"] == "Bearer explicit.atlasv1.x"


def test_without_a_token_the_client_is_built_and_the_first_request_fails_clearly(
    home: Path, fake: FakeHcp
) -> None:
    client = HcpClient(transport=httpx.MockTransport(fake.handle))  # no error here
    with client, pytest.raises(HcpAuthError) as caught:
        client.get_workspace("acme", "web-prod")

    message = str(caught.value)
    assert "TFE_TOKEN" in message
    assert str(home / ".terraform.d" / "credentials.tfrc.json") in message
    assert "terraform login app.terraform.io" in message
    assert caught.value.exit_code == 2
    assert fake.requests == []


def test_a_credentials_file_for_other_hosts_only_is_no_token(home: Path) -> None:
    write_credentials(home, {"tfe.example.com": {"token": "enterprise.atlasv1.x"}})

    assert find_token("app.terraform.io") is None


def test_a_broken_credentials_file_names_the_file_not_its_content(home: Path) -> None:
    path = home / ".terraform.d" / "credentials.tfrc.json"
    path.parent.mkdir()
    path.write_text('{"credentials": {"app.terraform.io": {"token": "leaky.atlasv1.x"}')

    with pytest.raises(HcpAuthError) as caught:
        find_token("app.terraform.io")

    assert str(path) in str(caught.value)
    assert "leaky" not in str(caught.value)
    assert caught.value.__cause__ is None  # the decode error holds the whole file
    assert caught.value.__suppress_context__


def test_a_token_with_a_line_break_inside_is_refused_without_showing_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeHcp
) -> None:
    monkeypatch.setenv("TFE_TOKEN", "first-half\nsecond-half")

    client = HcpClient(transport=httpx.MockTransport(fake.handle))
    with client, pytest.raises(HcpAuthError, match="from TFE_TOKEN has characters") as caught:
        client.get_run("run-1")

    assert "half" not in str(caught.value)
    assert fake.requests == []
