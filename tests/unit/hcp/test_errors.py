"""Error bodies become typed errors that say which request failed and what the server said."""

from __future__ import annotations

import httpx
import pytest

from tfctl import errors
from tfctl.hcp.client import (
    HcpAuthError,
    HcpClient,
    HcpConflict,
    HcpError,
    HcpInvalidRequest,
    HcpNotFound,
    HcpRateLimited,
    HcpUnavailable,
)
from tfctl.hcp.errors import build_error, parse_error_body
from unit.hcp.fakehcp import FakeHcp, reply

RUN = "run-CZcmD7eagjhyX0vN"


@pytest.mark.parametrize(
    ("status", "error_type", "exit_code"),
    [
        (400, HcpInvalidRequest, 2),
        (401, HcpAuthError, 2),
        (403, HcpAuthError, 2),
        (404, HcpNotFound, 2),
        (409, HcpConflict, 1),
        (418, HcpError, 1),
        (422, HcpInvalidRequest, 2),
        (429, HcpRateLimited, 1),
        (500, HcpUnavailable, 1),
        (504, HcpUnavailable, 1),
    ],
)
def test_each_status_has_its_error_type_and_exit_code(
    status: int, error_type: type[HcpError], exit_code: int
) -> None:
    error = build_error(status, "Reason", b"", where="GET /api/v2/x")

    assert type(error) is error_type
    assert isinstance(error, errors.TfctlError)
    assert error.exit_code == exit_code
    assert error.status == status


def test_title_and_detail_come_from_the_jsonapi_body(fake: FakeHcp, client: HcpClient) -> None:
    fake.on("GET", f"/runs/{RUN}", reply(404, "error_404"))

    with pytest.raises(HcpNotFound) as caught:
        client.get_run(RUN)

    error = caught.value
    assert (error.status, error.title, error.detail) == (404, "not found", None)
    assert str(error) == (
        f"HCP Terraform: GET /api/v2/runs/{RUN} failed with 404 not found "
        "(HCP Terraform also answers 404 when the token may not see it)"
    )


def test_several_error_objects_are_joined() -> None:
    body = (
        b'{"errors": [{"status": "422", "title": "invalid attribute", "detail": "Name is bad"},'
        b' {"status": "422", "title": "invalid attribute", "detail": "Version is bad"}]}'
    )

    assert parse_error_body(body) == ("invalid attribute", "Name is bad; Version is bad")


@pytest.mark.parametrize(
    "body", [b"<html><body>Bad Gateway</body></html>", b"", b"[]", b'{"errors": "x"}']
)
def test_a_body_that_is_not_a_jsonapi_error_falls_back_on_the_reason(body: bytes) -> None:
    error = build_error(502, "Bad Gateway", body, where="GET /api/v2/runs/run-1")

    assert (error.title, error.detail) == (None, None)
    assert str(error) == "HCP Terraform: GET /api/v2/runs/run-1 failed with 502 Bad Gateway"


def test_a_401_names_the_token_source_but_not_the_token(
    fake: FakeHcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFE_TOKEN", "revoked.atlasv1.abcdef0123456789")
    fake.on("GET", f"/runs/{RUN}", reply(401, "error_401"))
    client = HcpClient(transport=httpx.MockTransport(fake.handle))
    with client, pytest.raises(HcpAuthError) as caught:
        client.get_run(RUN)

    message = str(caught.value)
    assert "401 unauthorized" in message
    assert "check the token from TFE_TOKEN" in message
    assert "revoked.atlasv1" not in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    "body", [b"<html>maintenance</html>", b'{"data": null}', b'{"data": {"type": "runs"}}']
)
def test_a_success_without_a_resource_is_an_hcp_error_not_a_crash(
    fake: FakeHcp, client: HcpClient, body: bytes
) -> None:
    fake.on("GET", f"/runs/{RUN}", lambda request: httpx.Response(200, content=body))

    with pytest.raises(HcpError, match="HCP Terraform"):
        client.get_run(RUN)


def test_a_download_that_redirects_again_is_an_error(fake: FakeHcp, client: HcpClient) -> None:
    hop = "https://archivist.terraform.io/v1/object/one"
    fake.on("GET", "/plans/plan-1/json-output", reply(307, headers={"Location": hop}))
    fake.on("GET", hop, reply(302, headers={"Location": "https://elsewhere.example/x"}))

    with pytest.raises(HcpError, match="redirected more than once"):
        client.plan_json("plan-1")
