"""What the in-process engine (regorus) evaluates differently from OPA, and what tfctl does
about it: each construct is rewritten so that regorus gives OPA's answer (checked by
evaluating the rewritten policy), or refused with the file, line and what to write.

OPA's answers are the ones its documentation and `opa eval` give: a built-in error makes the
expression undefined (unless --strict-builtin-errors), `walk(x)` in function form yields every
path and value, `lib.f(x)` calls the imported package's function, `sprintf` is Go's fmt."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import regorus

from tfctl.policy import rego_ast
from tfctl.policy.compat import PRELUDE_FILE, Compat, make_compatible, parse_format
from tfctl.policy.engines import RegorusEngine
from tfctl.policy.model import Action, Finding, summarise
from tfctl.policy.sources import PolicyFile

BUILTINS = RegorusEngine(regorus).builtins()
LIB = """package lib.aws

import rego.v1

is_public(r) if r.change.after.acl == "public-read"
"""


def policy(text: str, *more: tuple[str, str]) -> tuple[rego_ast.Module, ...]:
    files = [PolicyFile(Path(f"/p/{name}"), body, hashlib.sha256(body.encode()).hexdigest())
             for name, body in (("main.rego", text), *more)]  # fmt: skip
    return rego_ast.parse(files, regorus).modules


def evaluate(compat: Compat, doc: Any, query: str = "data.main.deny", *, v0: bool = False) -> Any:
    engine = regorus.Engine()
    engine.set_rego_v0(v0)
    for name, text in compat.sources:
        engine.add_policy(name, text)
    engine.set_input_json(json.dumps(doc))
    result = json.loads(engine.eval_query_as_json(query)).get("result")
    return result[0]["expressions"][0]["value"] if result else None


def only(compat: Compat, action: Action) -> list[Finding]:
    return [f for f in compat.findings if f.action is action]


def text_of(compat: Compat) -> str:
    return dict(compat.sources)["/p/main.rego"]


PLAN = {"resource_changes": [
    {"address": "module.web.aws_s3_bucket.logs", "type": "aws_s3_bucket",
     "change": {"actions": ["create"], "after": {"acl": "public-read", "tags": None}}},
    {"address": "aws_s3_bucket.ok", "type": "aws_s3_bucket",
     "change": {"actions": ["create"], "after": {"acl": "private", "tags": {"team": "a"}}}},
]}  # fmt: skip


# --- walk -------------------------------------------------------------------------------------


def test_the_walk_function_form_is_rewritten_to_the_relation_form() -> None:
    """regorus yields nothing for `[path, value] := walk(x)`: the resource inside a module
    would pass silently."""
    compat = make_compatible(
        policy("""package main
import rego.v1

deny contains msg if {
	[path, value] := walk(input.resource_changes)
	value.acl == "public-read"
	msg := sprintf("public at %v", [path])
}
"""),
        BUILTINS,
    )
    assert "\twalk(input.resource_changes, __tfctl_walk1); [path, value] := __tfctl_walk1\n" in (
        text_of(compat)
    )
    assert evaluate(compat, PLAN) == ['public at [0, "change", "after"]']
    (rewritten,) = only(compat, Action.REWRITTEN)
    assert (rewritten.line, rewritten.construct) == (5, "walk function form")


def test_walk_as_a_value_elsewhere_is_refused() -> None:
    compat = make_compatible(
        policy("""package main

deny[msg] {
	msg := sprintf("%v", [walk(input)])
}
"""),
        BUILTINS,
    )
    (refused,) = compat.refused
    assert refused.describe() == (
        "/p/main.rego:4: walk(x) used as a value; the in-process engine yields nothing for it: "
        "write the relation form `walk(x, [path, value])`"
    )


# --- calls through imports --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("imports", "call"),
    [("import data.lib.aws as lib", "lib.is_public(r)"),
     ("import data.lib.aws", "aws.is_public(r)"),
     ("import data.lib", "lib.aws.is_public(r)"),
     ("import data.lib.aws.is_public", "is_public(r)")],
)  # fmt: skip
def test_a_function_called_through_an_import_is_called_by_its_full_path(
    imports: str, call: str
) -> None:
    compat = make_compatible(policy(f"""package main
import rego.v1
{imports}

deny contains r.address if {{
	some r in input.resource_changes
	{call}
}}
""", ("lib.rego", LIB)), BUILTINS)  # fmt: skip
    assert "\tdata.lib.aws.is_public(r)\n" in text_of(compat)
    assert evaluate(compat, PLAN) == ["module.web.aws_s3_bucket.logs"]
    assert [f.construct for f in compat.findings] == [
        f"call through an import alias: {call.split('(')[0]}"
    ]


def test_a_function_no_file_defines_and_built_ins_regorus_lacks_or_fakes_are_refused() -> None:
    compat = make_compatible(policy("""package main
import rego.v1
import data.lib.aws

deny contains "x" if aws.is_privat(input)

deny contains "y" if net.cidr_merge(["10.0.0.0/8"])

deny contains "z" if helper(input)

deny contains "w" if http.send({"method": "get", "url": input.url}).status_code != 200
""", ("lib.rego", LIB)), BUILTINS)  # fmt: skip
    assert [(f.line, f.construct, f.advice) for f in compat.refused] == [
        (5, "call to data.lib.aws.is_privat", "no file of the policy defines this function"),
        (7, "call to net.cidr_merge", "not a built-in of the in-process engine (regorus): put "
                                      "`opa` on PATH to use it, or use another built-in"),
        (9, "call to helper", "not a built-in of the in-process engine (regorus): put `opa` on "
                              "PATH to use it, or use another built-in"),
        (11, "call to http.send", "the in-process engine never sends the request (the call is "
                                  "undefined): put `opa` on PATH to use it"),
    ]  # fmt: skip


# --- built-ins given null ---------------------------------------------------------------------

NULL_SAFE = """package main
import rego.v1

deny contains sprintf("%s has no tags", [rc.address]) if {
	some rc in input.resource_changes
	count(rc.change.after.tags) == 0
}

deny contains sprintf("%s: acl %s", [rc.address, rc.change.after.acl]) if {
	some rc in input.resource_changes
	not regex.match("^(private|public-read)$", rc.change.after.acl)
}

warn contains rc.address if {
	some rc in input.resource_changes
	upper(rc.change.after.tags.team) == "A"
}
"""


def test_built_ins_given_null_are_undefined_as_with_opa() -> None:
    """`count(null)`, `regex.match(p, null)`, `upper(null)`: regorus raises; OPA makes the
    expression undefined, so a compliant plan passes and the rest is still reported."""
    modules = policy(NULL_SAFE)
    plain = regorus.Engine()
    plain.add_policy("/p/main.rego", NULL_SAFE)
    plain.set_input_json(json.dumps(PLAN))
    with pytest.raises(RuntimeError, match="`count` requires array/object/set/string argument"):
        plain.eval_query("data.main.deny")

    compat = make_compatible(modules, BUILTINS)
    assert evaluate(compat, PLAN) == []
    assert evaluate(compat, PLAN, "data.main.warn") == ["aws_s3_bucket.ok"]
    nulls = {"resource_changes": [{"address": "a.b", "change": {"after": {"acl": None}}}]}
    assert evaluate(compat, nulls) == ["a.b: acl null"]  # `not` of undefined: reported
    assert [f.construct for f in only(compat, Action.REWRITTEN)] == [
        "null-safe built-in: count", "null-safe built-in: regex.match",
        "null-safe built-in: upper",
    ]  # fmt: skip
    assert PRELUDE_FILE in dict(compat.sources)


def test_a_guard_is_never_stricter_than_opa() -> None:
    """What OPA accepts still gets its value: count of a string, of an object, of a set."""
    compat = make_compatible(policy("""package main
import rego.v1

r := [count(input.s), count(input.o), count({x | some x in input.a}), upper(input.s)]
"""), BUILTINS)  # fmt: skip
    assert evaluate(compat, {"s": "héllo", "o": {"a": 1}, "a": [1, 1, 2]}, "data.main.r") == [
        5, 1, 2, "HÉLLO",
    ]  # fmt: skip


def test_calls_that_cannot_fail_and_the_packages_own_functions_are_left_alone() -> None:
    source = """package main

contains(arr, elem) {
	arr[_] = elem
}

deny[msg] {
	contains(input.tags, "public")
	n := count([t | t := input.tags[_]])
	msg := sprintf("%d tags, one public", [n])
}
"""
    compat = make_compatible(policy(source), BUILTINS)
    assert compat.findings == ()
    assert compat.sources == (("/p/main.rego", source),)  # no prelude either
    assert evaluate(compat, {"tags": ["public", "x"]}, v0=True) == ["2 tags, one public"]


# --- sprintf ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "actions"),
    [("%s %v %d %5d %05d %.2f %%", ["ok"] * 7),
     ("%q", ["quote"]), ("%-40s", ["pad"]), ("%10v", ["lpad"]),
     ("%t %x %+d %e %[1]s %*d %-5d %8.2f %#v %T %o", ["refuse"] * 11)],
)  # fmt: skip
def test_sprintf_verbs_are_classified(fmt: str, actions: list[str]) -> None:
    assert [verb.action for verb in parse_format(fmt)] == actions


def test_sprintf_q_and_widths_are_printed_as_opa_prints_them() -> None:
    """regorus raises on %q, prints `40s` for %-40s (dropping the argument) and ignores %10s;
    Go pads to the width and quotes with escapes."""
    compat = make_compatible(policy("""package main
import rego.v1

deny contains msg if {
	some rc in input.resource_changes
	message := "%-35s :: acl %q, [%8s] 100%%"
	msg := sprintf(message, [rc.address, rc.change.after.acl, "x"])
}
"""), BUILTINS)  # fmt: skip
    assert sorted(evaluate(compat, PLAN)) == [
        'aws_s3_bucket.ok                    :: acl "private", [       x] 100%',
        'module.web.aws_s3_bucket.logs       :: acl "public-read", [       x] 100%',
    ]
    (rewritten,) = compat.findings
    assert rewritten.construct == "sprintf %-35s, %q, %8s"


def test_sprintf_verbs_printed_differently_are_refused_with_what_to_write() -> None:
    compat = make_compatible(policy("""package main
import rego.v1

deny contains sprintf("%t: %x", [input.a, input.b]) if true
"""), BUILTINS)  # fmt: skip
    assert [f.describe() for f in compat.refused] == [
        f"/p/main.rego:4: sprintf verb {verb}; the in-process engine prints it differently from "
        "OPA (or fails): write %v, %s, %d or %.2f"
        for verb in ("%t", "%x")
    ]


def test_a_width_with_arguments_that_are_not_a_literal_array_is_refused() -> None:
    compat = make_compatible(policy("""package main
import rego.v1

deny contains sprintf("%-20s!", args) if args := [input.a]
"""), BUILTINS)  # fmt: skip
    (refused,) = compat.refused
    assert refused.advice.endswith("write %s, or list the arguments")


def test_a_computed_format_is_noted_as_unchecked() -> None:
    compat = make_compatible(policy("""package main
import rego.v1

deny contains sprintf(data.formats.public, [input.a]) if true
"""), BUILTINS)  # fmt: skip
    (unchecked,) = only(compat, Action.UNCHECKED)
    assert unchecked.construct == "sprintf format: not a literal"
    assert compat.refused == ()


def test_rewrites_never_add_a_line() -> None:
    modules = policy(NULL_SAFE)
    compat = make_compatible(modules, BUILTINS)
    assert text_of(compat).count("\n") == NULL_SAFE.count("\n")


def test_to_number_of_text_that_is_no_number_is_undefined_as_with_opa() -> None:
    """A fallback written for OPA (`else` when to_number fails) gets its fallback."""
    compat = make_compatible(policy("""package main

number_or_text(s) = n {
	n := to_number(s)
} else = s {
	true
}

r := [number_or_text("1.5"), number_or_text("-2e3"), number_or_text("1.2.3"),
	number_or_text("text"), number_or_text(" 1"), number_or_text(null)]
"""), BUILTINS)  # fmt: skip
    assert evaluate(compat, {}, "data.main.r", v0=True) == [1.5, -2000, "1.2.3", "text", " 1", 0]


def test_parser_warnings_are_collected_not_printed(capfd: pytest.CaptureFixture[str]) -> None:
    """regorus prints a warning block to stderr per use of `every` as a name in Rego v0 —
    dozens for one file; they become findings, summarised in one line."""
    text = "package main\n\nevery(xs) {\n\tcount(xs) > 0\n}\n\ndeny[m] {\n\tevery([1])\n" + (
        "\tevery([2])\n" * 5) + '\tm := "x"\n}\n'  # fmt: skip
    files = [PolicyFile(Path("/p/main.rego"), text, hashlib.sha256(text.encode()).hexdigest())]
    parsed = rego_ast.parse(files, regorus)
    assert capfd.readouterr().err == ""
    assert parsed.rego_v0
    assert len(parsed.warnings) == 6  # one per use, repeats dropped
    assert [(w.line, w.message) for w in parsed.warnings][:2] == [
        (8, "`every` will be treated as identifier due to missing `import future.keywords.every`"),
        (9, "`every` will be treated as identifier due to missing `import future.keywords.every`"),
    ]
    findings = [Finding(w.file or "", w.line, w.column, w.message, "", Action.WARNING)
                for w in parsed.warnings]  # fmt: skip
    assert summarise(findings) == (
        f"in-process engine: {len(findings)} parser warnings: `every` will be treated as "
        "identifier due to missing `import future.keywords.every`"
    )
