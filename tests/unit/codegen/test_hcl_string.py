"""`hcl_string` and `hcl_identifier`: exact escapes for hostile values.

The integration test `test_render_terraform.py` proves the same values round-trip through the
real terraform binary unchanged.
"""

from __future__ import annotations

import pytest

from tfctl import errors
from tfctl.codegen import hcl_identifier, hcl_string


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("", '""'),
        ("plain", '"plain"'),
        ('"} resource "x" "y" {', r'"\"} resource \"x\" \"y\" {"'),
        ('${file("/etc/passwd")}', r'"$${file(\"/etc/passwd\")}"'),
        ("%{ if true }x%{ endif }", '"%%{ if true }x%%{ endif }"'),
        ("$${already}", '"$$${already}"'),
        ("%%{already}", '"%%%{already}"'),
        ("$ and % and { alone", '"$ and % and { alone"'),
        ("C:\\temp\\new", r'"C:\\temp\\new"'),
        ("trailing\\", r'"trailing\\"'),
        ("a\nb\r\nc\td", r'"a\nb\r\nc\td"'),
        (
            "bell\x07 nul\x00 esc\x1b del\x7f c1\x85",
            r'"bell\u0007 nul\u0000 esc\u001b del\u007f c1\u0085"',
        ),
        ("line\u2028para\u2029", r'"line\u2028para\u2029"'),
        ("héllo wörld 😀 日本", '"héllo wörld 😀 日本"'),
    ],
)
def test_hcl_string_escapes_hostile_values(value: str, rendered: str) -> None:
    assert hcl_string(value) == rendered


def test_hcl_string_output_is_one_line_without_bare_quotes_or_templates() -> None:
    hostile = '"\n${x}%{y}\\"}\n#'
    inner = hcl_string(hostile)[1:-1]
    assert "\n" not in inner
    # Every quote is escaped, every template opener doubled.
    assert inner.replace('\\"', "").count('"') == 0
    assert "${" not in inner.replace("$${", "")
    assert "%{" not in inner.replace("%%{", "")


@pytest.mark.parametrize("name", ["a", "greeting", "_private", "with-dash", "x1_y2", "A"])
def test_hcl_identifier_accepts_identifiers(name: str) -> None:
    assert hcl_identifier(name) == name


@pytest.mark.parametrize(
    "name", ["", "1st", "-dash", "has space", 'q"uote', "a.b", "a}", "${x}", "é", "a\n"]
)
def test_hcl_identifier_rejects_anything_else(name: str) -> None:
    with pytest.raises(errors.InvalidSpec, match="not a valid Terraform name"):
        hcl_identifier(name)
