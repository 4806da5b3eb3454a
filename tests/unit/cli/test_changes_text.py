"""The CHANGES cell of `tfctl runs list`: a plan's changes in words a terraform user knows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tfctl.cli.progress import changes_text
from tfctl.terraform.summary import load_plan_summary

PLANS = Path(__file__).resolve().parents[2] / "fixtures" / "plans"


def summary(name: str) -> dict[str, Any]:
    return load_plan_summary(PLANS / name).to_json_dict()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("summary_create.json", "+14 ~0 -0"),
        ("summary_destroy.json", "+0 ~0 -14"),
        ("summary_mixed.json", "+1 ~5 -2 ±2"),
        ("summary_deposed.json", "+0 ~0 -1 ±1"),
        ("summary_refactor.json", "+0 ~1 -0, 1 to import, 1 to move, 1 to forget"),
        ("refactoring/moved_simple.json", "+0 ~0 -0, 1 to move"),
        ("refactoring/import_only.json", "+0 ~0 -0, 1 to import"),
        ("refactoring/forget_only.json", "+0 ~0 -0, 1 to forget"),
        ("summary_check_read.json", "+0 ~0 -0"),  # has changes: a data read terraform exits 2 for
        ("summary_no_changes.json", "-"),
        ("summary_refresh_clean.json", "-"),
    ],
)
def test_a_plans_changes_read_as_counts_and_words(name: str, text: str) -> None:
    assert changes_text(summary(name)) == text


@pytest.mark.parametrize("empty", [None, {}])
def test_a_run_without_a_summary_reads_as_a_dash(empty: dict[str, Any] | None) -> None:
    assert changes_text(empty) == "-"  # an apply, a failed or a queued plan


def test_a_summary_stored_before_moves_were_counted_shows_its_moves() -> None:
    old = summary("refactoring/moved_simple.json")
    del old["move"]

    assert changes_text(old) == "+0 ~0 -0, 1 to move"


def test_a_plan_that_changes_only_outputs_is_not_a_dash() -> None:
    outputs_only = {"has_changes": True, "outputs": [{"name": "url", "action": "update"}]}

    assert changes_text(outputs_only) == "+0 ~0 -0"
