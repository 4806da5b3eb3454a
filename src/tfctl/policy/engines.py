"""Rego engines: the `opa` binary when it is on PATH, else the in-process engine (regorus,
`pip install 'tfctl[policy]'`); `find_engine` picks, in that order, or finds none.

An engine is prepared once per plan (the plan JSON is loaded once) and then evaluates each
policy — a set of `.rego` files — in isolation, returning the values of the conftest rules
`deny`, `violation` and `warn` of every package the files declare. A policy that does not
compile or fails to evaluate raises `RegoError`, naming the file and the line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tfctl.policy.sources import PolicyFile, package_path

RULES: tuple[str, ...] = ("deny", "violation", "warn")
RuleValue = tuple[str, str, Any]  # (package, rule, value)
Evaluator = Callable[[Sequence[PolicyFile]], list[RuleValue]]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)")
_ERROR_LINE = re.compile(r"^error:\s*(?P<message>.+)$", re.MULTILINE)


class RegoError(Exception):
    """A policy did not compile or evaluate. Never leaves `PolicyChecker`: it becomes that
    policy's `error` result, failed at its level."""


class RegoEngine(Protocol):
    name: str

    def prepare(self, plan_json: Path) -> Evaluator:
        """Load the plan JSON (the policies' `input`) and return the evaluator of policies."""
        ...


def find_engine(*, path: str | None = None) -> RegoEngine | None:
    """`opa` on `path` (default: PATH), else the in-process engine, else None."""
    opa = shutil.which("opa", path=path)
    if opa is not None:
        return OpaEngine(opa)
    return in_process_engine()


def in_process_engine() -> RegoEngine | None:
    try:
        import regorus
    except ImportError:
        return None
    return RegorusEngine(regorus)


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


# --- in process: regorus ------------------------------------------------------------------


class RegorusEngine:
    """regorus (Rust, in-process). Rego v1 syntax first; a policy that does not parse as v1
    is tried as v0, so conftest policies written for OPA before 1.0 work unchanged."""

    name = "regorus"

    def __init__(self, module: Any) -> None:
        self._module = module

    def prepare(self, plan_json: Path) -> Evaluator:
        base = self._module.Engine()
        try:  # from text: twice as fast as set_input_from_json_file, 4x set_input(dict)
            base.set_input_json(plan_json.read_text(encoding="utf-8"))
        except RuntimeError as exc:
            raise RegoError(_regorus_diagnostic(exc).describe("the plan JSON")) from None

        def evaluate(files: Sequence[PolicyFile]) -> list[RuleValue]:
            return _regorus_rules(_regorus_compile(base, files))

        return evaluate


def _regorus_compile(base: Any, files: Sequence[PolicyFile]) -> Any:
    try:
        return _regorus_add(base.clone(), files, rego_v0=False)
    except RuntimeError as exc:
        as_v1 = _regorus_diagnostic(exc)
    try:
        return _regorus_add(base.clone(), files, rego_v0=True)
    except RuntimeError as exc:
        as_v0 = _regorus_diagnostic(exc)
    raise RegoError(_furthest(files, as_v1, as_v0).describe("compile error"))


def _furthest(files: Sequence[PolicyFile], *found: Diagnostic) -> Diagnostic:
    """When neither Rego dialect parses a policy, the one that got further into it is the
    one its author wrote: report that one's error (the first on a tie, v1)."""
    order = [str(f.path) for f in files]

    def position(d: Diagnostic) -> tuple[int, int, int]:
        return (order.index(d.file) if d.file in order else -1, d.line, d.column)

    return max(found, key=position)


def _regorus_add(engine: Any, files: Sequence[PolicyFile], *, rego_v0: bool) -> Any:
    if rego_v0:
        engine.set_rego_v0(True)
    for file in files:
        engine.add_policy(str(file.path), file.text)
    return engine


def _regorus_rules(engine: Any) -> list[RuleValue]:
    values = []
    for package in sorted(set(engine.get_packages())):
        for rule in RULES:
            try:
                doc = json.loads(engine.eval_query_as_json(f"{_rego_ref(package)}.{rule}"))
            except RuntimeError as exc:
                raise RegoError(_regorus_diagnostic(exc).describe("evaluation error")) from None
            if doc.get("result"):  # undefined: no result at all
                values.append((package, rule, doc["result"][0]["expressions"][0]["value"]))
    return values


def _rego_ref(package: str) -> str:
    """`data.a.b-c` (how regorus names `package a["b-c"]`) → `data.a["b-c"]`."""
    head, *rest = package.split(".")
    return head + "".join(f".{s}" if _IDENTIFIER.match(s) else f'["{s}"]' for s in rest)


def _regorus_diagnostic(exc: BaseException) -> Diagnostic:
    text = str(exc).split("Stack backtrace:")[0]
    location, error = _LOCATION.search(text), _ERROR_LINE.search(text)
    message = error["message"].strip() if error else " ".join(text.split())
    if location is None:
        return Diagnostic(message or type(exc).__name__)
    return Diagnostic(message, location["file"], int(location["line"]), int(location["col"]))


# --- the opa binary ---------------------------------------------------------------------------


class OpaEngine:
    """`opa eval` per policy, through `tfctl.terraform.process.run_process` (its own process
    group, a timeout). The plan JSON is passed as a file; opa's JSON output is parsed."""

    name = "opa"

    def __init__(self, binary: str, *, timeout: float = 300.0) -> None:
        self.binary, self.timeout = binary, timeout

    def prepare(self, plan_json: Path) -> Evaluator:
        return lambda files: self._evaluate(plan_json, files)

    def _evaluate(self, plan_json: Path, files: Sequence[PolicyFile]) -> list[RuleValue]:
        from tfctl.terraform.process import StopControl, run_process

        stdout: list[str] = []
        try:
            result = run_process(
                opa_eval_argv(self.binary, plan_json, files), cwd=plan_json.parent,
                env=os.environ, control=StopControl(timeout=self.timeout),
                on_line=lambda stream, line: stdout.append(line) if stream == "stdout" else None,
            )  # fmt: skip
        except OSError as exc:
            raise RegoError(f"cannot run {self.binary}: {exc}") from exc
        doc = _json_or_none("\n".join(stdout)) or _json_or_none(result.stderr_text)
        if result.exit_code != 0 or result.timed_out:
            raise RegoError(self._failure(doc, result.stderr_text, result.timed_out))
        return opa_rule_values(doc or {}, files)

    def _failure(self, doc: dict[str, Any] | None, stderr: str, timed_out: bool) -> str:
        if timed_out:
            return f"opa eval did not finish in {self.timeout:.0f} s and was stopped"
        doc = doc or {}
        problems = doc.get("errors") or ([doc["error"]] if doc.get("error") else [])
        if not problems:
            return f"opa eval failed: {' '.join(stderr.split())[:500] or 'no output'}"
        first, more = problems[0], len(problems) - 1
        where = first.get("location") or {}
        what = "evaluation error" if str(first.get("code", "")).startswith("eval") else None
        diagnostic = Diagnostic(str(first.get("message", "")), where.get("file"),
                                int(where.get("row", 0)), int(where.get("col", 0)))  # fmt: skip
        suffix = f" (and {more} more)" if more > 0 else ""
        return diagnostic.describe(what or "compile error") + suffix


def opa_eval_argv(binary: str, plan_json: Path, files: Sequence[PolicyFile]) -> list[str]:
    """`opa eval --format json --input PLAN --data FILE... data`: every document the policy
    files define, evaluated against the plan."""
    data = [arg for file in files for arg in ("--data", str(file.path))]
    return [binary, "eval", "--format", "json", "--input", str(plan_json), *data, "data"]


def opa_rule_values(doc: dict[str, Any], files: Sequence[PolicyFile]) -> list[RuleValue]:
    """The conftest rules of each package the files declare, from `opa eval`'s output."""
    results = doc.get("result") or [{}]
    tree = (results[0].get("expressions") or [{}])[0].get("value") or {}
    values = []
    packages = {p for p in (package_path(f.text) for f in files) if p is not None}
    for package in sorted(packages):
        node: Any = tree
        for segment in package:
            node = node.get(segment, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            name = "data." + ".".join(package)
            values += [(name, rule, node[rule]) for rule in RULES if rule in node]
    return values


def _json_or_none(text: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
