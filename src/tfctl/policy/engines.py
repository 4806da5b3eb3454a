"""Rego engines: the `opa` binary when it is on PATH, else the in-process engine (regorus,
`pip install 'tfctl[policy]'`); `find_engine` picks, in that order, or finds none.

A policy is first compiled for the engine into a `Program`: the namespaces to read (conftest:
`main` unless told otherwise), the conftest rules each declares, and the sources to load —
for regorus, rewritten where it would otherwise answer differently from OPA
(`tfctl.policy.compat`), or refused (`PolicyRefused`). Then, once per plan, the engine is
prepared (the plan JSON loaded once) and evaluates each program in isolation, returning per
namespace the values of its `deny` / `violation` / `warn` rules and of its `exception` rule;
`tfctl.policy.conftest` reads them. Anything that does not compile or evaluate raises
`RegoError`, naming the file and the line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tfctl import errors
from tfctl.policy import conftest
from tfctl.policy.conftest import NamespaceValues
from tfctl.policy.model import Action, Finding
from tfctl.policy.rego_ast import Diagnostic, ParseError, regorus_diagnostic
from tfctl.policy.sources import DataBundle, PolicyBundle, package_path

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CACHE_SIZE = 64


class RegoError(Exception):
    """A policy did not compile or evaluate. Never leaves `PolicyChecker`: it becomes that
    policy's `errored` result, failed at its level."""


class PolicyRefused(RegoError):
    """The policy uses constructs the engine would evaluate differently from OPA, or reads
    no conftest rule: refused at attach, errored at a check."""

    def __init__(self, source: Path, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"policy {source}: " + " / ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Policy:
    """What to evaluate: the files as read now, the namespaces (None: every package) and the
    data documents."""

    bundle: PolicyBundle
    namespaces: tuple[str, ...] | None = conftest.DEFAULT_NAMESPACES
    data: DataBundle | None = None


@dataclass(frozen=True, slots=True)
class Program:
    """A policy made ready for one engine. `rules` (namespace → conftest rule names) is None
    when the engine reads them itself; `findings` are the rewritten and unchecked
    constructs (refused ones never make a program)."""

    policy: Policy
    namespaces: tuple[str, ...]
    rules: Mapping[str, tuple[str, ...]] | None
    sources: tuple[tuple[str, str], ...]
    rego_v0: bool = False
    findings: tuple[Finding, ...] = ()


Evaluator = Callable[[Program], list[NamespaceValues]]


class RegoEngine(Protocol):
    name: str

    def version(self) -> str:
        """The engine's version, for `tfctl doctor` and the records."""
        ...

    def compile(self, policy: Policy) -> Program:
        """The program for `policy`, or `RegoError` (`PolicyRefused`)."""
        ...

    def verify(self, policy: Policy) -> Program:
        """`compile`, plus everything this engine can check before a plan exists: what
        `policy attach` and `policy test` run."""
        ...

    def prepare(self, plan_json: Path) -> Evaluator:
        """Load the plan JSON (the policies' `input`) and return the evaluator of programs."""
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


def describe_engine(*, path: str | None = None) -> tuple[str, str] | None:
    """The engine `find_engine` picks and its version, e.g. `("opa", "1.4.2 (/usr/bin/opa)")`
    or `("regorus", "0.9.1 (in process)")`; None when there is none. For `tfctl doctor`."""
    engine = find_engine(path=path)
    if engine is None:
        return None
    try:
        version = engine.version()
    except RegoError as exc:
        version = f"unknown ({exc})"
    where = engine.binary if isinstance(engine, OpaEngine) else "in process"
    return engine.name, f"{version} ({where})"


def engine_report(*, require_engine: bool, path: str | None = None) -> dict[str, Any]:
    """`tfctl doctor`'s policy section: the engine policies are checked with (`opa` or
    `regorus`) and its version, or none — a problem only when `TFCTL_POLICY_REQUIRE_ENGINE`
    makes plans without a check unappliable."""
    found = describe_engine(path=path)
    if found is not None:
        return {"ok": True, "engine": found[0], "version": found[1]}
    consequence = (
        "TFCTL_POLICY_REQUIRE_ENGINE=1 refuses applies of unchecked plans"
        if require_engine
        else "policies are recorded as skipped"
    )
    problem = f"no Rego engine: put `opa` on PATH or `pip install 'tfctl[policy]'`; {consequence}"
    report: dict[str, Any] = {"ok": not require_engine, "engine": None, "version": None}
    report["error" if require_engine else "warning"] = problem
    return report


def rego_ref(namespace: str) -> str:
    """`data.a["b-c"]` for the namespace `a.b-c` (a package with a quoted segment)."""
    parts = namespace.split(".")
    return "data" + "".join(_segment(p) for p in parts)


def _segment(part: str) -> str:
    return f".{part}" if _IDENTIFIER.match(part) else f"[{json.dumps(part)}]"


# --- in process: regorus ------------------------------------------------------------------


class RegorusEngine:
    """regorus (Rust, in-process). Rego v1 syntax first; a policy that does not parse as v1
    is read as v0, so conftest policies written for OPA before 1.0 work unchanged. Programs
    are cached by content, so a policy is parsed and checked once per process."""

    name = "regorus"
    _programs: dict[tuple[Any, ...], Program] = {}
    _builtins: frozenset[str] | None = None

    def __init__(self, module: Any) -> None:
        self._module = module

    def version(self) -> str:
        return str(self._runtime().get("regorus-version") or "unknown")

    def builtins(self) -> frozenset[str]:
        if RegorusEngine._builtins is None:
            RegorusEngine._builtins = frozenset(self._runtime().get("builtins") or ())
        return RegorusEngine._builtins

    def _runtime(self) -> dict[str, Any]:
        engine = self._module.Engine()
        engine.add_policy("tfctl-runtime.rego", "package tfctl_runtime\n\nr := opa.runtime()\n")
        doc = json.loads(engine.eval_query_as_json("data.tfctl_runtime.r"))
        return dict(doc["result"][0]["expressions"][0]["value"])

    def compile(self, policy: Policy) -> Program:
        key = (policy.bundle.source, policy.bundle.sha256, policy.namespaces)
        program = self._programs.get(key)
        if program is None:
            program = self._compile(policy)
            if len(self._programs) >= _CACHE_SIZE:
                self._programs.pop(next(iter(self._programs)))
            self._programs[key] = program
        return program if program.policy == policy else _with_policy(program, policy)

    def _compile(self, policy: Policy) -> Program:
        from tfctl.policy import rego_ast
        from tfctl.policy.compat import make_compatible

        try:
            parsed = rego_ast.parse(policy.bundle.files, self._module)
        except ParseError as exc:
            raise RegoError(str(exc)) from None
        modules = parsed.modules
        namespaces, rules = _namespaces(policy, modules)
        compat = make_compatible(modules, self.builtins())
        refused = [*conftest.shape_findings(modules, namespaces), *compat.refused]
        if refused:
            raise PolicyRefused(policy.bundle.source, [f.describe() for f in refused])
        warnings = tuple(
            Finding(w.file or "", w.line, w.column, w.message, "", Action.WARNING)
            for w in parsed.warnings
        )
        findings = compat.findings + warnings
        return Program(policy, namespaces, rules, compat.sources, parsed.rego_v0, findings)

    def verify(self, policy: Policy) -> Program:
        program = self.compile(policy)
        _regorus_load(self._module.Engine(), program)
        return program

    def prepare(self, plan_json: Path) -> Evaluator:
        base = self._module.Engine()
        try:  # from text: twice as fast as set_input_from_json_file, 4x set_input(dict)
            base.set_input_json(plan_json.read_text(encoding="utf-8"))
        except RuntimeError as exc:
            raise RegoError(regorus_diagnostic(exc).describe("the plan JSON")) from None

        def evaluate(program: Program) -> list[NamespaceValues]:
            return _regorus_values(_regorus_load(base.clone(), program), program)

        return evaluate


def _with_policy(program: Program, policy: Policy) -> Program:
    from dataclasses import replace

    return replace(program, policy=policy)


def _namespaces(policy: Policy, modules: Sequence[Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    source = str(policy.bundle.source)
    try:
        namespaces = conftest.select_namespaces(
            source, [m.namespace for m in modules], policy.namespaces
        )
    except errors.InvalidInput as exc:
        raise RegoError(exc.message) from None
    rules = conftest.rules_by_namespace(modules, namespaces)
    if not any(rules.values()):
        raise PolicyRefused(policy.bundle.source, [
            f"namespace {', '.join(namespaces)} declares no deny, violation or warn rule: it "
            "would never report anything (name the namespaces with the rules with "
            "--namespace NS, or use --all-namespaces)"
        ])  # fmt: skip
    return namespaces, {ns: tuple(names) for ns, names in rules.items()}


def _regorus_load(engine: Any, program: Program) -> Any:
    """Load the program's sources and data; the parser's warnings were reported when it
    was compiled, so they are not printed again."""
    from tfctl.policy.rego_ast import parser_warnings

    if program.rego_v0:
        engine.set_rego_v0(True)
    try:
        with parser_warnings():
            for name, text in program.sources:
                engine.add_policy(name, text)
        if program.policy.data is not None:
            engine.add_data_json(program.policy.data.to_json())
    except RuntimeError as exc:
        raise RegoError(regorus_diagnostic(exc).describe("compile error")) from None
    return engine


def _regorus_values(engine: Any, program: Program) -> list[NamespaceValues]:
    found = []
    for namespace in program.namespaces:
        ref = rego_ref(namespace)
        names = (program.rules or {}).get(namespace, ())
        if not names:
            continue
        values = {rule: _regorus_eval(engine, f"{ref}.{rule}") for rule in names}
        defined = {rule: value[0] for rule, value in values.items() if value}
        exception = _regorus_eval(engine, f"{ref}.exception")
        found.append(NamespaceValues(namespace, defined, exception[0] if exception else None))
    return found


def _regorus_eval(engine: Any, query: str) -> list[Any]:
    """`[value]`, or `[]` when the rule is undefined."""
    try:
        doc = json.loads(engine.eval_query_as_json(query))
    except RuntimeError as exc:
        raise RegoError(regorus_diagnostic(exc).describe("evaluation error")) from None
    results = doc.get("result") or []
    return [results[0]["expressions"][0]["value"]] if results else []


# --- the opa binary ---------------------------------------------------------------------------


class OpaEngine:
    """`opa eval` per policy, through `tfctl.terraform.process.run_process` (its own process
    group, a timeout), with a query that reads what conftest reads. The plan JSON and the
    merged data documents are passed as files; opa's JSON output is parsed. A policy in Rego
    v0 is retried with `--v0-compatible` when opa (1.0 and later) does not parse it."""

    name = "opa"

    def __init__(self, binary: str, *, timeout: float = 300.0) -> None:
        self.binary, self.timeout = binary, timeout

    def version(self) -> str:
        output = self._run([self.binary, "version"], Path.cwd())
        found = re.search(r"^Version:\s*(\S+)", output, re.MULTILINE)
        return found.group(1) if found else (output.strip().splitlines() or ["unknown"])[0]

    def compile(self, policy: Policy) -> Program:
        packages = [".".join(p) for f in policy.bundle.files if (p := package_path(f.text))]
        try:
            namespaces = conftest.select_namespaces(
                str(policy.bundle.source), packages, policy.namespaces
            )
        except errors.InvalidInput as exc:
            raise RegoError(exc.message) from None
        sources = tuple((str(f.path), f.text) for f in policy.bundle.files)
        return Program(policy, namespaces, None, sources)

    def verify(self, policy: Policy) -> Program:
        program = self.compile(policy)
        files = [name for name, _ in program.sources]
        self._opa_json([self.binary, "check", "--format", "json", *files], Path.cwd())
        return program

    def prepare(self, plan_json: Path) -> Evaluator:
        def evaluate(program: Program) -> list[NamespaceValues]:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="tfctl-opa-") as tmp:
                data = None
                if program.policy.data is not None:  # merged as conftest merges --data
                    data = Path(tmp) / "data.json"
                    data.write_text(program.policy.data.to_json(), encoding="utf-8")
                argv = opa_eval_argv(self.binary, plan_json, program, data)
                return opa_values(self._opa_json(argv, plan_json.parent), program)

        return evaluate

    def _opa_json(self, argv: list[str], cwd: Path) -> dict[str, Any]:
        """Run opa, retried with `--v0-compatible` when it fails to parse (a Rego v0
        policy on opa 1.x); the JSON document it printed, or `RegoError`."""
        first = self._attempt(argv, cwd)
        if isinstance(first, dict):
            return first
        problems, message = first
        if problems and all(p.get("code") == "rego_parse_error" for p in problems):
            second = self._attempt([*argv[:2], "--v0-compatible", *argv[2:]], cwd)
            if isinstance(second, dict):
                return second
            if second[0] and not all(p.get("code") == "rego_parse_error" for p in second[0]):
                message = second[1]
        raise RegoError(message)

    def _attempt(self, argv: list[str], cwd: Path) -> dict[str, Any] | tuple[list[Any], str]:
        from tfctl.terraform.process import StopControl, run_process

        stdout: list[str] = []
        try:
            result = run_process(
                argv, cwd=cwd, env=os.environ, control=StopControl(timeout=self.timeout),
                on_line=lambda stream, line: stdout.append(line) if stream == "stdout" else None,
            )  # fmt: skip
        except OSError as exc:
            raise RegoError(f"cannot run {self.binary}: {exc}") from exc
        doc = _json_or_none("\n".join(stdout)) or _json_or_none(result.stderr_text)
        if result.timed_out:
            raise RegoError(f"opa {argv[1]} did not finish in {self.timeout:.0f} s and was stopped")
        if result.exit_code == 0:
            return doc or {}
        problems = _problems(doc)
        return problems, _failure(argv[1], problems, result.stderr_text)

    def _run(self, argv: list[str], cwd: Path) -> str:
        from tfctl.terraform.process import StopControl, run_process

        lines: list[str] = []
        try:
            result = run_process(argv, cwd=cwd, env=os.environ, control=StopControl(timeout=30),
                                 on_line=lambda stream, line: lines.append(line))  # fmt: skip
        except OSError as exc:
            raise RegoError(f"cannot run {self.binary}: {exc}") from exc
        if result.exit_code != 0:
            raise RegoError(f"{' '.join(argv[1:])} failed: {' '.join(lines)[:200]}")
        return "\n".join(lines)


def opa_eval_argv(binary: str, plan_json: Path, program: Program, data: Path | None) -> list[str]:
    """`opa eval --format json --input PLAN --data FILE... [--data DATA] QUERY`."""
    files = [arg for name, _ in program.sources for arg in ("--data", name)]
    extra = ["--data", str(data)] if data is not None else []
    return [binary, "eval", "--format", "json", "--input", str(plan_json), *files, *extra,
            opa_query(program)]  # fmt: skip


def opa_query(program: Program) -> str:
    """One query for every namespace: its conftest rules (by name when known, else every
    rule of the package whose name matches) and its exception rule, each in a
    comprehension so that an undefined rule is an empty array, not an undefined query."""
    parts = []
    for namespace in program.namespaces:
        ref = rego_ref(namespace)
        names = None if program.rules is None else program.rules.get(namespace, ())
        if names is None:
            rules = (f'{{k: [v] | some k; v := {ref}[k]; regex.match("{conftest.RULES.pattern}", '
                     "k)}")  # fmt: skip
        else:
            rules = "{" + ", ".join(f'"{n}": [x | x := {ref}.{n}]' for n in names) + "}"
        exception = f"[x | x := {ref}.exception]"
        parts.append(f'{json.dumps(namespace)}: {{"rules": {rules}, "exception": {exception}}}')
    return "{" + ", ".join(parts) + "}"


def opa_values(doc: Mapping[str, Any], program: Program) -> list[NamespaceValues]:
    """The namespaces' values from `opa eval`'s output of `opa_query`."""
    results = doc.get("result") or [{}]
    tree = (results[0].get("expressions") or [{}])[0].get("value") or {}
    found = []
    for namespace in program.namespaces:
        node = tree.get(namespace) or {}
        rules = {name: values[0] for name, values in (node.get("rules") or {}).items() if values}
        exception = node.get("exception") or []
        found.append(NamespaceValues(namespace, rules, exception[0] if exception else None))
    return found


def _problems(doc: Mapping[str, Any] | None) -> list[Any]:
    doc = doc or {}
    problems = doc.get("errors") or ([doc["error"]] if doc.get("error") else [])
    return [p for p in problems if isinstance(p, Mapping)]


def _failure(command: str, problems: list[Any], stderr: str) -> str:
    if not problems:
        return f"opa {command} failed: {' '.join(stderr.split())[:500] or 'no output'}"
    first, more = problems[0], len(problems) - 1
    where = first.get("location") or {}
    what = "evaluation error" if str(first.get("code", "")).startswith("eval") else None
    diagnostic = Diagnostic(str(first.get("message", "")), where.get("file"),
                            int(where.get("row", 0)), int(where.get("col", 0)))  # fmt: skip
    suffix = f" (and {more} more)" if more > 0 else ""
    return diagnostic.describe(what or "compile error") + suffix


def _json_or_none(text: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
