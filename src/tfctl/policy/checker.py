"""PolicyChecker: evaluate a workspace's policies against one plan's JSON.

Each policy is re-read from disk at every check (its hash compared with the one recorded at
attach time) and evaluated on its own, so two policies never share rules. A policy that
cannot be read, compiled or evaluated is a failure at its level with the reason as its
message — never a silent pass. With no engine, every policy is recorded as skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from tfctl import errors
from tfctl.policy import engines
from tfctl.policy.engines import Evaluator, RegoEngine, RegoError, RuleValue
from tfctl.policy.model import Outcome, PolicyRef, PolicyReport, PolicyResult, rule_messages, unique
from tfctl.policy.sources import load_bundle


class PolicyChecker:
    """Checks plans against policies with the engine `find_engine()` returns at each check
    (opa may appear on PATH between two checks); with none, every policy is recorded as
    skipped, and `require_engine` is recorded with it so that apply refuses the plan."""

    def __init__(
        self,
        *,
        find_engine: Callable[[], RegoEngine | None] = engines.find_engine,
        require_engine: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.find_engine = find_engine
        self.require_engine = require_engine
        self._clock = clock

    def check(self, policies: Sequence[PolicyRef], plan_json: Path) -> PolicyReport:
        """Evaluate every policy against the plan JSON at `plan_json` (`terraform show
        -json`), in order. Messages are returned as the policies wrote them: the caller
        scrubs secrets from them before storing or printing (`PolicyReport.scrubbed`)."""
        started, engine = self._clock(), self.find_engine()
        if engine is None:
            results = tuple(_skipped(policy) for policy in policies)
        else:
            results = self._evaluate_all(engine, policies, plan_json)
        return PolicyReport(
            results, engine=None if engine is None else engine.name, checked_at=datetime.now(UTC),
            duration_ms=self._ms_since(started), engine_required=self.require_engine,
        )  # fmt: skip

    def _evaluate_all(
        self, engine: RegoEngine, policies: Sequence[PolicyRef], plan_json: Path
    ) -> tuple[PolicyResult, ...]:
        try:
            evaluate = engine.prepare(plan_json)
        except RegoError as exc:
            return tuple(self._failed(p, engine.name, str(exc)) for p in policies)
        return tuple(self._evaluate(evaluate, engine.name, p) for p in policies)

    def _evaluate(self, evaluate: Evaluator, engine: str, policy: PolicyRef) -> PolicyResult:
        started = self._clock()
        try:
            bundle = load_bundle(policy.source)
        except errors.InvalidInput as exc:  # deleted, emptied or unreadable since attached
            return self._failed(policy, engine, exc.message, self._ms_since(started))
        changed = policy.sha256 is not None and bundle.sha256 != policy.sha256
        try:
            values = evaluate(bundle.files)
        except RegoError as exc:
            duration = self._ms_since(started)
            return self._failed(policy, engine, str(exc), duration, changed, bundle.sha256)
        denied, warned = _messages(values)
        return PolicyResult(
            policy=str(policy.source), level=policy.level, attachment_id=policy.attachment_id,
            outcome=Outcome.FAILED if denied else Outcome.PASSED, messages=denied,
            warnings=warned, engine=engine, duration_ms=self._ms_since(started),
            changed_since_attach=changed, sha256=bundle.sha256,
        )  # fmt: skip

    @staticmethod
    def _failed(
        policy: PolicyRef,
        engine: str,
        message: str,
        duration_ms: float = 0.0,
        changed: bool = False,
        sha256: str | None = None,
    ) -> PolicyResult:
        return PolicyResult(
            policy=str(policy.source), level=policy.level, attachment_id=policy.attachment_id,
            outcome=Outcome.ERROR, messages=(message,), engine=engine, duration_ms=duration_ms,
            changed_since_attach=changed, sha256=sha256,
        )  # fmt: skip

    def _ms_since(self, started: float) -> float:
        return round((self._clock() - started) * 1000, 3)


def _messages(values: list[RuleValue]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(deny + violation messages, warn messages), each without repeats."""
    denied = [m for pkg, rule, v in values if rule != "warn" for m in rule_messages(pkg, rule, v)]
    warned = [m for pkg, rule, v in values if rule == "warn" for m in rule_messages(pkg, rule, v)]
    return unique(denied), unique(warned)


def _skipped(policy: PolicyRef) -> PolicyResult:
    return PolicyResult(
        policy=str(policy.source), level=policy.level, attachment_id=policy.attachment_id,
        outcome=Outcome.SKIPPED,
    )  # fmt: skip
