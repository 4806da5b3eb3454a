"""Reading conftest rule values, enforcement levels, policy sources and Rego package names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfctl import errors
from tfctl.policy.engines import _rego_ref, _regorus_diagnostic
from tfctl.policy.model import EnforcementLevel, parse_level, rule_messages, unique
from tfctl.policy.sources import package_path, resolve_source


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        (False, []),
        ([], []),
        (["a", "b"], ["a", "b"]),
        ([{"msg": "object form", "details": {"x": 1}}], ["object form"]),
        ({"msg": "single object"}, ["single object"]),
        ("single string", ["single string"]),
        (True, ["data.main.deny is true"]),
        ({"k1": "from a partial object", "k2": {"msg": "m2"}}, ["from a partial object", "m2"]),
        ([{"no": "msg"}], ['{"no": "msg"}']),
        ([3], ["3"]),
    ],
)
def test_rule_values_read_as_conftest_reads_them(value: object, expected: list[str]) -> None:
    assert rule_messages("data.main", "deny", value) == expected


def test_messages_keep_their_order_without_repeats() -> None:
    assert unique(["b", "a", "b", "c", "a"]) == ("b", "a", "c")


def test_levels_are_parsed_or_refused_in_one_line() -> None:
    assert parse_level("soft_mandatory") is EnforcementLevel.SOFT_MANDATORY
    with pytest.raises(errors.InvalidInput, match="unknown enforcement level") as raised:
        parse_level("strict")
    assert "advisory, soft_mandatory, hard_mandatory" in str(raised.value)
    assert raised.value.exit_code == 2
    with pytest.raises(errors.InvalidInput, match="--level is required"):
        parse_level(None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("package main\n", ("main",)),
        ("# package nope\n\npackage terraform.aws.s3 # comment\n", ("terraform", "aws", "s3")),
        ('package a["b-c"].d\n', ("a", "b-c", "d")),
        ("  package indented\n", ("indented",)),
        ("deny := true\n", None),
        ("package a..b\n", None),
    ],
)
def test_package_path(text: str, expected: tuple[str, ...] | None) -> None:
    assert package_path(text) == expected


def test_regorus_package_names_become_queries() -> None:
    assert _rego_ref("data.terraform.files") == "data.terraform.files"
    assert _rego_ref("data.a.b-c") == 'data.a["b-c"]'


def test_sources_are_absolute_paths_or_file_uris(tmp_path: Path) -> None:
    assert resolve_source("p/x.rego", cwd=tmp_path) == tmp_path / "p" / "x.rego"
    assert resolve_source(f"file://{tmp_path}/a%20b.rego") == tmp_path / "a b.rego"
    with pytest.raises(errors.InvalidInput, match="only local paths and file:// URIs"):
        resolve_source("https://example.com/policy.rego")


def test_engine_errors_become_file_line_column_and_message() -> None:
    raw = RuntimeError(
        "\n--> /p/bad.rego:5:7\n  |\n5 |   msg := \n  |       ^\n"
        "error: expecting `}` while parsing set\n\nStack backtrace:\n   0: anyhow::..."
    )
    diagnostic = _regorus_diagnostic(raw)
    assert diagnostic.describe("compile error") == (
        "compile error in /p/bad.rego, line 5, column 7: expecting `}` while parsing set"
    )
    assert _regorus_diagnostic(RuntimeError("not a valid rule path")).describe("x") == (
        "x: not a valid rule path"
    )
