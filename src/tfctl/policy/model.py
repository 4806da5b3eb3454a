"""What a policy check produces: one `PolicyResult` per policy, one `PolicyReport` per plan.

`PolicyReport.to_dict()` is what a plan run stores in `Run.policy_results` and prints with
`--json` (README "JSON fields"). Everything here is pure: no engine, no store, no files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from tfctl import errors


class EnforcementLevel(StrEnum):
    """How a failing policy affects apply (DESIGN.md "Policy gate")."""

    ADVISORY = "advisory"  # reported only
    SOFT_MANDATORY = "soft_mandatory"  # blocks apply unless overridden with a reason
    HARD_MANDATORY = "hard_mandatory"  # blocks apply, no override


LEVELS: tuple[str, ...] = tuple(level.value for level in EnforcementLevel)
HARD = EnforcementLevel.HARD_MANDATORY.value
SOFT = EnforcementLevel.SOFT_MANDATORY.value
ENGINE_REQUIRED = "engine_required"


def parse_level(value: str | None) -> EnforcementLevel:
    """The level named `value`, or `InvalidInput` listing the levels."""
    if value is None:
        raise errors.InvalidInput(f"--level is required: one of {', '.join(LEVELS)}")
    try:
        return EnforcementLevel(value)
    except ValueError:
        raise errors.InvalidInput(
            f"--level {value!r}: unknown enforcement level; expected one of {', '.join(LEVELS)}"
        ) from None


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # a deny or violation rule produced a message
    # The policy could not be read, compiled or evaluated, or uses a construct the engine
    # would evaluate differently from OPA: counts as failed (fail closed).
    ERRORED = "errored"
    SKIPPED = "skipped"  # no Rego engine


ERROR_OUTCOMES = frozenset({Outcome.ERRORED.value, "error"})  # "error": results stored before


class Action(StrEnum):
    """What tfctl does about a construct the in-process engine evaluates differently."""

    REFUSED = "refused"  # the policy cannot be attached (or fails closed at a check)
    REWRITTEN = "rewritten"  # evaluated in a rewritten form that gives OPA's answer
    UNCHECKED = "unchecked"  # could not be checked statically (a computed sprintf format)
    WARNING = "warning"  # the parser's warning, which regorus would print to stderr


@dataclass(frozen=True, slots=True)
class Finding:
    """A construct found in a policy: where, what, and what to write instead (refused) or
    what tfctl did about it (rewritten)."""

    file: str
    line: int
    column: int
    construct: str
    advice: str
    action: Action

    def describe(self) -> str:
        advice = f"; {self.advice}" if self.advice else ""
        return f"{self.file}:{self.line}: {self.construct}{advice}"


def summarise(findings: Iterable[Finding]) -> str | None:
    """One line for what was rewritten, left unchecked or warned about (`policy attach` and
    `policy test` print it instead of one line per construct), or None when nothing was."""
    counts: dict[str, int] = {}
    warnings: dict[str, int] = {}
    for finding in findings:
        if finding.action is Action.WARNING:
            warnings[finding.construct] = warnings.get(finding.construct, 0) + 1
        elif finding.action is not Action.REFUSED:
            key = f"{finding.action.value} {finding.construct.split(':')[0]}"
            counts[key] = counts.get(key, 0) + 1
    parts = [f"{key} (x{n})" if n > 1 else key for key, n in counts.items()]
    if counts:
        parts[-1] += " (OPA's answers kept)"
    if warnings:
        first, *others = warnings
        kinds = f"; and {len(others)} other kinds" if others else ""
        parts.append(f"{sum(warnings.values())} parser warnings: {first}{kinds}")
    return "in-process engine: " + "; ".join(parts) if parts else None


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """A policy to check: an attachment (id, level, hashes at attach time), or a policy given
    on the command line (`tfctl policy test`), which has none of those. `namespaces` None
    means every package of the policy (`--all-namespaces`)."""

    source: Path
    level: EnforcementLevel | None = None
    attachment_id: str | None = None
    sha256: str | None = None
    namespaces: tuple[str, ...] | None = ("main",)
    data: tuple[Path, ...] = ()
    data_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """One policy's verdict on one plan."""

    policy: str
    level: EnforcementLevel | None
    outcome: Outcome
    attachment_id: str | None = None
    messages: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()
    engine: str | None = None
    duration_ms: float = 0.0
    changed_since_attach: bool = False
    sha256: str | None = None
    namespaces: tuple[str, ...] | None = None
    data_sha256: str | None = None
    data_changed_since_attach: bool = False
    findings: tuple[Finding, ...] = ()  # what the engine rewrote or could not check

    @property
    def passed(self) -> bool | None:
        """None when the policy was not evaluated (no engine)."""
        return None if self.outcome is Outcome.SKIPPED else self.outcome is Outcome.PASSED

    def scrubbed(self, scrub: Callable[[str], str]) -> PolicyResult:
        """The same result with `scrub` applied to every message (policies may quote plan
        values, secrets included)."""
        return replace(
            self,
            messages=tuple(scrub(m) for m in self.messages),
            warnings=tuple(scrub(w) for w in self.warnings),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "attachment_id": self.attachment_id,
            "policy": self.policy,
            "level": None if self.level is None else self.level.value,
            "outcome": self.outcome.value,
            "passed": self.passed,
            "messages": list(self.messages),
            "warnings": list(self.warnings),
            "exceptions": list(self.exceptions),
            "engine": self.engine,
            "duration_ms": self.duration_ms,
            "changed_since_attach": self.changed_since_attach,
            "sha256": self.sha256,
            "namespaces": None if self.namespaces is None else list(self.namespaces),
            "data_sha256": self.data_sha256,
            "data_changed_since_attach": self.data_changed_since_attach,
            "notes": [f"{f.action.value}: {f.describe()}" for f in self.findings],
        }


NO_ENGINE_WARNING = (
    "no Rego engine: `opa` is not on PATH and the in-process engine is not installed "
    "(pip install 'tfctl[policy]'); policies were not checked"
)


@dataclass(frozen=True, slots=True)
class PolicyReport:
    """Every attached policy's result for one plan; `engine` is None when none was found."""

    results: tuple[PolicyResult, ...]
    engine: str | None
    checked_at: datetime
    duration_ms: float = 0.0
    engine_required: bool = False

    @property
    def status(self) -> str:
        if self.engine is None:
            return Outcome.SKIPPED.value
        failed = any(r.passed is False for r in self.results)
        return Outcome.FAILED.value if failed else Outcome.PASSED.value

    def scrubbed(self, scrub: Callable[[str], str]) -> PolicyReport:
        return replace(self, results=tuple(r.scrubbed(scrub) for r in self.results))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "engine": self.engine,
            "checked_at": self.checked_at.isoformat(),
            "duration_ms": self.duration_ms,
            "engine_required": self.engine_required,
            "warning": NO_ENGINE_WARNING if self.engine is None else None,
            "policies": [r.to_dict() for r in self.results],
        }
        block = blocking_policies(data, require_engine=self.engine_required)
        data["blocking"] = None if block is None else block[0]
        return data


def blocking_policies(
    results: Mapping[str, Any] | None, *, require_engine: bool
) -> tuple[str, tuple[Mapping[str, Any], ...]] | None:
    """What blocks an apply in stored policy results: (`hard_mandatory`, `soft_mandatory` or
    `engine_required`, the policies), hard before soft; None when nothing does. A failed or
    errored policy blocks at the mandatory levels; skipped checks block only when an engine
    is required (now, or when the plan was made). `tfctl.policy.gate` words it."""
    if not results or not results.get("policies"):
        return None
    policies: Sequence[Mapping[str, Any]] = results["policies"]
    if results.get("engine") is None:
        required = require_engine or bool(results.get("engine_required"))
        return (ENGINE_REQUIRED, tuple(policies)) if required else None
    for level in (HARD, SOFT):
        failed = tuple(p for p in policies if p.get("level") == level and p.get("passed") is False)
        if failed:
            return level, failed
    return None
