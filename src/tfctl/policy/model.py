"""What a policy check produces: one `PolicyResult` per policy, one `PolicyReport` per plan.

`PolicyReport.to_dict()` is what a plan run stores in `Run.policy_results` and prints with
`--json` (README "JSON fields"). Everything here is pure: no engine, no store, no files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
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
    ERROR = "error"  # the policy could not be read, compiled or evaluated: counts as failed
    SKIPPED = "skipped"  # no Rego engine


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """A policy to check: an attachment (id, level, hash at attach time), or a policy given
    on the command line (`tfctl policy test`), which has none of those."""

    source: Path
    level: EnforcementLevel | None = None
    attachment_id: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """One policy's verdict on one plan."""

    policy: str
    level: EnforcementLevel | None
    outcome: Outcome
    attachment_id: str | None = None
    messages: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    engine: str | None = None
    duration_ms: float = 0.0
    changed_since_attach: bool = False
    sha256: str | None = None

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
            "engine": self.engine,
            "duration_ms": self.duration_ms,
            "changed_since_attach": self.changed_since_attach,
            "sha256": self.sha256,
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
        from tfctl.policy.gate import blocked_by

        data: dict[str, Any] = {
            "status": self.status,
            "engine": self.engine,
            "checked_at": self.checked_at.isoformat(),
            "duration_ms": self.duration_ms,
            "engine_required": self.engine_required,
            "warning": NO_ENGINE_WARNING if self.engine is None else None,
            "policies": [r.to_dict() for r in self.results],
        }
        block = blocked_by(data, require_engine=self.engine_required)
        data["blocking"] = None if block is None else block.kind
        return data


# --- conftest-compatible rule values ------------------------------------------------------


def rule_messages(package: str, rule: str, value: Any) -> list[str]:
    """The messages of one `deny` / `violation` / `warn` rule value, as conftest reads them:
    a set (a list, in JSON) of strings or of objects with a `msg`; a single string or object;
    `true` for a boolean rule. `false`, null and empty sets mean nothing fired."""
    if value is None or value is False:
        return []
    if value is True:
        return [f"{package}.{rule} is true"]
    if isinstance(value, list):
        return [_message(item) for item in value]
    if isinstance(value, Mapping) and "msg" not in value:  # a partial object rule: key → msg
        return [_message(item) for item in value.values()]
    return [_message(value)]


def _message(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and "msg" in item:
        return str(item["msg"])
    return json.dumps(item, sort_keys=True, default=str)


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """`items` without repeats, in their first order (a set rule shared by two files)."""
    return tuple(dict.fromkeys(items))
