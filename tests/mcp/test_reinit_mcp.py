"""MCP's create_plan with `reinit`: the queued plan runs `terraform init` again where a
worker executes it, although nothing init depends on changed (runs/workdir.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from filestack import files_workspace, push_files
from tfctl.persistence.db import Store

pytestmark = pytest.mark.terraform


def init_line(mcp: Any, run_id: str) -> str:
    lines = mcp.call("get_run_logs", run_id=run_id, limit=1000)["lines"]
    (line,) = [entry["text"] for entry in lines if entry["text"].startswith("init")]
    return str(line)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_create_plan_with_reinit_inits_again(
    stdio_mcp: Any, burst_worker: Any, store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    push_files(store, tmp_path, names=["a"])
    files_workspace(store, "dev", out)
    with stdio_mcp() as mcp:
        first = mcp.call("create_plan", workspace="dev")
        burst_worker()
        again = mcp.call("create_plan", workspace="dev")
        burst_worker()
        reinit = mcp.call("create_plan", workspace="dev", reinit=True)
        burst_worker()
        assert init_line(mcp, first["id"]).startswith("init: first run of this workspace here")
        assert init_line(mcp, again["id"]).startswith("init skipped:")
        assert init_line(mcp, reinit["id"]).startswith("init: --reinit")
