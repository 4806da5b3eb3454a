"""Runs: create (never twice), show, and the apply / discard / cancel / force-cancel actions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tfctl import errors
from tfctl.hcp.client import HcpClient, HcpConflict, HcpUnavailable, Run
from unit.hcp.fakehcp import FakeHcp, reply

RUN = "run-CZcmD7eagjhyX0vN"
WS = "ws-SihZTyXKfNXUWuUa"
CV = "cv-UYwHEakurukz85nW"


def test_create_run_sends_workspace_configuration_and_options(
    fake: FakeHcp, client: HcpClient
) -> None:
    fake.on("POST", "/runs", reply(201, "run_created"))

    run = client.create_run(
        WS, configuration_version_id=CV, message="tfctl plan", is_destroy=True, auto_apply=False
    )

    assert (run.id, run.status, run.is_final) == (RUN, "pending", False)
    assert fake.body() == {
        "data": {
            "type": "runs",
            "attributes": {
                "is-destroy": True,
                "refresh-only": False,
                "message": "tfctl plan",
                "auto-apply": False,
            },
            "relationships": {
                "workspace": {"data": {"type": "workspaces", "id": WS}},
                "configuration-version": {"data": {"type": "configuration-versions", "id": CV}},
            },
        }
    }


def test_create_run_leaves_out_what_was_not_given(fake: FakeHcp, client: HcpClient) -> None:
    fake.on("POST", "/runs", reply(201, "run_created"))

    client.create_run(WS, refresh_only=True)

    data = fake.body()["data"]
    assert data["attributes"] == {"is-destroy": False, "refresh-only": True}
    assert data["relationships"] == {"workspace": {"data": {"type": "workspaces", "id": WS}}}


def test_destroy_and_refresh_only_together_are_refused_before_sending(
    fake: FakeHcp, client: HcpClient
) -> None:
    with pytest.raises(errors.InvalidInput, match="destroy"):
        client.create_run(WS, is_destroy=True, refresh_only=True)
    assert fake.requests == []


def test_run_creation_is_not_retried_after_a_500(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    fake.on("POST", "/runs", reply(500, "error_500"), reply(201, "run_created"))

    with pytest.raises(HcpUnavailable) as caught:
        client.create_run(WS, message="once only")

    assert len(fake.requests) == 1
    assert sleeps == []
    assert "500 internal server error" in str(caught.value)
    assert "not retried" in str(caught.value)


def test_get_run_reads_status_changes_actions_and_relationships(
    fake: FakeHcp, client: HcpClient
) -> None:
    fake.on("GET", f"/runs/{RUN}", reply(200, "run_planned"))

    run = client.get_run(RUN)

    assert run == Run(
        id=RUN,
        status="planned",
        message="Queued by tfctl",
        has_changes=True,
        is_destroy=False,
        refresh_only=False,
        plan_only=False,
        auto_apply=False,
        is_confirmable=True,
        is_cancelable=False,
        is_discardable=True,
        is_force_cancelable=False,
        plan_id="plan-8F5JFydVYAmtTjET",
        apply_id="apply-CZcmD7eagjhyX0vN",
        workspace_id=WS,
        configuration_version_id=CV,
        created_at=datetime(2024, 5, 24, 7, 38, 4, 171000, tzinfo=UTC),
    )


def test_an_applied_run_is_final(fake: FakeHcp, client: HcpClient) -> None:
    fake.on("GET", f"/runs/{RUN}", reply(200, "run_applied"))

    assert client.get_run(RUN).is_final


@pytest.mark.parametrize(
    ("method", "action"),
    [
        ("apply_run", "apply"),
        ("discard_run", "discard"),
        ("cancel_run", "cancel"),
        ("force_cancel_run", "force-cancel"),
    ],
)
def test_run_actions_post_the_comment(
    fake: FakeHcp, client: HcpClient, method: str, action: str
) -> None:
    fake.on("POST", f"/runs/{RUN}/actions/{action}", reply(202))

    getattr(client, method)(RUN, comment="approved in tfctl")

    assert fake.paths() == [f"POST /api/v2/runs/{RUN}/actions/{action}"]
    assert fake.body() == {"comment": "approved in tfctl"}


def test_a_run_action_without_comment_sends_no_body(fake: FakeHcp, client: HcpClient) -> None:
    fake.on("POST", f"/runs/{RUN}/actions/discard", reply(202))

    client.discard_run(RUN)

    assert fake.requests[0].content == b""


def test_applying_a_run_that_is_not_confirmable_is_a_conflict(
    fake: FakeHcp, client: HcpClient
) -> None:
    fake.on("POST", f"/runs/{RUN}/actions/apply", reply(409, "error_409_not_confirmable"))

    with pytest.raises(HcpConflict, match="409 transition not allowed: Run is not confirmable"):
        client.apply_run(RUN)
