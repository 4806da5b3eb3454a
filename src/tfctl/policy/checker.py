"""PolicyChecker: evaluate a workspace's policies against one plan's JSON, as conftest does.

Each policy (and its data documents) is re-read from disk at every check, its hashes compared
with the ones recorded at attach time, and evaluated on its own, so two policies never share
rules. A policy that cannot be read, compiled or evaluated, or that now uses a construct the
engine would evaluate differently from OPA, is `errored` — a failure at its level with the
reason as its message, never a silent pass. With no engine, every policy is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from tfctl import errors
from tfctl.policy import conftest, engines
from tfctl.policy.engines import Evaluator, Policy, PolicyRefused, RegoEngine, RegoError
from tfctl.policy.model import Finding, Outcome, PolicyRef, PolicyReport, PolicyResult
from tfctl.policy.sources import load_bundle, load_data


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
            return tuple(_Check(p, engine.name).errored(str(exc)) for p in policies)
        return tuple(self._evaluate(engine, evaluate, p) for p in policies)

    def _evaluate(self, engine: RegoEngine, evaluate: Evaluator, ref: PolicyRef) -> PolicyResult:
        started = self._clock()
        check = _Check(ref, engine.name)
        try:
            policy = check.read()
            program = engine.compile(policy)
            check.findings = program.findings
            check.namespaces = program.namespaces
            verdict = conftest.verdict(evaluate(program))
        except PolicyRefused as exc:  # changed since attach to use a refused construct
            return check.errored(*exc.problems, duration_ms=self._ms_since(started))
        except (errors.InvalidInput, RegoError, conftest.RuleShapeError) as exc:
            message = exc.message if isinstance(exc, errors.InvalidInput) else str(exc)
            return check.errored(message, duration_ms=self._ms_since(started))
        return check.result(verdict, self._ms_since(started))

    def _ms_since(self, started: float) -> float:
        return round((self._clock() - started) * 1000, 3)


class _Check:
    """One policy's check: what was read (hashes), then its result."""

    def __init__(self, ref: PolicyRef, engine: str) -> None:
        self.ref, self.engine = ref, engine
        self.sha256: str | None = None
        self.data_sha256: str | None = None
        self.namespaces: tuple[str, ...] | None = None
        self.findings: tuple[Finding, ...] = ()

    def read(self) -> Policy:
        bundle = load_bundle(self.ref.source)  # deleted, emptied or unreadable since attached
        self.sha256 = bundle.sha256
        data = load_data(self.ref.data)
        self.data_sha256 = None if data is None else data.sha256
        return Policy(bundle, self.ref.namespaces, data)

    def result(self, verdict: conftest.Verdict, duration_ms: float) -> PolicyResult:
        outcome = Outcome.FAILED if verdict.denied else Outcome.PASSED
        return self._result(outcome, verdict.denied, duration_ms, verdict)

    def errored(self, *messages: str, duration_ms: float = 0.0) -> PolicyResult:
        return self._result(Outcome.ERRORED, messages, duration_ms)

    def _result(
        self,
        outcome: Outcome,
        messages: tuple[str, ...],
        duration_ms: float,
        verdict: conftest.Verdict | None = None,
    ) -> PolicyResult:
        ref = self.ref
        return PolicyResult(
            policy=str(ref.source), level=ref.level, attachment_id=ref.attachment_id,
            outcome=outcome, messages=messages, warnings=verdict.warned if verdict else (),
            exceptions=verdict.excepted if verdict else (), engine=self.engine,
            duration_ms=duration_ms, sha256=self.sha256,
            changed_since_attach=_changed(ref.sha256, self.sha256),
            namespaces=self.namespaces, data_sha256=self.data_sha256,
            data_changed_since_attach=ref.attachment_id is not None
            and _changed(ref.data_sha256, self.data_sha256, attached=True),
            findings=self.findings,
        )  # fmt: skip


def _changed(then: str | None, now: str | None, *, attached: bool = False) -> bool:
    """Whether a hash changed since attach: never for a policy without a recorded hash (one
    given on the command line); for data, also when documents appeared or vanished."""
    if attached:
        return then != now
    return then is not None and now is not None and now != then


def _skipped(policy: PolicyRef) -> PolicyResult:
    return PolicyResult(
        policy=str(policy.source), level=policy.level, attachment_id=policy.attachment_id,
        outcome=Outcome.SKIPPED,
    )  # fmt: skip
