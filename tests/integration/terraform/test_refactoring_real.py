"""Moves, imports and forgets made with real terraform (1.11.4), shown and counted by tfctl.

First through tfctl's own path from a plan to the table (TerraformExecutor: plan, show -json;
read_plan; print_summary), checked against terraform's own "Plan:" line and applied; then
through `tfctl plan` / `tfctl apply` on a workspace, on SQLite and on PostgreSQL: a plan whose
only change is a `moved` block awaits approval, is shown and counted, and applies.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from clihelp import ok, tfctl
from tfctl.cli.progress import print_summary
from tfctl.terraform.commands import ApplyOptions, PlanOptions, TerraformEnv
from tfctl.terraform.runner import TerraformExecutor
from tfctl.terraform.summary import read_plan

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH"),
]

OLD = 'resource "terraform_data" "old" { input = "kept" }'
GONE = 'resource "terraform_data" "gone" { input = "left alone" }'
MOVED = """
resource "terraform_data" "new" { input = "kept" }
moved {
  from = terraform_data.old
  to   = terraform_data.new
}
"""
IMPORTED = """
resource "terraform_data" "adopted" {}
import {
  to = terraform_data.adopted
  id = "made-elsewhere"
}
"""
IMPORTED_AND_SET = """
resource "terraform_data" "adopted" { input = "now managed" }
import {
  to = terraform_data.adopted
  id = "made-elsewhere"
}
"""
FORGOTTEN = """
removed {
  from = terraform_data.gone
  lifecycle { destroy = false }
}
"""


@dataclass(frozen=True)
class Refactoring:
    before: str
    after: str
    rows: list[str]
    counts: str
    state_after: list[str]


REFACTORINGS = {
    "move": Refactoring(
        OLD, MOVED,
        ["move terraform_data.old -> terraform_data.new"],
        "Plan: 0 to add, 0 to change, 0 to destroy, 0 to replace, 1 to move.",
        ["terraform_data.new"],
    ),
    "import": Refactoring(
        "", IMPORTED,
        ["import terraform_data.adopted"],
        "Plan: 1 to import, 0 to add, 0 to change, 0 to destroy, 0 to replace.",
        ["terraform_data.adopted"],
    ),
    "import-and-update": Refactoring(
        "", IMPORTED_AND_SET,
        ["import+update terraform_data.adopted"],
        "Plan: 1 to import, 0 to add, 1 to change, 0 to destroy, 0 to replace.",
        ["terraform_data.adopted"],
    ),
    "forget": Refactoring(
        GONE, FORGOTTEN,
        ["forget terraform_data.gone"],
        "Plan: 0 to add, 0 to change, 0 to destroy, 0 to replace, 1 to forget.",
        [],
    ),
    "all-at-once": Refactoring(
        OLD + "\n" + GONE, MOVED + IMPORTED_AND_SET + FORGOTTEN,
        [
            "import+update terraform_data.adopted",
            "forget        terraform_data.gone",
            "move          terraform_data.old -> terraform_data.new",
        ],
        "Plan: 1 to import, 0 to add, 1 to change, 0 to destroy, 0 to replace, 1 to move, "
        "1 to forget.",
        ["terraform_data.adopted", "terraform_data.new"],
    ),
}  # fmt: skip


@pytest.fixture
def executor(tmp_path: Path) -> TerraformExecutor:
    config = tmp_path / "empty.tfrc"
    config.write_text("")
    return TerraformExecutor(TerraformEnv(cli_config_file=str(config)))


def table(summary: dict[str, Any]) -> list[str]:
    console = Console(file=io.StringIO(), width=120, no_color=True)
    print_summary(console, summary)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue().splitlines()


def state_addresses(executor: TerraformExecutor, cwd: Path) -> list[str]:
    executor.show_json(cwd, None, cwd / "state.json")
    values = json.loads((cwd / "state.json").read_text()).get("values") or {}
    return sorted(r["address"] for r in (values.get("root_module") or {}).get("resources", ()))


@pytest.mark.parametrize("case", REFACTORINGS.values(), ids=list(REFACTORINGS))
def test_a_refactoring_is_shown_counted_and_applied(
    executor: TerraformExecutor, tmp_path: Path, case: Refactoring
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "main.tf").write_text(case.before)
    executor.init(cwd)
    executor.apply(cwd, ApplyOptions(auto_approve=True))
    (cwd / "main.tf").write_text(case.after)
    said: list[str] = []

    planned = executor.plan(
        cwd,
        PlanOptions(out="tfplan", detailed_exitcode=True),
        on_line=lambda _, line: said.append(line),
    )
    executor.show_json(cwd, "tfplan", cwd / "plan.json")
    summary, _ = read_plan(cwd / "plan.json")

    assert planned.exit_code == 2  # terraform: this plan has changes
    assert summary.has_changes
    shown = table(summary.to_json_dict())
    assert shown == [*case.rows, case.counts]
    # tfctl's counts line is terraform's, then tfctl's own counts
    [terraforms] = [line for line in said if line.startswith("Plan: ")]
    assert case.counts.startswith(terraforms.removesuffix(".") + ", ")

    executor.apply(cwd, ApplyOptions(plan_file="tfplan"))
    assert state_addresses(executor, cwd) == case.state_after
    assert executor.plan(cwd, PlanOptions(detailed_exitcode=True)).exit_code == 0


# --- through `tfctl plan` / `tfctl apply` on a workspace -----------------------------------------


def test_a_move_only_plan_awaits_approval_and_applies(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFCTL_DATABASE_URL", store_url)
    monkeypatch.setenv("CI", "true")
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text(OLD)
    spec = {"name": "refactor", "kind": "generic", "module_source": str(module)}
    (tmp_path / "refactor.json").write_text(json.dumps(spec))
    ok("init")
    ok("stack", "push", str(tmp_path / "refactor.json"))
    ok("workspace", "create", "dev", "--stack", "refactor")
    ok("apply", "dev", "--auto-approve")
    # the module is refactored where it lives: a rename, with a moved block
    (module / "main.tf").write_text(MOVED)

    planned = tfctl("plan", "dev", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert planned.stdout.splitlines()[:2] == [
        "move module.stack.terraform_data.old -> module.stack.terraform_data.new",
        "Plan: 0 to add, 0 to change, 0 to destroy, 0 to replace, 1 to move.",
    ]
    assert "awaits approval" in planned.stdout
    [plan] = json.loads(ok("runs", "list", "--status", "awaiting_approval", "--json"))
    assert (plan["summary"]["move"], plan["summary"]["has_changes"]) == (1, True)

    applied = json.loads(ok("apply", "dev", "--auto-approve", "--json"))
    assert (applied["status"], applied["parent_run_id"]) == ("applied", plan["id"])
    state = json.loads(ok("state", "show", "dev", "--json"))
    assert state["resources"] == ["module.stack.terraform_data.new"]
    assert tfctl("plan", "dev", "--detailed-exitcode").returncode == 0
