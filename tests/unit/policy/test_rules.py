"""Reading conftest rule values, enforcement levels, policy sources and Rego package names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfctl import errors
from tfctl.policy.conftest import RuleShapeError, rule_messages
from tfctl.policy.engines import rego_ref
from tfctl.policy.model import EnforcementLevel, parse_level
from tfctl.policy.rego_ast import regorus_diagnostic
from tfctl.policy.sources import package_path, resolve_source


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], []),
        (["a", "b"], ["a", "b"]),
        ([{"msg": "object form", "details": {"x": 1}}], ["object form"]),
        (["plain", {"msg": "mixed"}], ["plain", "mixed"]),
    ],
)
def test_rule_values_read_as_conftest_reads_them(value: object, expected: list[str]) -> None:
    assert rule_messages("main", "deny", value) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (True, "data.main.deny is a boolean, not a set of messages"),
        ("single string", "data.main.deny is a string, not a set of messages"),
        ({"k": "partial object"}, "data.main.deny is an object, not a set of messages"),
        ([{"no": "msg"}], 'data.main.deny produced an object {"no": "msg"}: a message must be'),
        ([{"msg": 3}], "data.main.deny produced an object"),
        ([3], "data.main.deny produced a number 3"),
    ],
)
def test_values_conftest_would_silently_skip_fail_closed(value: object, problem: str) -> None:
    with pytest.raises(RuleShapeError) as raised:
        rule_messages("main", "deny", value)
    assert str(raised.value).startswith(problem)


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


def test_namespaces_become_queries() -> None:
    assert rego_ref("terraform.files") == "data.terraform.files"
    assert rego_ref("a.b-c") == 'data.a["b-c"]'


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
    diagnostic = regorus_diagnostic(raw)
    assert diagnostic.describe("compile error") == (
        "compile error in /p/bad.rego, line 5, column 7: expecting `}` while parsing set"
    )
    assert regorus_diagnostic(RuntimeError("not a valid rule path")).describe("x") == (
        "x: not a valid rule path"
    )
