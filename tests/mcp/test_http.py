"""serve's `/mcp`: the SDK's client over streamable HTTP against a real uvicorn, with the
server's tokens. Tools act as the token (its name is the actor, its role is checked as the
REST API checks it); plans run on the server's embedded worker slot with real terraform."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from serverkit import LiveServer, files_setup, make_tokens, serve_options
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.server.app import create_app

pytestmark = pytest.mark.terraform


@pytest.fixture
def operations(monkeypatch: pytest.MonkeyPatch) -> None:
    """TFCTL_MCP_ENABLE_OPERATIONS=1 where the server runs."""
    from tfctl.settings import get_settings

    monkeypatch.setenv("TFCTL_MCP_ENABLE_OPERATIONS", "1")
    get_settings.cache_clear()


def wait_for(mcp: Any, run_id: str, *statuses: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = mcp.call("get_run", run_id=run_id)
        if run["status"] in statuses or time.monotonic() > deadline:
            assert run["status"] in statuses, run
            return dict(run)
        time.sleep(0.2)


@pytest.mark.usefixtures("operations")
def test_mcp_over_http_acts_as_the_token_with_its_role(
    http_mcp, store: Store, tmp_path: Path, secret: str
) -> None:
    out = files_setup(store, tmp_path)
    tokens = make_tokens(store)
    app = create_app(AppContext(store=store), serve_options(workers=1))
    with LiveServer(app) as live:
        url = f"{live.url}/mcp"
        anonymous = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert anonymous.status_code == 401
        assert "Authorization: Bearer TOKEN" in anonymous.json()["error"]["message"]

        with http_mcp(url, tokens["viewer"]) as viewer:
            assert "list_workspaces" in viewer.tools()
            assert [w["name"] for w in viewer.call("list_workspaces")["workspaces"]] == ["dev"]
            refused = viewer.error("create_plan", workspace="dev")
            assert "token 'viewer-token' has the viewer role; creating a plan needs operator" in (
                refused
            )

        with http_mcp(url, tokens["operator"]) as operator:
            queued = operator.call("create_plan", workspace="dev")
            assert queued["actor"] == "operator-token"  # the token's name, not the client's
            plan = wait_for(operator, queued["id"], "awaiting_approval")
            assert "needs admin" in operator.error("halt", reason="not mine to pull")
            apply = operator.call("apply_run", run_id=plan["id"], plan_sha256=plan["plan_sha256"])
            assert apply["actor"] == "operator-token"
            wait_for(operator, apply["id"], "applied")
            outputs = operator.call("get_state_outputs", workspace="dev")["outputs"]
            assert outputs["paths"]["value"] == [str(out / "a")]
            assert secret not in str(outputs)

        with http_mcp(url, tokens["admin"]) as admin:
            report = admin.call("halt", reason="drill")
            assert (report["halted"], report["halted_by"]) == ([], "admin-token")


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_operations_are_not_offered_over_http_unless_enabled(http_mcp, store: Store) -> None:
    tokens = make_tokens(store)
    app = create_app(AppContext(store=store), serve_options(workers=0))
    with LiveServer(app) as live, http_mcp(f"{live.url}/mcp", tokens["admin"]) as admin:
        tools = admin.tools()
        assert "create_plan" in tools
        assert not {"apply_run", "discard_run", "cancel_run", "create_destroy_plan", "halt"} & (
            set(tools)
        )
        assert "Unknown tool: halt" in admin.error("halt", reason="x")
