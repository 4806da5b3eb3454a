"""The plan's JSON: the API redirects to a short-lived URL, which is followed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfctl.hcp.client import HcpClient, HcpNotFound, HcpNotReady
from unit.hcp.fakehcp import TOKEN, FakeHcp, fixture, reply

PLAN = "plan-8F5JFydVYAmtTjET"
ARCHIVIST = "https://archivist.terraform.io/v1/object/dmF1bHQ6djE6cGxhbi1qc29uLXNlY3JldA"


def redirect_to(fake: FakeHcp, location: str) -> None:
    fake.on("GET", f"/plans/{PLAN}/json-output", reply(307, headers={"Location": location}))


def test_plan_json_follows_the_redirect_without_sending_the_token_elsewhere(
    fake: FakeHcp, client: HcpClient
) -> None:
    redirect_to(fake, ARCHIVIST)
    fake.on("GET", ARCHIVIST, reply(200, "plan_json_output"))

    content = client.plan_json(PLAN)

    assert json.loads(content) == fixture("plan_json_output")
    first, second = fake.requests
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert str(second.url) == ARCHIVIST
    assert "Authorization" not in second.headers


def test_a_same_origin_redirect_keeps_the_token(fake: FakeHcp, client: HcpClient) -> None:
    redirect_to(fake, "/_archivist/v1/object/abc")
    fake.on(
        "GET", "https://app.terraform.io/_archivist/v1/object/abc", reply(200, "plan_json_output")
    )

    client.plan_json(PLAN)

    assert fake.requests[1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_save_plan_json_writes_the_file(fake: FakeHcp, client: HcpClient, tmp_path: Path) -> None:
    redirect_to(fake, ARCHIVIST)
    fake.on("GET", ARCHIVIST, reply(200, "plan_json_output"))

    written = client.save_plan_json(PLAN, tmp_path / "plan.json")

    assert json.loads(written.read_text()) == fixture("plan_json_output")
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_a_plan_that_has_not_finished_is_not_ready(fake: FakeHcp, client: HcpClient) -> None:
    fake.on("GET", f"/plans/{PLAN}/json-output", reply(204))

    with pytest.raises(HcpNotReady, match="no JSON output yet"):
        client.plan_json(PLAN)


def test_an_expired_download_url_is_an_error_that_hides_the_url(
    fake: FakeHcp, client: HcpClient
) -> None:
    redirect_to(fake, ARCHIVIST)
    fake.on("GET", ARCHIVIST, reply(404))

    with pytest.raises(HcpNotFound) as caught:
        client.plan_json(PLAN)

    assert "https://archivist.terraform.io/…" in str(caught.value)
    assert "dmF1bHQ6" not in str(caught.value)
