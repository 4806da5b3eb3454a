"""Moves, imports and forgets in the plan table and its counts line, as terraform's own plan
shows them ("has moved to", "imported from", "will no longer be managed")."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tfctl.cli.progress import counts_line, print_summary
from tfctl.terraform.summary import load_plan_summary

PLANS = Path(__file__).resolve().parents[2] / "fixtures" / "plans"


def summary(name: str) -> dict[str, Any]:
    return load_plan_summary(PLANS / name).to_json_dict()


def printed(summary: dict[str, Any]) -> list[str]:
    console = Console(file=io.StringIO(), width=100, no_color=True)
    print_summary(console, summary)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue().splitlines()


def test_a_move_only_plan_shows_the_move_and_counts_it() -> None:
    assert printed(summary("refactoring/moved_simple.json")) == [
        "move terraform_data.first -> terraform_data.second",
        "Plan: 0 to add, 0 to change, 0 to destroy, 0 to replace, 1 to move.",
    ]


def test_an_import_only_plan_uses_terraforms_words() -> None:
    assert printed(summary("refactoring/import_only.json")) == [
        "import terraform_data.imp",
        "Plan: 1 to import, 0 to add, 0 to change, 0 to destroy, 0 to replace.",
    ]


def test_a_forget_only_plan_shows_the_forget_and_counts_it() -> None:
    assert printed(summary("refactoring/forget_only.json")) == [
        "forget terraform_data.gone",
        "Plan: 0 to add, 0 to change, 0 to destroy, 0 to replace, 1 to forget.",
    ]


@pytest.mark.parametrize(
    ("name", "row"),
    [
        ("moved_with_update.json", "move+update terraform_data.base -> terraform_data.moved"),
        ("import_with_update.json", "import+update terraform_data.imp"),
        ("moved_implicit_count.json", "move terraform_data.a -> terraform_data.a[0]"),
    ],
)
def test_a_move_or_import_that_also_changes_says_both(name: str, row: str) -> None:
    [shown, _] = printed(summary(f"refactoring/{name}"))

    assert shown == row


def test_drift_of_a_moved_object_names_both_addresses() -> None:
    # terraform: "base_after has changed (moved from base_before)", then "base_after will be
    # updated in-place (moved from base_before)".
    lines = printed(summary("refactoring/moved_with_drift.json"))

    assert lines == [
        "move+update  terraform_data.base_before -> terraform_data.base_after",
        "update       terraform_data.dependent",
        "drift:update terraform_data.base_before -> terraform_data.base_after",
        "Plan: 0 to add, 2 to change, 0 to destroy, 0 to replace, 1 to move.",
    ]


def test_a_refresh_only_plan_shows_a_move_it_found_as_drift() -> None:
    assert printed(summary("refactoring/moved_with_refresh_only.json")) == [
        "drift:move terraform_data.first -> terraform_data.second",
        "Plan: 0 to add, 0 to change, 0 to destroy, 0 to replace.",
    ]


def test_terraforms_captured_refactoring_plan_shows_every_object() -> None:
    # Terraform 1.11.4 printed for the same plan "Plan: 1 to import, 0 to add, 1 to change,
    # 0 to destroy." and a paragraph each for the move and the forget.
    assert printed(summary("summary_refactor.json")) == [
        "import+update terraform_data.adopted",
        "move          terraform_data.old_name -> terraform_data.new_name",
        "forget        terraform_data.retired",
        "Plan: 1 to import, 0 to add, 1 to change, 0 to destroy, 0 to replace, 1 to move, "
        "1 to forget.",
    ]


def test_a_summary_stored_before_moves_were_counted_still_counts_them() -> None:
    old = summary("refactoring/moved_simple.json")
    del old["move"]

    assert counts_line(old).endswith(", 1 to move.")


def test_no_op_resources_and_data_reads_get_no_row() -> None:
    lines = printed(summary("summary_check_read.json"))

    assert lines == ["Plan: 0 to add, 0 to change, 0 to destroy, 0 to replace."]
