"""A policy as the in-process engine parses it: one `Module` per file with its package,
imports, rule heads and syntax tree (regorus `get_ast_as_json`), and the calls in it.

The tree is regorus's JSON: every expression is a one-key object (`{"Call": {...}}`), every
node has a `span` with the line, column and the byte offsets `start`/`end` into the file's
UTF-8 text (a string literal's span covers its content, not its quotes). `Module.text_of`
reads the source of a node, which is what rewrites (`tfctl.policy.compat`) edit.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tfctl.policy.sources import PolicyFile

Node = Mapping[str, Any]
_LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)")
_ERROR_LINE = re.compile(r"^error:\s*(?P<message>.+)$", re.MULTILINE)
_WARNING_START = re.compile(r"^-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)\s*$")
_WARNING_LINE = re.compile(r"^warning:\s*(?P<message>.+)$")
_STDERR = threading.Lock()


class ParseError(Exception):
    """Neither Rego dialect parses the policy; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """Where and why a policy failed, from an engine's error text."""

    message: str
    file: str | None = None
    line: int = 0
    column: int = 0

    def describe(self, what: str) -> str:
        where = f" in {self.file}, line {self.line}, column {self.column}" if self.file else ""
        return f"{what}{where}: {self.message}"


def regorus_diagnostic(exc: BaseException) -> Diagnostic:
    """regorus's error text (`--> FILE:LINE:COL`, the source, `error: MESSAGE`, a Rust
    backtrace) as a `Diagnostic`."""
    text = str(exc).split("Stack backtrace:")[0]
    location, error = _LOCATION.search(text), _ERROR_LINE.search(text)
    message = error["message"].strip() if error else " ".join(text.split())
    if location is None:
        return Diagnostic(message or type(exc).__name__)
    return Diagnostic(message, location["file"], int(location["line"]), int(location["col"]))


def furthest(files: Sequence[PolicyFile], *found: Diagnostic) -> Diagnostic:
    """When neither Rego dialect parses a policy, the one that got further into it is the
    one its author wrote: report that one's error (the first on a tie, v1)."""
    order = [str(f.path) for f in files]

    def position(d: Diagnostic) -> tuple[int, int, int]:
        return (order.index(d.file) if d.file in order else -1, d.line, d.column)

    return max(found, key=position)


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule head: `name` is the first segment of its reference (`deny` in `deny contains
    msg`, `a` in `a.b.c := 1`); `kind` is `set` (`deny contains x`, v0 `deny[x] {`),
    `object` (`p[k] := v`, and `p[k] if` in Rego v1), `complete` (`p := v`, `p if`),
    `function` or `default`."""

    name: str
    kind: str
    line: int
    ref_head: bool = False  # the head is a longer reference: `deny.x contains msg`


@dataclass(frozen=True, slots=True)
class Module:
    file: PolicyFile
    source: bytes
    package: tuple[str, ...]
    rego_v1: bool
    imports: Mapping[str, tuple[str, ...]]  # the name an import binds → its full path
    rules: tuple[Rule, ...]
    ast: Node = field(repr=False)

    @property
    def namespace(self) -> str:
        """The package as conftest names namespaces: `main`, `terraform.aws`."""
        return ".".join(self.package)

    def text_of(self, node: Node) -> str:
        span = body(node)["span"] if "span" not in node else node["span"]
        return self.source[span["start"] : span["end"]].decode()


@dataclass(frozen=True, slots=True)
class CallSite:
    """A function call, with the statement and query (body) it appears in."""

    module: Module
    call: Node  # the Call's body: span, fcn, params
    statement: Node | None
    query: Node | None

    @property
    def name(self) -> tuple[str, ...] | None:
        """The function's reference as segments (`("regex", "match")`), or None."""
        return ref_path(self.call["fcn"])

    @property
    def line(self) -> int:
        return int(body(root(self.call["fcn"]))["span"]["line"])

    @property
    def column(self) -> int:
        return int(body(root(self.call["fcn"]))["span"]["col"])


@dataclass(frozen=True, slots=True)
class Parsed:
    """A policy's modules, whether it needed Rego v0, and the parser's warnings (file,
    line, column, message), which regorus would otherwise print to stderr."""

    modules: tuple[Module, ...]
    rego_v0: bool
    warnings: tuple[Diagnostic, ...] = ()


def parse(files: Sequence[PolicyFile], regorus: Any) -> Parsed:
    """Parse `files` as Rego v1, else as Rego v0 (conftest policies written for OPA before
    1.0). `ParseError` when neither parses: the error of the dialect that got further into
    the files is the one reported."""
    found = []
    for rego_v0 in (False, True):
        engine = regorus.Engine()
        engine.set_rego_v0(rego_v0)
        with parser_warnings() as warnings:
            try:
                for file in files:
                    engine.add_policy(str(file.path), file.text)
            except RuntimeError as exc:
                found.append(regorus_diagnostic(exc))
                continue
        trees = json.loads(engine.get_ast_as_json())
        return Parsed(modules(files, trees), rego_v0, tuple(dict.fromkeys(warnings)))
    raise ParseError(furthest(files, *found).describe("compile error"))


@contextlib.contextmanager
def parser_warnings() -> Iterator[list[Diagnostic]]:
    """Collect the warnings regorus writes to the process's stderr (file descriptor 2, from
    Rust) while loading policies — one block per use of a construct, dozens for one file —
    into the list yielded, filled on exit. Whatever else reached stderr meanwhile (another
    thread) is written back. One capture at a time, process-wide."""
    found: list[Diagnostic] = []
    with _STDERR, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield found
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            other = _split_warnings(sink.read().decode(errors="replace"), found)
            if other:
                sys.stderr.write(other)


def _split_warnings(text: str, found: list[Diagnostic]) -> str:
    """Parse regorus's warning blocks (`--> FILE:LINE:COL`, the source, `warning: …`) into
    `found`; return the rest of `text`."""
    rest: list[str] = []
    block: list[str] = []
    where: re.Match[str] | None = None
    for line in text.splitlines(keepends=True):
        start = _WARNING_START.match(line.rstrip("\n"))
        if start is not None:
            rest.extend(block)
            block, where = [line], start
            continue
        if where is None:
            rest.append(line)
            continue
        block.append(line)
        warning = _WARNING_LINE.match(line.strip())
        if warning is not None:
            found.append(Diagnostic(warning["message"].strip(), where["file"], int(where["line"]),
                                    int(where["col"])))  # fmt: skip
            block, where = [], None
    rest.extend(block)
    return "".join(line for line in rest if line.strip())


def modules(files: Sequence[PolicyFile], trees: Sequence[Node]) -> tuple[Module, ...]:
    by_name = {str(file.path): file for file in files}
    return tuple(_module(by_name[tree["source"]["file"]], tree) for tree in trees)


def _module(file: PolicyFile, tree: Node) -> Module:
    ast, source = tree["ast"], file.text.encode()
    return Module(
        file=file, source=source, package=ref_path(ast["package"]["refr"]) or (),
        rego_v1=bool(ast.get("rego_v1")), imports=dict(_imports(ast, source)),
        rules=tuple(_rule(rule) for rule in ast["rules"]), ast=ast,
    )  # fmt: skip


def _imports(ast: Node, source: bytes) -> Iterator[tuple[str, tuple[str, ...]]]:
    """`import data.a.b` binds `b`, `import data.a.b as c` binds `c` (the `as` name is read
    from the text: the tree only has its span)."""
    for item in ast.get("imports") or ():
        path = ref_path(item["refr"])
        if not path or path[0] not in ("data", "input") or len(path) < 2:
            continue  # rego.v1, future.keywords
        alias = item.get("as")
        name = source[alias["start"] : alias["end"]].decode() if alias else path[-1]
        yield name, path


def _rule(rule: Node) -> Rule:
    rule_kind, spec = next(iter(rule.items()))
    if rule_kind == "Default":
        return Rule(_name(spec["refr"]), "default", spec["span"]["line"], _depth(spec["refr"]) > 1)
    head_kind, head = next(iter(spec["head"].items()))
    refr, line = head["refr"], head["span"]["line"]
    name, depth = _name(refr), _depth(refr)
    if head_kind == "Set":
        return Rule(name, "set", line, depth > 1)
    if head_kind == "Func":
        return Rule(name, "function", line, depth > 1)
    if kind(refr) == "RefBrack" and depth == 2:  # p[k] := v
        return Rule(name, "object", line)
    return Rule(name, "complete", line, depth > 1)


def _name(refr: Node) -> str:
    return str(body(root(refr)).get("value", ""))


def _depth(refr: Node) -> int:
    return 1 + _depth(body(refr)["refr"]) if kind(refr) in ("RefDot", "RefBrack") else 1


# --- reading the tree -------------------------------------------------------------------------


def kind(node: Node) -> str:
    return next(iter(node))


def body(node: Node) -> Node:
    return next(iter(node.values()))


def root(node: Node) -> Node:
    """The first name of a reference (`a` in `a.b[c]`), or the node itself."""
    return root(body(node)["refr"]) if kind(node) in ("RefDot", "RefBrack") else node


def ref_path(node: Node) -> tuple[str, ...] | None:
    """`a.b["c"].d` as `("a", "b", "c", "d")`; None for anything that is not a reference
    made of names and string keys."""
    match kind(node):
        case "Var":
            return (body(node)["value"],)
        case "RefDot":
            head = ref_path(body(node)["refr"])
            return None if head is None else (*head, body(node)["field"][1])
        case "RefBrack":
            head, index = ref_path(body(node)["refr"]), body(node)["index"]
            if head is None or kind(index) not in ("String", "RawString"):
                return None
            return (*head, body(index)["value"])
    return None


def calls(module: Module) -> Iterator[CallSite]:
    """Every call in the module, outermost first, with its statement and query."""
    yield from _calls(module, module.ast["rules"], None, None)


def _calls(
    module: Module, node: Any, statement: Node | None, query: Node | None
) -> Iterator[CallSite]:
    if isinstance(node, list):
        for item in node:
            yield from _calls(module, item, statement, query)
        return
    if not isinstance(node, Mapping):
        return
    if "stmts" in node:  # a query: its statements
        for stmt in node["stmts"]:
            yield from _calls(module, stmt, stmt, node)
        return
    if "Call" in node and len(node) == 1:
        yield CallSite(module, node["Call"], statement, query)
    for key, value in node.items():
        if key != "span":
            yield from _calls(module, value, statement, query)


def statement_expr(statement: Node | None) -> Node | None:
    """The expression of a plain statement (not `some`, `every`, `not`), or None."""
    if statement is None:
        return None
    literal = statement.get("literal") or {}
    return literal.get("Expr", {}).get("expr") if isinstance(literal, Mapping) else None


def string_value(node: Node) -> str | None:
    """The value of a string literal node (quoted or raw), else None."""
    return body(node)["value"] if kind(node) in ("String", "RawString") else None
