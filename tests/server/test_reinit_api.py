"""`reinit` in the API's run-create body: the queued plan runs `terraform init` again where
a worker (here the server's embedded slot) executes it (runs/workdir.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from serverkit import Api, files_setup

pytestmark = pytest.mark.terraform


def init_lines(api: Api, run_id: str) -> list[str]:
    page = api.get(f"/terraform/runs/{run_id}/logs", role="viewer").json()
    return [line["text"] for line in page["lines"] if line["text"].startswith("init")]


def test_a_plan_queued_with_reinit_inits_again(api: Api, tmp_path: Path) -> None:
    files_setup(api.store, tmp_path)
    first = api.post("/terraform/workspaces/dev/runs", role="operator", json={"operation": "plan"})
    first_id = api.wait(first.json()["id"], "awaiting_approval")["id"]
    assert init_lines(api, first_id)[0].startswith("init: first run of this workspace here")

    again = api.post("/terraform/workspaces/dev/runs", role="operator",
                     json={"operation": "plan"})  # fmt: skip
    again_id = api.wait(again.json()["id"], "awaiting_approval")["id"]
    assert init_lines(api, again_id)[0].startswith("init skipped:")

    body = {"operation": "plan", "reinit": True}
    reinit = api.post("/terraform/workspaces/dev/runs", role="operator", json=body)
    assert reinit.status_code == 202
    reinit_id = api.wait(reinit.json()["id"], "awaiting_approval")["id"]
    assert init_lines(api, reinit_id)[0].startswith("init: --reinit")
