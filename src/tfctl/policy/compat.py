"""Making the in-process engine (regorus) give OPA's answers, or refusing the policy.

regorus evaluates a few constructs that real policies use differently from OPA (measured on
public policy suites, TERRAFORM-FACTS.md). Each is found in the parsed policy (`rego_ast`)
and either rewritten into a form regorus evaluates as OPA does, or refused with the file,
the line and what to write instead:

- `[path, value] := walk(x)` yields nothing: rewritten to the relation form
  `walk(x, __tfctl_walk1); [path, value] := __tfctl_walk1`; `walk(x)` as a value anywhere
  else is refused (write `walk(x, [path, value])`);
- a function called through an import (`import data.lib.aws as lib` … `lib.f(x)`) is "not
  found": the call is rewritten to the function's full path (`data.lib.aws.f(x)`);
- a built-in given a value of the wrong type (`count(null)`, `upper(null)`,
  `regex.match(p, null)`, a possibly-missing plan attribute) is an error where OPA makes the
  expression undefined: the call goes through a guarded wrapper (`data.__tfctl_compat.
  safe_count(x)`), undefined exactly when OPA's built-in would fail on the argument's type;
- `sprintf`: `%q` raises and widths are dropped or break the format: `%q` is rewritten to a
  JSON-quoted argument and `%-40s` / `%10v` to a padded one (the arguments must then be a
  literal array); other verbs and flags regorus prints differently are refused (write
  `%v`, `%s`, `%d` or `%.2f`); a format that is not a literal is noted as unchecked;
- a built-in regorus does not have, or a function no file of the policy defines, would
  fail at evaluation: refused.

Rewrites edit byte spans of the files' text and never add a line, so a later error still
names the user's file and line. The wrappers live in one generated file (`PRELUDE_FILE`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tfctl.policy.model import Action, Finding
from tfctl.policy.rego_ast import (
    CallSite,
    Module,
    Node,
    body,
    calls,
    kind,
    ref_path,
    statement_expr,
)
from tfctl.policy.rego_ast import string_value as literal_string

PRELUDE_PACKAGE = "__tfctl_compat"
PRELUDE_FILE = "tfctl-compat.rego"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Built-ins whose argument types OPA checks at run time (an error there makes the expression
# undefined, unless --strict-builtin-errors), with the types OPA accepts and any validity
# check regorus needs on top. A guard is never stricter than OPA: a value it lets through
# that regorus still rejects is an evaluation error (fail closed), not a silent pass.
_S, _N, _A, _O = "string", "number", "array", "object"
_REGEX, _REGEX_2 = ("regex.is_valid(a)",), ("regex.is_valid(b)",)
GUARDED: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "count": (("countable",), ()),
    "upper": ((_S,), ()), "lower": ((_S,), ()), "trim_space": ((_S,), ()),
    "strings.reverse": ((_S,), ()), "startswith": ((_S, _S), ()), "endswith": ((_S, _S), ()),
    "contains": ((_S, _S), ()), "indexof": ((_S, _S), ()), "indexof_n": ((_S, _S), ()),
    "strings.count": ((_S, _S), ()), "trim": ((_S, _S), ()), "trim_left": ((_S, _S), ()),
    "trim_right": ((_S, _S), ()), "trim_prefix": ((_S, _S), ()), "trim_suffix": ((_S, _S), ()),
    "split": ((_S, _S), ()), "replace": ((_S, _S, _S), ()), "substring": ((_S, _N, _N), ()),
    "sprintf": ((_S, _A), ()), "concat": ((_S, "strings"), ()), "format_int": ((_N, _N), ()),
    "regex.match": ((_S, _S), _REGEX), "regex.split": ((_S, _S), _REGEX),
    "regex.find_n": ((_S, _S, _N), _REGEX), "regex.replace": ((_S, _S, _S), _REGEX_2),
    "regex.find_all_string_submatch_n": ((_S, _S, _N), _REGEX),
    "json.unmarshal": ((_S,), ("json.is_valid(a)",)),
    "yaml.unmarshal": ((_S,), ("yaml.is_valid(a)",)),
    "base64.decode": ((_S,), ("base64.is_valid(a)",)),
    "sum": (("numbers",), ()), "product": (("numbers",), ()), "max": (("collection",), ()),
    "min": (("collection",), ()), "sort": (("collection",), ()),
    "array.concat": ((_A, _A), ()), "array.slice": ((_A, _N, _N), ()),
    "array.reverse": ((_A,), ()), "object.get": ((_O, "any", "any"), ()),
    "object.keys": ((_O,), ()), "object.remove": ((_O, "keys"), ()),
    "object.filter": ((_O, "keys"), ()), "object.union": ((_O, _O), ()),
    "net.cidr_contains": ((_S, _S), ()), "units.parse": ((_S,), ()),
    "units.parse_bytes": ((_S,), ()), "time.parse_rfc3339_ns": ((_S,), ()),
    "time.parse_duration_ns": ((_S,), ()),
    "semver.compare": ((_S, _S), ("semver.is_valid(a)", "semver.is_valid(b)")),
    "to_number": (("number_like",), ()),
}  # fmt: skip
_TYPE_TEST = {
    _S: "is_string({})", _N: "is_number({})", _A: "is_array({})", _O: "is_object({})",
    "countable": 'type_name({}) in {{"array", "object", "set", "string"}}',
    "collection": 'type_name({}) in {{"array", "set"}}',
    "keys": 'type_name({}) in {{"array", "object", "set"}}',
    "strings": 'type_name({0}) in {{"array", "set"}}\n\tevery x in {0} {{ is_string(x) }}',
    "numbers": 'type_name({0}) in {{"array", "set"}}\n\tevery x in {0} {{ is_number(x) }}',
    "number_like": "not _not_a_number({})",
}  # fmt: skip
# What a literal (or a call that can only return that type) proves about an argument.
_LITERAL_TYPES = {
    "String": _S, "RawString": _S, "Number": _N, "Array": _A, "ArrayCompr": _A,
    "Object": _O, "ObjectCompr": _O, "Set": "set", "SetCompr": "set",
}  # fmt: skip
_STRING_CALLS = frozenset({"sprintf", "concat", "upper", "lower", "json.marshal", "format_int"})
_SATISFIES = {
    _S: {_S}, _N: {_N}, _A: {_A}, _O: {_O}, "any": {_S, _N, _A, _O, "set"},
    "countable": {_S, _A, _O, "set"}, "collection": {_A, "set"}, "keys": {_A, _O, "set"},
    "number_like": {_N},
}  # fmt: skip

# Built-ins regorus has in name only: their answer is not OPA's.
_DIFFERENT = {
    "http.send": "the in-process engine never sends the request (the call is undefined)",
    "opa.runtime": "the in-process engine describes itself, not OPA",
}

_PRELUDE_HELPERS = """
fmt_q(x) := json.marshal(x) if is_string(x)

fmt_q(x) := json.marshal(sprintf("%v", [x])) if not is_string(x)

fmt_pad(x, w) := concat("", [v, _spaces(w - count(v))]) if v := sprintf("%v", [x])

fmt_lpad(x, w) := concat("", [_spaces(w - count(v)), v]) if v := sprintf("%v", [x])

_spaces(n) := "" if n <= 0

# What to_number fails on in OPA (Go's strconv.ParseFloat): other types, and strings that are
# no decimal number, hexadecimal float, infinity or NaN. Those go to regorus as they are.
_not_a_number(x) if not type_name(x) in {"null", "boolean", "number", "string"}

_not_a_number(x) if {
	is_string(x)
	not regex.match(`^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$`, x)
	not regex.match(`^[+-]?0[xX]`, x)
	not lower(trim_left(x, "+-")) in {"inf", "infinity", "nan"}
}

_spaces(n) := s if {
	n > 0
	s := concat("", [" " | numbers.range(1, n)[_]])
}
"""


@dataclass(frozen=True, slots=True)
class Compat:
    """The files to load into regorus (rewritten where needed, the prelude last when any
    call uses it) and what was found."""

    sources: tuple[tuple[str, str], ...]
    findings: tuple[Finding, ...]

    @property
    def refused(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.action is Action.REFUSED)


@dataclass(slots=True)
class _Edit:
    start: int
    end: int
    text: str


@dataclass(slots=True)
class _Rewriter:
    """Edits and findings for one module."""

    module: Module
    defined: Mapping[tuple[str, ...], frozenset[str]]
    builtins: frozenset[str]
    guarded: set[str]
    edits: list[_Edit] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    walks: int = 0

    def find(self, site: CallSite | Node, construct: str, advice: str, action: Action) -> None:
        line, column = _where(site)
        self.findings.append(
            Finding(str(self.module.file.path), line, column, construct, advice, action)
        )

    def replace(self, node: Node, text: str, *, quotes: bool = False) -> None:
        span = body(node)["span"]
        pad = 1 if quotes else 0  # a string literal's span excludes its quotes
        self.edits.append(_Edit(span["start"] - pad, span["end"] + pad, text))

    def insert(self, at: int, text: str) -> None:
        self.edits.append(_Edit(at, at, text))


def make_compatible(modules: Sequence[Module], builtins: Iterable[str]) -> Compat:
    """Find what regorus would evaluate differently from OPA in `modules` and rewrite or
    refuse it. `builtins` are the built-ins regorus has (`opa.runtime().builtins`)."""
    defined = _defined(modules)
    known, guarded = frozenset(builtins) | {"print"}, set[str]()
    sources, findings = [], []
    for module in modules:
        rewriter = _Rewriter(module, defined, known, guarded)
        for site in calls(module):
            _check_call(rewriter, site)
        findings += rewriter.findings
        sources.append((str(module.file.path), _apply(module, rewriter.edits)))
    if guarded or any(f.action is Action.REWRITTEN and "sprintf" in f.construct for f in findings):
        sources.append((PRELUDE_FILE, prelude(guarded)))
    return Compat(tuple(sources), tuple(findings))


def prelude(guarded: Iterable[str]) -> str:
    """The Rego of the wrappers: one guarded function per built-in in `guarded`, and the
    sprintf helpers."""
    parts = [f"package {PRELUDE_PACKAGE}\n\nimport rego.v1\n", _PRELUDE_HELPERS]
    for name in sorted(guarded):
        types, extra = GUARDED[name]
        params = "abc"[: len(types)]
        args = ", ".join(params)
        tests = [_TYPE_TEST[t].format(p) for t, p in zip(types, params, strict=True) if t != "any"]
        conditions = "\n\t".join([*tests, *extra]) or "true"
        parts.append(f"{safe_name(name)}({args}) := {name}({args}) if {{\n\t{conditions}\n}}\n")
    return "\n".join(parts)


def safe_name(builtin: str) -> str:
    return "safe_" + builtin.replace(".", "_")


# --- one call ---------------------------------------------------------------------------------


def _check_call(rw: _Rewriter, site: CallSite) -> None:
    name = site.name
    if name is None:
        return
    resolved = _resolve(rw, name)
    if resolved is None:
        return
    where, full = resolved
    if where == "builtin":
        _check_builtin(rw, site, ".".join(full))
    elif where == "missing":
        rw.find(site, f"call to {'.'.join(full)}", _missing_advice(full), Action.REFUSED)
    elif where == "alias":
        rw.replace(site.call["fcn"], _data_ref(full))
        rw.find(site, "call through an import alias: " + ".".join(name),
                f"evaluated as {_data_ref(full)}(…)", Action.REWRITTEN)  # fmt: skip


def _resolve(rw: _Rewriter, name: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    """("local" | "alias" | "data" | "builtin", the full name), None when nothing to do, or
    a refusal recorded when the function exists nowhere."""
    module, head = rw.module, name[0]
    local = rw.defined.get(module.package, frozenset())
    if head in local:
        return None  # the package's own function (it may shadow a built-in's name)
    if head in module.imports and module.imports[head][0] == "data":
        full = (*module.imports[head], *name[1:])
        return ("alias", full) if _defines(rw.defined, full) else ("missing", full)
    if head == "data":
        return None if _defines(rw.defined, name) else ("missing", name)
    if ".".join(name) in rw.builtins:
        return "builtin", name
    return "missing", name


def _check_builtin(rw: _Rewriter, site: CallSite, name: str) -> None:
    params = site.call["params"]
    if name in _DIFFERENT:
        rw.find(site, f"call to {name}", f"{_DIFFERENT[name]}: put `opa` on PATH to use it",
                Action.REFUSED)  # fmt: skip
        return
    if name == "walk" and len(params) == 1:
        _rewrite_walk(rw, site)
        return
    if name == "sprintf" and len(params) == 2 and _check_sprintf(rw, site):
        return  # its format is now a literal and its arguments a literal array: it cannot fail
    if name in GUARDED and not _statically_safe(GUARDED[name][0], params):
        rw.guarded.add(name)
        rw.replace(site.call["fcn"], f"data.{PRELUDE_PACKAGE}.{safe_name(name)}")
        rw.find(site, f"null-safe built-in: {name}",
                "undefined (as with OPA) when an argument has the wrong type, e.g. null",
                Action.REWRITTEN)  # fmt: skip


def _statically_safe(types: Sequence[str], params: Sequence[Node]) -> bool:
    """True when every argument is a literal (or a call) of a type the built-in accepts."""
    if len(params) < len(types):
        return True  # a wrong call: regorus reports it, like OPA's compiler
    for wanted, param in zip(types, params, strict=False):
        if wanted == "any":
            continue
        if wanted in ("strings", "numbers"):
            if not _literal_items_are(param, _S if wanted == "strings" else _N):
                return False
            continue
        if _static_type(param) not in _SATISFIES[wanted]:
            return False
    return True


def _static_type(node: Node) -> str | None:
    if kind(node) == "Call":
        name = ref_path(body(node)["fcn"])
        return _S if name and ".".join(name) in _STRING_CALLS else None
    return _LITERAL_TYPES.get(kind(node))


def _literal_items_are(node: Node, wanted: str) -> bool:
    if kind(node) not in ("Array", "Set"):
        return False
    return all(_static_type(item) == wanted for item in body(node)["items"])


# --- walk -------------------------------------------------------------------------------------


def _rewrite_walk(rw: _Rewriter, site: CallSite) -> None:
    """`LHS := walk(x)` / `LHS = walk(x)` → `walk(x, __tfctl_walkN); LHS := __tfctl_walkN`."""
    expr = statement_expr(site.statement)
    assign = body(expr) if expr is not None and kind(expr) == "AssignExpr" else None
    if (
        assign is None
        or site.statement is None
        or site.statement.get("with_mods")
        or body(assign["rhs"]) is not site.call
    ):
        rw.find(site, "walk(x) used as a value",
                "the in-process engine yields nothing for it: write the relation form "
                "`walk(x, [path, value])`", Action.REFUSED)  # fmt: skip
        return
    rw.walks += 1
    var = f"__tfctl_walk{rw.walks}"
    operator = ":=" if assign["op"] == "ColEq" else "="
    lhs = rw.module.text_of(assign["lhs"])
    stmt_start = assign["span"]["start"]
    call_start = site.call["span"]["start"]
    rw.edits.append(_Edit(stmt_start, call_start, ""))
    rw.insert(body(site.call["params"][0])["span"]["end"], f", {var}")
    rw.insert(site.call["span"]["end"], f"; {lhs} {operator} {var}")
    rw.find(site, "walk function form", f"evaluated as walk(x, {var}); {lhs} {operator} {var}",
            Action.REWRITTEN)  # fmt: skip


# --- sprintf ----------------------------------------------------------------------------------

_VERB = re.compile(
    r"%(?P<flags>[-+# 0]*)(?P<index>\[\d*\])?(?P<width>\d+|\*)?"
    r"(?:(?P<dot>\.)(?P<prec>\d+|\*)?)?(?P<index2>\[\d*\])?(?P<verb>.)?",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Verb:
    """One `%…` of a format: `ok` (regorus prints it as OPA does), `quote`, `pad`, `lpad`
    (rewritten), or `refuse`; `argument` says whether it consumes an argument."""

    text: str
    start: int
    action: str
    argument: bool = True
    width: int = 0


def parse_format(fmt: str) -> list[Verb]:
    return [_classify(m) for m in _VERB.finditer(fmt)]


def _classify(m: re.Match[str]) -> Verb:
    flags, width, verb, text = m["flags"], m["width"], m["verb"], m.group()
    plain = not flags and not width and not m["dot"]
    if m["index"] or m["index2"] or width == "*" or m["prec"] == "*":
        return Verb(text, m.start(), "refuse")
    if verb == "%":
        return Verb(text, m.start(), "ok" if plain else "refuse", argument=False)
    if verb in ("s", "v"):
        if plain:
            return Verb(text, m.start(), "ok")
        if flags in ("", "-") and width and not m["dot"]:
            return Verb(text, m.start(), "pad" if flags else "lpad", width=int(width))
    if verb == "q" and plain:
        return Verb(text, m.start(), "quote")
    if verb == "d" and flags in ("", "0") and not m["dot"]:
        return Verb(text, m.start(), "ok")
    if verb in ("f", "F") and not flags and not width and m["prec"]:
        return Verb(text, m.start(), "ok")
    return Verb(text, m.start(), "refuse", argument=verb is not None)


def _check_sprintf(rw: _Rewriter, site: CallSite) -> bool:
    """Check (and rewrite) the verbs; True when the call was rewritten."""
    fmt_node, args = site.call["params"]
    fmt = _format_of(rw.module, site, fmt_node)
    if fmt is None:
        rw.find(site, "sprintf format: not a literal",
                "its verbs are not checked (regorus ignores widths and fails on %q)",
                Action.UNCHECKED)  # fmt: skip
        return False
    verbs = parse_format(fmt)
    for verb in (v for v in verbs if v.action == "refuse"):
        rw.find(site, f"sprintf verb {verb.text}",
                "the in-process engine prints it differently from OPA (or fails): write %v, "
                "%s, %d or %.2f", Action.REFUSED)  # fmt: skip
    rewrites = [v for v in verbs if v.action in ("quote", "pad", "lpad")]
    if not rewrites or any(v.action == "refuse" for v in verbs):
        return False
    consuming = [v for v in verbs if v.argument]
    if kind(args) != "Array" or len(body(args)["items"]) != len(consuming):
        rw.find(site, f"sprintf verb {rewrites[0].text}",
                "the in-process engine cannot print it as OPA does unless the arguments are a "
                "literal array, one per verb: write %s, or list the arguments",
                Action.REFUSED)  # fmt: skip
        return False
    _rewrite_sprintf(rw, site, fmt_node, fmt, verbs, body(args)["items"])
    return True


def _rewrite_sprintf(
    rw: _Rewriter, site: CallSite, fmt_node: Node, fmt: str, verbs: list[Verb], items: list[Node]
) -> None:
    new_fmt, last, item = [], 0, 0
    for verb in verbs:
        new_fmt.append(fmt[last : verb.start])
        last = verb.start + len(verb.text)
        if verb.action in ("quote", "pad", "lpad"):
            new_fmt.append("%s")
            _wrap_argument(rw, items[item], verb)
        else:
            new_fmt.append(verb.text)
        item += verb.argument
    new_fmt.append(fmt[last:])
    literal = kind(fmt_node) in ("String", "RawString")
    rw.replace(fmt_node, json.dumps("".join(new_fmt), ensure_ascii=False), quotes=literal)
    done = ", ".join(v.text for v in verbs if v.action in ("quote", "pad", "lpad"))
    rw.find(site, f"sprintf {done}", "printed as OPA prints it (quoted or padded argument)",
            Action.REWRITTEN)  # fmt: skip


def _wrap_argument(rw: _Rewriter, item: Node, verb: Verb) -> None:
    span = body(item)["span"]
    start, end = span["start"], span["end"]
    if kind(item) in ("String", "RawString"):
        start, end = start - 1, end + 1
    helper = {"quote": "fmt_q", "pad": "fmt_pad", "lpad": "fmt_lpad"}[verb.action]
    rw.insert(start, f"data.{PRELUDE_PACKAGE}.{helper}(")
    rw.insert(end, ")" if verb.action == "quote" else f", {verb.width})")


def _format_of(module: Module, site: CallSite, node: Node) -> str | None:
    """The format: a literal, or a variable assigned a literal in the same body or as a
    constant of the package."""
    value = literal_string(node)
    if value is not None or kind(node) != "Var":
        return value
    name = body(node)["value"]
    for stmt in (site.query or {}).get("stmts", ()):
        expr = statement_expr(stmt)
        if expr is not None and kind(expr) == "AssignExpr":
            assign = body(expr)
            if kind(assign["lhs"]) == "Var" and body(assign["lhs"])["value"] == name:
                return literal_string(assign["rhs"])
    return _package_constant(module, name)


def _package_constant(module: Module, name: str) -> str | None:
    for rule in module.ast["rules"]:
        spec = rule.get("Spec") or {}
        head = (spec.get("head") or {}).get("Compr") or {}
        refr, assign = head.get("refr") or {}, head.get("assign")
        named = bool(refr) and kind(refr) == "Var" and body(refr)["value"] == name
        if named and assign and not spec.get("bodies"):
            return literal_string(assign["value"])
    return None


# --- helpers ----------------------------------------------------------------------------------


def _defined(modules: Sequence[Module]) -> dict[tuple[str, ...], frozenset[str]]:
    found: dict[tuple[str, ...], set[str]] = {}
    for module in modules:
        found.setdefault(module.package, set()).update(r.name for r in module.rules)
    return {package: frozenset(names) for package, names in found.items()}


def _defines(defined: Mapping[tuple[str, ...], frozenset[str]], full: tuple[str, ...]) -> bool:
    """Whether `data.…` names a rule of one of the policy's packages."""
    path = full[1:]
    return any(
        path[: len(package)] == package and len(path) > len(package) and path[len(package)] in names
        for package, names in defined.items()
    )


def _data_ref(full: tuple[str, ...]) -> str:
    head, *rest = full
    return head + "".join(f".{s}" if _IDENTIFIER.match(s) else f"[{json.dumps(s)}]" for s in rest)


def _where(site: CallSite | Node) -> tuple[int, int]:
    if isinstance(site, CallSite):
        return site.line, site.column
    span = body(site)["span"]
    return int(span["line"]), int(span["col"])


def _apply(module: Module, edits: list[_Edit]) -> str:
    """The module's text with `edits` applied, insertions before a replacement at the same
    place. Edits never overlap (each rewrites its own node); if they did, that is a bug in
    this module, reported as such rather than evaluating a garbled policy."""
    if not edits:
        return module.file.text
    out, position = [], 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end != e.start)):
        if edit.start < position:
            raise RuntimeError(f"tfctl bug: overlapping rewrites in {module.file.path}")
        out += [module.source[position : edit.start], edit.text.encode()]
        position = edit.end
    out.append(module.source[position:])
    return b"".join(out).decode()


def _missing_advice(full: tuple[str, ...]) -> str:
    if full[0] == "data":
        return "no file of the policy defines this function"
    return (
        "not a built-in of the in-process engine (regorus): put `opa` on PATH to use it, "
        "or use another built-in"
    )
