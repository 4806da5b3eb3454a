"""The token never shows: not in reprs, error messages or log lines; nor the pre-signed URLs."""

from __future__ import annotations

import logging
import subprocess
import sys

import httpx
import pytest

from tfctl.hcp.client import HcpClient, HcpUnavailable
from tfctl.hcp.credentials import Token
from unit.hcp.fakehcp import TOKEN, FakeHcp, fail, fixture, reply


def test_reprs_do_not_show_the_token(client: HcpClient) -> None:
    assert repr(client) == "HcpClient(base_url='https://app.terraform.io')"
    assert TOKEN not in repr(vars(client))
    assert repr(Token("s3cr3t-value", "TFE_TOKEN")) == "Token(source='TFE_TOKEN')"


def test_log_lines_show_api_paths_but_not_the_token_or_upload_urls(
    fake: FakeHcp, client: HcpClient, caplog: pytest.LogCaptureFixture
) -> None:
    upload_url = fixture("configuration_version_created")["data"]["attributes"]["upload-url"]
    fake.on(
        "POST",
        "/workspaces/ws-1/configuration-versions",
        reply(201, "configuration_version_created"),
    )
    fake.on("PUT", upload_url, reply(200))
    caplog.set_level(logging.DEBUG)

    version = client.create_configuration_version("ws-1")
    client.upload_configuration(version, b"archive")

    hcp_lines = [r.getMessage() for r in caplog.records if r.name.startswith("tfctl.hcp")]
    assert hcp_lines == [
        "POST /api/v2/workspaces/ws-1/configuration-versions -> <Response [201 Created]>",
        "PUT https://archivist.terraform.io/… -> <Response [200 OK]>",
    ]
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert httpx_lines[-1] == 'HTTP Request: PUT https://archivist.terraform.io/… "HTTP/1.1 200 OK"'
    everything = caplog.text
    assert TOKEN not in everything
    assert upload_url.rsplit("/", 1)[-1] not in everything


def test_errors_from_every_path_leave_the_token_out(fake: FakeHcp, client: HcpClient) -> None:
    fake.on("GET", "/runs/run-1", fail(httpx.ConnectError))
    with pytest.raises(HcpUnavailable) as caught:
        client.get_run("run-1")

    shown = f"{caught.value} {caught.value!r} {caught.value.__cause__!r}"
    assert TOKEN not in shown


def test_importing_the_client_needs_no_credentials_and_the_cli_help_does_not_load_it() -> None:
    probe = (
        "import sys\n"
        "import tfctl, tfctl.hcp.client\n"
        "tfctl.hcp.client.HcpClient()\n"
        "for name in [m for m in sys.modules if m.startswith(('tfctl.hcp', 'httpx'))]:\n"
        "    del sys.modules[name]\n"
        "from tfctl.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(('tfctl.hcp', 'httpx'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={}
    )
    assert "LOADED []" in result.stdout
