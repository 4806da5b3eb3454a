"""conftest's conventions, as the gate applies them to a plan (conftest.dev; its engine reads
them the same way):

- the rules are `deny`, `violation` (failures) and `warn` (warnings), each optionally with a
  suffix (`deny_public_bucket`, `warn_x_y`), read as sets of messages: strings or objects
  with a string `msg` (other keys are details);
- they are read in the namespace `main` unless other namespaces are named, in the packages
  exactly named (a package `main.gke` is not `main`), or in every package (`--all-namespaces`);
- an `exception` rule in the namespace lists rule names without their prefix
  (`exception contains ["public_bucket"] if …` excepts `deny_public_bucket`, `""` excepts
  the plain `deny`, `violation` and `warn`): when it names a rule, that rule's messages are
  not reported and the exception is.

Where conftest would silently skip something (a rule that is not a set, a message that is
neither a string nor an object with `msg`), tfctl fails closed instead: `RuleShapeError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tfctl import errors
from tfctl.policy.model import Action, Finding

FAILURE = re.compile(r"^(deny|violation)(_[a-zA-Z0-9]+)*$")
WARNING = re.compile(r"^warn(_[a-zA-Z0-9]+)*$")
RULES = re.compile(r"^(deny|violation|warn)(_[a-zA-Z0-9]+)*$")
DEFAULT_NAMESPACES: tuple[str, ...] = ("main",)
_PREFIX = re.compile(r"^(deny|violation|warn)(_|$)")


class RuleShapeError(Exception):
    """A conftest rule produced something that is not a set of messages."""


@dataclass(frozen=True, slots=True)
class NamespaceValues:
    """What one namespace's conftest rules evaluated to: rule name → value (only the rules
    that are defined), and the value of its `exception` rule (None when undefined)."""

    namespace: str
    rules: Mapping[str, Any] = field(default_factory=dict)
    exception: Any = None


@dataclass(frozen=True, slots=True)
class Verdict:
    denied: tuple[str, ...] = ()
    warned: tuple[str, ...] = ()
    excepted: tuple[str, ...] = ()


def is_rule(name: str) -> bool:
    return RULES.match(name) is not None


def exception_name(rule: str) -> str:
    """The name an `exception` rule uses for `rule`: `deny_x` → `x`, `deny` → `""`."""
    return _PREFIX.sub("", rule)


def verdict(values: Iterable[NamespaceValues]) -> Verdict:
    """The messages to report: failures, warnings and exceptions, each without repeats, in
    namespace order, then rule name order. `RuleShapeError` for a rule that is not a set of
    messages (conftest would silently ignore it)."""
    denied: list[str] = []
    warned: list[str] = []
    excepted: list[str] = []
    for ns in values:
        excepting = _excepted_names(ns)
        for rule in sorted(name for name in ns.rules if is_rule(name)):
            messages = rule_messages(ns.namespace, rule, ns.rules[rule])
            name = exception_name(rule)
            if name in excepting:
                excepted.append(_exception_line(ns.namespace, rule, name, len(messages)))
            elif FAILURE.match(rule):
                denied.extend(messages)
            else:
                warned.extend(messages)
    return Verdict(_unique(denied), _unique(warned), _unique(excepted))


def rule_messages(namespace: str, rule: str, value: Any) -> list[str]:
    """The messages of one rule's value: a set (a JSON list) of strings or of objects with
    a string `msg`. Anything else is a `RuleShapeError` naming the rule and what to write."""
    ref = f"data.{namespace}.{rule}"
    if not isinstance(value, list):
        raise RuleShapeError(
            f"{ref} is {_shape(value)}, not a set of messages: conftest reads only set rules "
            f"(write `{rule} contains msg if {{ … }}`, or `{rule}[msg] {{ … }}` in Rego v0)"
        )
    return [_message(ref, item) for item in value]


def _message(ref: str, item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("msg"), str):
        return str(item["msg"])
    raise RuleShapeError(
        f"{ref} produced {_shape(item)} {_short(item)}: a message must be a string or an "
        'object with a string "msg"'
    )


def _excepted_names(ns: NamespaceValues) -> set[str]:
    """`data.NS.exception[_][_]`: every string in every entry of the exception rule."""
    value = ns.exception
    entries = value if isinstance(value, list) else list(value.values()) if isinstance(
        value, Mapping) else []  # fmt: skip
    names: set[str] = set()
    for entry in entries:
        items = entry if isinstance(entry, list) else entry.values() if isinstance(
            entry, Mapping) else []  # fmt: skip
        names.update(item for item in items if isinstance(item, str))
    return names


def _exception_line(namespace: str, rule: str, name: str, count: int) -> str:
    messages = f"{count} message{'' if count == 1 else 's'} not reported"
    return f'data.{namespace}.{rule}: excepted by data.{namespace}.exception ("{name}"), {messages}'


def _shape(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "a number"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# --- which namespaces, and are their rules conftest rules ------------------------------------


def select_namespaces(
    source: str, packages: Sequence[str], selection: Sequence[str] | None
) -> tuple[str, ...]:
    """The namespaces to evaluate: `selection` (None: every package of the policy, sorted).
    `InvalidInput` when a selected namespace is no package of the policy: its rules could
    never be evaluated, so the policy would pass every plan."""
    declared = sorted(set(packages))
    if selection is None:
        if not declared:
            raise errors.InvalidInput(f"policy {source}: no file declares a package")
        return tuple(declared)
    missing = [ns for ns in selection if ns not in declared]
    if missing:
        hint = ", ".join(declared) or "none"
        raise errors.InvalidInput(
            f"policy {source}: no file declares package {', '.join(missing)} (its packages: "
            f"{hint}); name the namespace with --namespace NS, or use --all-namespaces"
        )
    return tuple(dict.fromkeys(selection))


def shape_findings(modules: Sequence[Any], namespaces: Sequence[str]) -> list[Finding]:
    """conftest rules of the selected namespaces that are not set rules (`deny if`, `deny :=
    …`, `deny[msg] if` which is an object in Rego v1, `deny.x contains …`), refused at attach
    as conftest refuses them: they would never report a message. `modules` are
    `rego_ast.Module`s."""
    found = []
    for module in modules:
        if module.namespace not in namespaces:
            continue
        for rule in module.rules:
            if not is_rule(rule.name) or (rule.kind == "set" and not rule.ref_head):
                continue
            what = "a reference head" if rule.ref_head else f"a {rule.kind} rule"
            found.append(Finding(
                str(module.file.path), rule.line, 1, f"`{rule.name}` is {what}",
                f"conftest reads {rule.name} as a set of messages: write `{rule.name} contains "
                f"msg if {{ … }}` (`{rule.name}[msg] {{ … }}` in Rego v0)", Action.REFUSED,
            ))  # fmt: skip
    return found


def rules_by_namespace(modules: Sequence[Any], namespaces: Sequence[str]) -> dict[str, list[str]]:
    """The conftest rule names each selected namespace declares (sorted)."""
    found: dict[str, set[str]] = {ns: set() for ns in namespaces}
    for module in modules:
        if module.namespace in found:
            found[module.namespace].update(r.name for r in module.rules if is_rule(r.name))
    return {ns: sorted(names) for ns, names in found.items()}
