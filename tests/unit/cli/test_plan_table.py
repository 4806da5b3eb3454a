"""The plan table printed after a plan and before an apply's confirmation."""

from __future__ import annotations

import io

from rich.console import Console

from tfctl.cli.progress import print_summary


def printed(summary: dict[str, object], *, terminal: bool = False, width: int = 60) -> str:
    console = Console(file=io.StringIO(), force_terminal=terminal, width=width, no_color=True)
    print_summary(console, summary)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def test_every_change_is_a_row_with_the_action_column_aligned() -> None:
    summary = {
        "add": 1, "destroy": 1, "replace": 1,
        "resources": [
            {"action": "create", "address": "terraform_data.a"},
            {"action": "no-op", "address": "terraform_data.same"},
            {"action": "replace", "address": "terraform_data.b"},
            {"action": "delete", "address": "terraform_data.c"},
        ],
        "drift": [{"action": "update", "address": "terraform_data.d"}],
        "outputs": [{"action": "create", "name": "url"}, {"action": "no-op", "name": "same"}],
    }  # fmt: skip
    assert printed(summary).splitlines() == [
        "create        terraform_data.a",
        "replace       terraform_data.b",
        "delete        terraform_data.c",
        "drift:update  terraform_data.d",
        "output:create url",
        "Plan: 1 to add, 0 to change, 1 to destroy, 1 to replace.",
    ]


def test_long_addresses_are_never_cut() -> None:
    address = 'module.network.module.subnets.terraform_data.subnet["' + "x" * 80 + '"]'
    summary = {"add": 1, "resources": [{"action": "create", "address": address}]}
    assert address in printed(summary, width=40).replace("\n", "")


def test_a_thousand_rows_all_printed() -> None:
    resources = [{"action": "create", "address": f"terraform_data.r[{i}]"} for i in range(1000)]
    lines = printed({"add": 1000, "resources": resources}, terminal=True).splitlines()
    assert len(lines) == 1001
    assert lines[999] == "create terraform_data.r[999]"


def test_no_changes_prints_only_the_counts() -> None:
    counts = "Plan: 0 to add, 0 to change, 0 to destroy, 0 to replace.\n"
    assert printed({"resources": []}) == counts
