"""`tfctl mcp` over stdio, as an MCP client sees it: the SDK's client starts the real command;
plans queued over MCP are executed by real `tfctl worker --burst` processes running real
terraform, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filestack import files_workspace, push_files
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.runs.service import RunService
from tfctl.state_versions import list_states

pytestmark = pytest.mark.terraform

READ_TOOLS = {"list_stacks", "get_stack", "list_workspaces", "get_workspace", "list_runs",
              "get_run", "get_run_logs", "get_state_outputs", "get_drift_status"}  # fmt: skip
OPERATIONS = {"apply_run", "discard_run", "cancel_run", "create_destroy_plan", "halt"}
ACTOR = "mcp:test-agent"  # the client names itself "test agent" (conftest)


def workspace(store: Store, tmp_path: Path, name: str = "dev") -> Path:
    out = tmp_path / f"out-{name}"
    out.mkdir()
    push_files(store, tmp_path, names=["a"])
    files_workspace(store, name, out)
    return out


SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@SQLITE_ONLY  # nothing here depends on the store
def test_tools_are_listed_by_mode_with_annotations_and_what_to_pass(stdio_mcp, store) -> None:
    with stdio_mcp() as mcp:
        tools = mcp.tools()
    assert set(tools) == READ_TOOLS | {"create_plan"}
    for name in READ_TOOLS:
        hints = tools[name].annotations
        assert (hints.read_only_hint, hints.destructive_hint) == (True, False), name
    plan = tools["create_plan"]
    assert (plan.annotations.read_only_hint, plan.annotations.destructive_hint) == (False, False)
    assert plan.input_schema["required"] == ["workspace"]
    assert plan.input_schema["properties"]["mode"]["enum"] == ["plan", "refresh-only"]

    with stdio_mcp(operations=True) as mcp:
        tools = mcp.tools()
    assert set(tools) == READ_TOOLS | {"create_plan"} | OPERATIONS
    for name in OPERATIONS:
        hints = tools[name].annotations
        assert (hints.read_only_hint, hints.destructive_hint) == (False, True), name
    apply = tools["apply_run"]
    assert apply.annotations.open_world_hint is True  # it changes real infrastructure
    assert set(apply.input_schema["required"]) == {"run_id", "plan_sha256"}
    assert "override" not in json.dumps(apply.input_schema)  # never a policy override
    assert "plan_sha256" in apply.description
    assert "confirm" in apply.description
    assert tools["halt"].input_schema["required"] == ["reason"]


def test_a_plan_created_over_mcp_is_executed_by_a_worker_and_applied_only_with_operations(
    stdio_mcp, burst_worker, store: Store, tmp_path: Path, secret: str
) -> None:
    out = workspace(store, tmp_path)
    with stdio_mcp() as mcp:
        queued = mcp.call("create_plan", workspace="dev")
        assert (queued["status"], queued["action"], queued["actor"]) == ("queued", "plan", ACTOR)
        assert "no worker is alive" in queued["note"]

        burst_worker()

        plan = mcp.call("get_run", run_id=queued["id"][-8:])  # an abbreviation works
        assert (plan["id"], plan["status"]) == (queued["id"], "awaiting_approval")
        assert plan["summary"]["add"] == 2
        first = mcp.call("get_run_logs", run_id=plan["id"], limit=3)
        assert [line["seq"] for line in first["lines"]] == [1, 2, 3]
        assert (first["next"], first["finished"]) == (3, False)
        rest = mcp.call("get_run_logs", run_id=plan["id"], after=first["next"], limit=1000)
        assert rest["finished"] is True
        text = "\n".join(line["text"] for line in first["lines"] + rest["lines"])
        assert "Plan: 2 to add" in text
        assert secret not in text
        listed = mcp.call("list_runs", workspace="dev")["runs"]
        assert [run["id"] for run in listed] == [plan["id"]]

        # operations are off: the agent cannot apply, and nothing changed
        assert "Unknown tool: apply_run" in mcp.error(
            "apply_run", run_id=plan["id"], plan_sha256=plan["plan_sha256"]
        )
        assert mcp.call("get_run", run_id=plan["id"])["status"] == "awaiting_approval"

    with stdio_mcp(operations=True) as mcp:
        wrong = mcp.error("apply_run", run_id=plan["id"], plan_sha256="0" * 64)
        assert f"plan {plan['id']} has SHA-256 {plan['plan_sha256']}" in wrong
        apply = mcp.call("apply_run", run_id=plan["id"], plan_sha256=plan["plan_sha256"])
        assert (apply["status"], apply["parent_run_id"], apply["actor"]) == (
            "queued", plan["id"], ACTOR,
        )  # fmt: skip

        burst_worker()

        assert mcp.call("get_run", run_id=apply["id"])["status"] == "applied"
        outputs = mcp.call("get_state_outputs", workspace="dev")
        assert outputs["run_id"] == apply["id"]
        assert outputs["outputs"]["paths"]["value"] == [str(out / "a")]
        assert secret not in json.dumps(outputs)
        current = mcp.call("get_workspace", name="dev")
        assert current["latest_run"]["id"] == apply["id"]
        drift = mcp.call("get_drift_status", workspace="dev")["workspaces"]
        assert [(d["workspace"], d["result"]) for d in drift] == [("dev", "not_assessed")]
        assert secret not in json.dumps(current)
    assert (out / "a").read_text() == "hello\n"


def test_a_destroy_plan_is_applied_only_with_the_workspace_name(
    stdio_mcp, burst_worker, store: Store, tmp_path: Path
) -> None:
    out = workspace(store, tmp_path)
    runtime = RunService(AppContext(store=store))
    runtime.plan("dev")
    runtime.apply("dev")
    assert (out / "a").exists()

    with stdio_mcp(operations=True) as mcp:
        queued = mcp.call("create_destroy_plan", workspace="dev")
        assert (queued["action"], queued["actor"]) == ("destroy-plan", ACTOR)
        burst_worker()
        plan = mcp.call("get_run", run_id=queued["id"])
        assert plan["status"] == "awaiting_approval"

        refused = mcp.error("apply_run", run_id=plan["id"], plan_sha256=plan["plan_sha256"])
        assert f"plan {plan['id']} is a destroy plan" in refused
        assert "the workspace's name" in refused
        mistyped = mcp.error("apply_run", run_id=plan["id"], plan_sha256=plan["plan_sha256"],
                             confirm="prod")  # fmt: skip
        assert "'prod' is not the workspace's name" in mistyped
        assert mcp.call("get_run", run_id=plan["id"])["status"] == "awaiting_approval"
        assert (out / "a").exists()

        apply = mcp.call("apply_run", run_id=plan["id"], plan_sha256=plan["plan_sha256"],
                         confirm="dev")  # fmt: skip
        burst_worker()
        assert mcp.call("get_run", run_id=apply["id"])["status"] == "applied"
    assert not (out / "a").exists()
    assert list_states(store, "dev")[0]["resource_count"] == 0


@SQLITE_ONLY
def test_bad_arguments_are_answered_with_tool_errors_and_the_server_lives_on(
    stdio_mcp, store: Store, tmp_path: Path
) -> None:
    workspace(store, tmp_path)
    with stdio_mcp(operations=True) as mcp:
        assert "workspace\n  Field required" in mcp.error("create_plan")
        assert "Input should be 'plan' or 'refresh-only'" in mcp.error(
            "create_plan", workspace="dev", mode="destroy"
        )
        assert "no workspace named 'nope'" in mcp.error("create_plan", workspace="nope")
        assert "limit\n  Input should be less than or equal to 1000" in mcp.error(
            "get_run_logs", run_id="run-x", limit=5000
        )
        assert "no run" in mcp.error("get_run", run_id="run-doesnotexist").lower()
        assert "--status 'sleeping': unknown status" in mcp.error("list_runs", status=["sleeping"])
        assert "no stack named 'nope'" in mcp.error("get_stack", name="nope")
        assert "String should match pattern" in mcp.error(
            "apply_run", run_id="run-x", plan_sha256="not-a-hash"
        )
        assert "reason\n  Field required" in mcp.error("halt")
        assert "has no state version" in mcp.error("get_state_outputs", workspace="dev")
        # still serving
        assert [w["name"] for w in mcp.call("list_workspaces")["workspaces"]] == ["dev"]
        assert mcp.call("list_runs")["runs"] == []


@SQLITE_ONLY
def test_the_client_name_is_the_actor_and_refresh_plans_are_queued(
    stdio_mcp, store: Store, tmp_path: Path
) -> None:
    workspace(store, tmp_path)
    with stdio_mcp() as mcp:
        queued = mcp.call("create_plan", workspace="dev", mode="refresh-only", test_id="t-1")
    assert (queued["action"], queued["test_id"], queued["actor"]) == ("refresh-plan", "t-1", ACTOR)
