"""The REST API over a real store (SQLite and PostgreSQL) with real terraform: what a script
does with `curl`, and the answers it gets when it does something wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from filestack import FILES_MODULE
from serverkit import SECRET, Api, files_setup
from tfctl.context import AppContext
from tfctl.runs.service import RunService
from tfctl.stacks import list_stacks
from tfctl.workspaces import show_workspace

pytestmark = pytest.mark.terraform


def spec(**variables: Any) -> dict[str, Any]:
    return {"name": "files", "kind": "generic", "module_source": str(FILES_MODULE),
            "variables": {"names": ["a"], **variables}}  # fmt: skip


def test_push_create_plan_review_apply_and_destroy_over_http(api: Api, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    pushed = api.post("/terraform/stacks", role="operator", json=spec())
    assert pushed.status_code == 201
    assert pushed.json()["created"] is True
    assert set(pushed.json()) == {"name", "version", "hash", "created"}
    again = api.post("/terraform/stacks", role="operator", json=spec())
    assert (again.status_code, again.json()["created"]) == (200, False)
    assert api.get("/terraform/stacks", role="viewer").json() == list_stacks(api.store)

    body = {"name": "dev", "stack": "files", "variables": {"dir": str(out)}}
    created = api.post("/terraform/workspaces", role="operator", json=body)
    assert created.status_code == 201
    assert created.json() == show_workspace(api.store, "dev").to_dict()
    detail = api.get("/terraform/workspaces/dev", role="viewer").json()
    assert (detail["latest_run"], detail["current_state"]) == (None, None)

    # a viewer reads but does not plan; an operator's plan is queued under the token's name
    assert api.post("/terraform/workspaces/dev/runs", role="viewer",
                    json={"operation": "plan"}).status_code == 403  # fmt: skip
    queued = api.post("/terraform/workspaces/dev/runs", role="operator",
                      json={"operation": "plan", "test_id": "t-1"})  # fmt: skip
    assert queued.status_code == 202
    plan = queued.json()
    assert (plan["status"], plan["actor"], plan["test_id"]) == ("queued", "operator-token", "t-1")
    plan = api.wait(plan["id"], "awaiting_approval")
    assert plan == RunService(AppContext(store=api.store)).get(plan["id"]).to_dict()
    assert plan["summary"]["add"] == 2

    page = api.get(f"/terraform/runs/{plan['id']}/logs", role="viewer").json()
    assert page["finished"] is True
    assert [line["seq"] for line in page["lines"]] == list(range(1, len(page["lines"]) + 1))
    assert any("Plan: 2 to add" in line["text"] for line in page["lines"])
    assert all(SECRET not in line["text"] for line in page["lines"])
    rest = api.get(f"/terraform/runs/{plan['id']}/logs?after={page['lines'][2]['seq']}").json()
    assert rest["lines"] == page["lines"][3:]

    # apply exactly that plan: a wrong hash is a conflict, the right one is queued
    stale = api.post(f"/terraform/runs/{plan['id']}/actions/apply", role="operator",
                     json={"plan_sha256": "0" * 64})  # fmt: skip
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "plan_mismatch"
    applied = api.post(f"/terraform/runs/{plan['id']}/actions/apply", role="operator",
                       json={"plan_sha256": plan["plan_sha256"]})  # fmt: skip
    assert applied.status_code == 202
    child = api.wait(applied.json()["id"], "applied", "errored")
    assert (child["status"], child["parent_run_id"]) == ("applied", plan["id"])
    assert (out / "a").read_text() == "hello\n"
    state = api.get("/terraform/workspaces/dev", role="viewer").json()["current_state"]
    assert state["outputs"]["paths"]["value"] == [str(out / "a")]
    assert state["outputs"]["token"]["value"] != SECRET
    versions = api.get("/terraform/workspaces/dev/state-versions", role="viewer").json()
    assert [v["run_id"] for v in versions] == [child["id"]]
    serial = versions[0]["serial"]
    assert api.get(f"/terraform/workspaces/dev/state-versions/{serial}").json() == versions[0]

    # a destroy plan: applied only by an admin who types the workspace's name
    destroy = api.post("/terraform/workspaces/dev/runs", role="operator",
                       json={"operation": "destroy"})  # fmt: skip
    destroy_plan = api.wait(destroy.json()["id"], "awaiting_approval")
    url = f"/terraform/runs/{destroy_plan['id']}/actions/apply"
    by_operator = api.post(url, role="operator", json={"confirm": "dev"})
    assert by_operator.status_code == 403
    assert "destroy plan needs admin" in by_operator.json()["error"]["message"]
    unconfirmed = api.post(url, role="admin", json={})
    assert unconfirmed.status_code == 422
    assert unconfirmed.json()["error"]["code"] == "confirmation_required"
    wrong = api.post(url, role="admin", json={"confirm": "prod"})
    assert wrong.status_code == 422
    confirmed = api.post(url, role="admin", json={"confirm": "dev"})
    assert confirmed.status_code == 202
    assert api.wait(confirmed.json()["id"], "applied", "errored")["status"] == "applied"
    assert not (out / "a").exists()

    listed = api.get("/terraform/runs?workspace=dev&status=applied&limit=10").json()
    assert [r["action"] for r in listed] == ["destroy", "destroy-plan", "apply", "plan"]
    assert all("waiting_for" in r for r in listed)


def test_discard_cancel_and_halt_record_the_tokens_name(api: Api, tmp_path: Path) -> None:
    files_setup(api.store, tmp_path)
    plan = api.post("/terraform/workspaces/dev/runs", role="operator", json={"operation": "plan"})
    plan_id = api.wait(plan.json()["id"], "awaiting_approval")["id"]
    discarded = api.post(f"/terraform/runs/{plan_id}/actions/discard", role="operator")
    assert discarded.status_code == 200
    assert discarded.json()["status"] == "discarded"
    twice = api.post(f"/terraform/runs/{plan_id}/actions/discard", role="operator")
    assert twice.status_code == 409
    assert "discarded" in twice.json()["error"]["message"]
    apply_discarded = api.post(f"/terraform/runs/{plan_id}/actions/apply", role="operator")
    assert apply_discarded.status_code == 409

    plan = api.post("/terraform/workspaces/dev/runs", role="operator", json={"operation": "plan"})
    awaiting = api.wait(plan.json()["id"], "awaiting_approval")
    halted = api.post("/terraform/halt", role="admin", json={"reason": "incident 7"})
    assert halted.status_code == 200
    assert halted.json()["halted"] == [awaiting["id"]]
    run = api.run(awaiting["id"])
    assert (run["status"], run["halted"], run["halted_by"]) == ("cancelled", True, "admin-token")
    assert api.post("/terraform/halt", role="operator", json={"reason": "x"}).status_code == 403


BAD_REQUESTS = [
    # (method, path, body, status, code, words in the message)
    ("POST", "/terraform/workspaces", b"{not json", 400, "malformed_json", "not valid JSON"),
    ("POST", "/terraform/workspaces", {"name": "w", "stack": "files", "colour": "red"}, 422,
     "invalid_request", "colour: unknown field"),
    ("POST", "/terraform/workspaces", {"stack": "files"}, 422, "invalid_request", "name: required"),
    ("POST", "/terraform/workspaces", [1, 2], 422, "invalid_request", "must be a JSON object"),
    ("POST", "/terraform/workspaces", {"name": "Bad Name!", "stack": "files"}, 400,
     "invalid_input", "Bad Name!"),
    ("POST", "/terraform/workspaces/dev/runs", {"operation": "aply"}, 422, "invalid_request",
     "operation"),
    ("POST", "/terraform/workspaces/nope/runs", {"operation": "plan"}, 404, "not_found", "nope"),
    ("GET", "/terraform/runs/run-0000000000nonexist", None, 404, "not_found", "no run"),
    ("GET", "/terraform/runs?status=sleeping", None, 400, "invalid_input", "sleeping"),
    ("GET", "/terraform/runs?limit=lots", None, 422, "invalid_request", "limit"),
    ("POST", "/terraform/runs/run-0000000000nonexist/actions/apply", {}, 404, "not_found",
     "no run"),
    ("POST", "/terraform/runs/x/actions/approve", {}, 404, "not_found",
     "apply, discard, cancel"),
    ("POST", "/terraform/runs/x/actions/apply", {"plan_sha": "abc"}, 422, "invalid_request",
     "plan_sha: unknown field"),
    ("GET", "/terraform/stacks/nope", None, 404, "not_found", "nope"),
    ("GET", "/terraform/stacks/files?version=99", None, 404, "not_found", "version"),
    ("POST", "/terraform/stacks", {"name": "x", "kind": "teapot"}, 422, "invalid_spec", "kind"),
    ("POST", "/terraform/stacks", {**spec(), "module_source": "./mod"}, 422, "invalid_spec",
     "relative"),
    ("GET", "/terraform/workspaces/nope/state-versions", None, 404, "not_found", "nope"),
    ("GET", "/terraform/workspaces/dev/state-versions/7", None, 404, "not_found", "no state"),
    ("POST", "/terraform/halt", {}, 422, "invalid_request", "reason: required"),
    ("POST", "/terraform/halt", {"reason": "x", "workspace": "nope"}, 404, "not_found", "nope"),
    ("DELETE", "/terraform/runs", None, 405, "method_not_allowed", "DELETE"),
    ("GET", "/terraform/nothing", None, 404, "not_found", "no such route"),
]  # fmt: skip


def test_bad_requests_get_one_clear_4xx_never_a_500(api: Api, tmp_path: Path) -> None:
    files_setup(api.store, tmp_path)
    for method, path, body, status, code, words in BAD_REQUESTS:
        kwargs: dict[str, Any] = {}
        if isinstance(body, bytes):
            kwargs = {"content": body, "headers": {"Content-Type": "application/json"}}
        elif body is not None:
            kwargs = {"json": body}
        response = api.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        error = response.json()["error"]
        assert set(error) == {"code", "message"}
        assert error["code"] == code, (path, error)
        assert words in error["message"], (path, error)
        assert "Traceback" not in error["message"]


POLICIES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"


def test_only_an_admin_overrides_a_soft_mandatory_policy_with_a_reason(
    api: Api, tmp_path: Path
) -> None:
    from tfctl.policy.service import attach

    out = files_setup(api.store, tmp_path, content="forbidden")
    attach(api.store, "dev", str(POLICIES / "forbidden_content.rego"), level="soft_mandatory",
           actor="test")  # fmt: skip
    plan = api.post("/terraform/workspaces/dev/runs", role="operator", json={"operation": "plan"})
    awaiting = api.wait(plan.json()["id"], "awaiting_approval")
    assert awaiting["policy_results"]["blocking"] == "soft_mandatory"
    url = f"/terraform/runs/{awaiting['id']}/actions/apply"
    blocked = api.post(url, role="operator", json={})
    assert blocked.status_code == 409
    assert blocked.json()["error"]["code"] == "policy_blocked"
    by_operator = api.post(url, role="operator", json={"override_reason": "CAB-42"})
    assert by_operator.status_code == 403
    assert "overriding a policy needs admin" in by_operator.json()["error"]["message"]
    page = api.get(f"/infra/terraform/runs/{awaiting['id']}", role="admin")
    assert 'name="override_reason" required' in page.text
    assert "Blocked by a soft mandatory policy" in page.text
    applied = api.post(url, role="admin", json={"override_reason": "CAB-42"})
    assert applied.status_code == 202
    child = api.wait(applied.json()["id"], "applied", "errored")
    assert child["status"] == "applied"
    assert child["policy_results"]["override"]["actor"] == "admin-token"
    assert child["policy_results"]["override"]["reason"] == "CAB-42"
    assert (out / "a").read_text() == "forbidden\n"
