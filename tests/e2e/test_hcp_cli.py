"""The README's "HCP Terraform" steps as a user types them — create, plan, apply, inspect,
doctor — against a fake HCP Terraform on 127.0.0.1 (tests/fixtures/hcp_server.py), with
terraform keeping the state there through the `cloud` block; and the one-line refusals."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from clihelp import ok, refused, tfctl
from filestack import FILES_MODULE
from fixtures.hcp_server import TOKEN, FakeHcpServer, serving

pytestmark = pytest.mark.terraform


@pytest.fixture
def hcp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHcpServer]:
    with serving(FakeHcpServer(), tmp_path) as fake:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "hcp-cert.pem"))
        config = fake.cli_config(tmp_path / "hcp.tfrc", token=TOKEN)
        monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config))
        monkeypatch.setenv("TF_VAR_token", "e2e-secret-token-value")
        yield fake


@pytest.fixture
def out(hcp: FakeHcpServer, tmp_path: Path) -> Path:
    spec = {"name": "files", "kind": "generic", "module_source": str(FILES_MODULE)}
    (tmp_path / "files.json").write_text(json.dumps(spec))
    ok("init")
    ok("stack", "push", str(tmp_path / "files.json"))
    path = tmp_path / "out"
    path.mkdir()
    return path


def create_web(hcp: FakeHcpServer, out: Path) -> str:
    return ok("workspace", "create", "web", "--stack", "files", "--backend", "hcp",
              "--backend-config", "organization=acme", "--backend-config", "workspace=web-prod",
              "--backend-config", f"hostname={hcp.hostname}", "--var", f"dir={out}")  # fmt: skip


def test_create_plan_apply_and_inspect_as_the_readme_says(hcp: FakeHcpServer, out: Path) -> None:
    assert create_web(hcp, out) == "workspace web created: stack files, backend hcp\n"
    remote = hcp.workspace("acme", "web-prod")
    assert remote is not None
    assert remote.execution_mode == "local"

    ok("plan", "web")
    ok("apply", "web", "--auto-approve")

    assert (out / "a").read_text() == "hello\n"
    shown = ok("state", "show", "web")
    assert re.search(
        rf"^stored in: +HCP Terraform {hcp.hostname}, organization acme, workspace web-prod "
        rf"\({remote.id}\), state version {remote.current_state_version}$",
        shown,
        re.M,
    ), shown
    state = json.loads(ok("state", "show", "web", "--json"))
    assert state["hcp_state_version_id"] == remote.current_state_version
    assert state["stored_in"]["workspace_id"] == remote.id

    report = json.loads(ok("doctor", "--json"))
    assert report["hcp"] == {
        "ok": True,
        "organizations": [{"hostname": hcp.hostname, "organization": "acme",
                           "workspaces": ["web"], "ok": True}],
    }  # fmt: skip
    text = ok("doctor")
    assert f"hcp: ok  acme on {hcp.hostname} (web): ok" in text


def test_no_token_is_refused_at_create_in_one_line(
    hcp: FakeHcpServer, out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_token = hcp.cli_config(tmp_path / "no-token.tfrc")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(no_token))

    line = refused("workspace", "create", "web", "--stack", "files", "--backend", "hcp",
                   "--backend-config", "organization=acme", "--backend-config", "workspace=dev",
                   "--backend-config", f"hostname={hcp.hostname}")  # fmt: skip

    assert line == (
        "tfctl: error: workspace 'web' (HCP Terraform organization 'acme', workspace 'dev'): "
        f'no HCP Terraform API token for {hcp.hostname}: add a credentials "{hcp.hostname}" '
        f'{{ token = "..." }} block to {no_token} (terraform reads no credentials file while '
        "TF_CLI_CONFIG_FILE is set)"
    )
    assert json.loads(ok("workspace", "list", "--json")) == []


def test_doctor_quotes_hcps_error_for_a_token_it_refuses(
    hcp: FakeHcpServer, out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_web(hcp, out)
    revoked = hcp.cli_config(tmp_path / "revoked.tfrc", token="revoked.atlasv1.token")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(revoked))

    result = tfctl("doctor", "--json")

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["hcp"]["ok"] is False
    assert report["hcp"]["error"] == (
        f"workspace 'web': reaching HCP Terraform workspace 'web-prod' of organization 'acme' "
        f"on {hcp.hostname} failed (401 unauthorized); check the API token from {revoked}: it "
        f"must be valid for {hcp.hostname} and may use organization 'acme'"
    )
    plan = tfctl("plan", "web")  # refused before terraform starts, in one line
    assert plan.returncode == 2
    said = report["hcp"]["error"].replace("reaching", "checking")
    assert plan.stderr.strip().splitlines()[-1] == f"tfctl: error: {said}"
    assert "Traceback" not in plan.stderr
