"""The `hcp` backend against a fake HCP Terraform (tests/fixtures/hcp_server.py) served over
HTTPS on 127.0.0.1, with terraform itself talking to it through the `cloud` block.

Each test gets its own server and data. terraform trusts the server's self-signed
certificate through `SSL_CERT_FILE` (httpx, for tfctl, too), finds its API through a `host`
block in the CLI configuration file (`TF_CLI_CONFIG_FILE`, as tfctl's runs inherit it) and
its token in a `credentials` block of the same file, which is where tfctl looks too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from filestack import FILES_MODULE
from fixtures.hcp_server import TOKEN, FakeHcpServer, serving
from tfctl.persistence.db import Store


@pytest.fixture
def hcp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHcpServer]:
    """A fake HCP Terraform with organization `acme`, trusted, and a token terraform and
    tfctl both find."""
    with serving(FakeHcpServer(), tmp_path) as fake:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "hcp-cert.pem"))
        config = fake.cli_config(tmp_path / "hcp.tfrc", token=TOKEN)
        monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config))
        monkeypatch.setattr("tfctl.hcp.workspaces._pause", lambda _seconds: None)
        yield fake


@pytest.fixture
def stack(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The `files` stack pushed (its sensitive `token` from TF_VAR_token)."""
    from tfctl.stacks import push_spec_file

    monkeypatch.setenv("TF_VAR_token", "hcp-test-secret-value")
    spec = tmp_path / "files.yaml"
    spec.write_text(yaml.safe_dump({"name": "files", "kind": "generic",
                                    "module_source": str(FILES_MODULE)}))  # fmt: skip
    push_spec_file(store, spec, author="test")
    return "files"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path
