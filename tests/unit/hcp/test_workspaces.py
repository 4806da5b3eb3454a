"""Workspaces: show by organization and name, list, create, lock and unlock; and what every
API request carries."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tfctl import __version__, errors
from tfctl.hcp.client import HcpClient, HcpConflict, HcpInvalidRequest, HcpNotFound, Workspace
from unit.hcp.fakehcp import TOKEN, FakeHcp, reply


def test_get_workspace_by_organization_and_name(fake: FakeHcp, client: HcpClient) -> None:
    fake.on("GET", "/organizations/acme/workspaces/web-prod", reply(200, "workspace"))

    workspace = client.get_workspace("acme", "web-prod")

    assert workspace == Workspace(
        id="ws-SihZTyXKfNXUWuUa",
        name="web-prod",
        organization="acme",
        locked=False,
        terraform_version="1.9.8",
        auto_apply=False,
        execution_mode="remote",
        resource_count=3,
        current_run_id="run-CZcmD7eagjhyX0vN",
        current_state_version_id="sv-g4rqST72reoHMM5a",
    )


def test_api_requests_carry_user_agent_bearer_token_and_jsonapi_type(
    fake: FakeHcp, client: HcpClient
) -> None:
    fake.on("GET", "/workspaces/ws-SihZTyXKfNXUWuUa", reply(200, "workspace"))

    client.get_workspace_by_id("ws-SihZTyXKfNXUWuUa")

    headers = fake.requests[0].headers
    assert headers["User-Agent"] == f"tfctl/{__version__}"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/vnd.api+json"
    assert headers["Accept"] == "application/vnd.api+json"


def test_names_are_percent_encoded_so_they_cannot_change_the_path(
    fake: FakeHcp, client: HcpClient
) -> None:
    fake.on("GET", "/organizations/acme/workspaces/..%2Fruns", reply(404, "error_404"))

    with pytest.raises(HcpNotFound):
        client.get_workspace("acme", "../runs")

    assert fake.requests[0].url.raw_path == b"/api/v2/organizations/acme/workspaces/..%2Fruns"


def test_an_empty_id_is_refused_before_any_request(fake: FakeHcp, client: HcpClient) -> None:
    with pytest.raises(errors.InvalidInput, match="empty"):
        client.lock_workspace("")
    assert fake.requests == []


def test_terraform_enterprise_hostname_becomes_the_base_url(
    fake: FakeHcp, make_client: Callable[..., HcpClient]
) -> None:
    client = make_client(base_url="TFE.example.com/")
    fake.on(
        "GET",
        "https://tfe.example.com/api/v2/organizations/acme/workspaces/web-prod",
        reply(200, "workspace"),
    )

    assert client.get_workspace("acme", "web-prod").name == "web-prod"
    assert client.base_url == "https://tfe.example.com"
    assert client.hostname == "tfe.example.com"


@pytest.mark.parametrize("bad", ["ftp://tfe.example.com", "https://user:pw@tfe.example.com", ""])
def test_a_base_url_that_is_not_an_http_address_is_invalid_input(bad: str) -> None:
    with pytest.raises(errors.InvalidInput):
        HcpClient(token="x", base_url=bad)


def test_create_workspace_sends_a_jsonapi_document(fake: FakeHcp, client: HcpClient) -> None:
    fake.on("POST", "/organizations/acme/workspaces", reply(201, "workspace_created"))

    created = client.create_workspace(
        "acme", "web-dev", terraform_version="1.9.8", project_id="prj-AbCdEf123456"
    )

    assert (created.id, created.name) == ("ws-6jrRyVDv1J8zQMB5", "web-dev")
    assert fake.body() == {
        "data": {
            "type": "workspaces",
            "attributes": {"name": "web-dev", "auto-apply": False, "terraform-version": "1.9.8"},
            "relationships": {"project": {"data": {"type": "projects", "id": "prj-AbCdEf123456"}}},
        }
    }


def test_a_taken_workspace_name_is_invalid_request_with_the_servers_words(
    fake: FakeHcp, client: HcpClient
) -> None:
    fake.on("POST", "/organizations/acme/workspaces", reply(422, "error_422_name_taken"))

    with pytest.raises(HcpInvalidRequest) as caught:
        client.create_workspace("acme", "web-prod")

    assert "Name has already been taken" in str(caught.value)
    assert caught.value.exit_code == 2
    assert len(fake.requests) == 1  # a POST is not repeated


def test_lock_sends_the_reason_and_returns_the_locked_workspace(
    fake: FakeHcp, client: HcpClient
) -> None:
    fake.on("POST", "/workspaces/ws-SihZTyXKfNXUWuUa/actions/lock", reply(200, "workspace_locked"))

    locked = client.lock_workspace("ws-SihZTyXKfNXUWuUa", reason="tfctl plan run-1")

    assert locked.locked is True
    assert fake.body() == {"reason": "tfctl plan run-1"}


def test_locking_a_locked_workspace_is_a_conflict(fake: FakeHcp, client: HcpClient) -> None:
    fake.on("POST", "/workspaces/ws-SihZTyXKfNXUWuUa/actions/lock", reply(409, "error_409_locked"))

    with pytest.raises(HcpConflict) as caught:
        client.lock_workspace("ws-SihZTyXKfNXUWuUa")

    error = caught.value
    assert (error.status, error.title) == (409, "conflict")
    assert error.detail == "Unable to lock workspace. The workspace is already locked."
    assert str(error) == (
        "HCP Terraform: POST /api/v2/workspaces/ws-SihZTyXKfNXUWuUa/actions/lock failed with "
        "409 conflict: Unable to lock workspace. The workspace is already locked."
    )


@pytest.mark.parametrize(
    ("method", "action"),
    [("unlock_workspace", "unlock"), ("force_unlock_workspace", "force-unlock")],
)
def test_unlock_posts_the_action_without_a_body(
    fake: FakeHcp, client: HcpClient, method: str, action: str
) -> None:
    fake.on("POST", f"/workspaces/ws-SihZTyXKfNXUWuUa/actions/{action}", reply(200, "workspace"))

    unlocked = getattr(client, method)("ws-SihZTyXKfNXUWuUa")

    assert unlocked.locked is False
    assert fake.requests[0].content == b""


def test_list_workspaces_follows_pagination_across_three_pages(
    fake: FakeHcp, client: HcpClient
) -> None:
    fake.on(
        "GET",
        "/organizations/acme/workspaces",
        *(reply(200, f"workspaces_page_{n}") for n in (1, 2, 3)),
    )

    names = [workspace.name for workspace in client.list_workspaces("acme", search="a")]

    assert names == ["alpha", "bravo", "charlie", "delta", "echo"]
    queries = [dict(request.url.params) for request in fake.requests]
    assert queries == [
        {"search[name]": "a", "page[number]": str(n), "page[size]": "100"} for n in (1, 2, 3)
    ]


def test_client_is_a_context_manager_that_closes(fake: FakeHcp) -> None:
    import httpx

    with HcpClient(token=TOKEN, transport=httpx.MockTransport(fake.handle)) as client:
        pass
    with pytest.raises(RuntimeError):
        client.get_workspace("acme", "web-prod")
