"""The current state version and its outputs: sensitive values stay redacted unless asked for."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from tfctl.hcp.client import HcpClient, HcpNotFound, StateOutput
from tfctl.terraform.redact import REDACTED
from unit.hcp.fakehcp import FakeHcp, fixture, reply

WS = "ws-SihZTyXKfNXUWuUa"
SV = "sv-g4rqST72reoHMM5a"


def serve_state(fake: FakeHcp, state: object = "state_version_current") -> None:
    fake.on("GET", f"/workspaces/{WS}/current-state-version", reply(200, state))
    fake.on(
        "GET",
        f"/state-versions/{SV}/outputs",
        reply(200, "state_version_outputs_page_1"),
        reply(200, "state_version_outputs_page_2"),
    )


def test_current_state_version_with_outputs_across_pages(fake: FakeHcp, client: HcpClient) -> None:
    serve_state(fake)

    state = client.current_state_version(WS)

    assert (state.id, state.serial, state.lineage) == (SV, 9, None)
    assert state.terraform_version == "1.9.8"
    assert state.resources_processed is True
    assert state.run_id == "run-YfmFLWpgTv31VZsP"
    assert state.created_at == datetime(2024, 6, 8, 1, 22, 3, 794000, tzinfo=UTC)
    assert state.output_values == {
        "bucket": "acme-web-prod",
        "db_password": REDACTED,
        "fruits": ["apple", "strawberry"],
        "api_key": REDACTED,
    }
    outputs_queries = [r.url.params["page[number]"] for r in fake.requests[1:]]
    assert outputs_queries == ["1", "2"]


def test_a_sensitive_value_the_list_did_return_is_still_redacted(
    fake: FakeHcp, client: HcpClient
) -> None:
    serve_state(fake)

    state = client.current_state_version(WS)

    api_key = next(o for o in state.outputs if o.name == "api_key")
    assert api_key.value == REDACTED
    assert "sk-live" not in repr(state)
    assert len(fake.requests) == 3  # nothing fetched for the redacted outputs


def test_lineage_is_read_when_the_api_reports_it(fake: FakeHcp, client: HcpClient) -> None:
    state = copy.deepcopy(fixture("state_version_current"))
    state["data"]["attributes"]["lineage"] = "4f1c6a5e-8b1e-4c2a-9d1b-2f8c0f6d7e21"
    serve_state(fake, state)

    assert client.current_state_version(WS).lineage == "4f1c6a5e-8b1e-4c2a-9d1b-2f8c0f6d7e21"


def test_reveal_sensitive_fetches_values_the_list_left_out(
    fake: FakeHcp, client: HcpClient
) -> None:
    serve_state(fake)
    fake.on(
        "GET",
        "/state-version-outputs/wsout-ymkuRnrNFeU5wGpV",
        reply(200, "state_version_output_db_password"),
    )

    state = client.current_state_version(WS, reveal_sensitive=True)

    assert state.output_values["db_password"] == "hunter2-but-longer"
    assert state.output_values["api_key"] == "sk-live-visible-in-list"
    assert "/api/v2/state-version-outputs/wsout-ymkuRnrNFeU5wGpV" in [
        r.url.path for r in fake.requests
    ]


def test_a_revealed_value_stays_out_of_the_repr() -> None:
    output = StateOutput(id="wsout-1", name="pw", sensitive=True, type="string", value="s3cr3t!")

    assert "s3cr3t!" not in repr(output)
    assert REDACTED in repr(output)


def test_a_workspace_without_state_is_not_found(fake: FakeHcp, client: HcpClient) -> None:
    fake.on("GET", f"/workspaces/{WS}/current-state-version", reply(404, "error_404"))

    with pytest.raises(HcpNotFound) as caught:
        client.current_state_version(WS)

    assert caught.value.exit_code == 2
    assert "404 not found" in str(caught.value)
