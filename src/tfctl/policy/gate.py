"""The apply gate: whether a plan's stored policy results let it be applied, and the words
for it (refusals, override records, the lines `plan` and the run log show).

It reads the stored `Run.policy_results` document, not live objects, so an apply decided on
another machine (a worker) decides the same way. Pure: no store, no engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tfctl import errors
from tfctl.policy.model import (
    ENGINE_REQUIRED,
    ERROR_OUTCOMES,
    HARD,
    SOFT,
    EnforcementLevel,
    blocking_policies,
)

_SHOWN_MESSAGES = 3


@dataclass(frozen=True, slots=True)
class Block:
    """Why a plan cannot be applied as it is: a failed hard or soft mandatory policy, or no
    engine while one is required. Only a soft block can be overridden."""

    kind: str
    policies: tuple[Mapping[str, Any], ...]

    @property
    def overridable(self) -> bool:
        return self.kind == SOFT

    def reason(self) -> str:
        """One line: which policies failed and their first messages."""
        if self.kind == ENGINE_REQUIRED:
            return "its policies were not checked (no Rego engine)"
        return " / ".join(_failure(p) for p in self.policies)


def blocked_by(results: Mapping[str, Any] | None, *, require_engine: bool) -> Block | None:
    """The block in a plan's policy results, hard before soft; None when it may be applied.
    Skipped checks block only when an engine is required (now, or when the plan was made)."""
    found = blocking_policies(results, require_engine=require_engine)
    return None if found is None else Block(*found)


def enforce(
    results: Mapping[str, Any] | None,
    *,
    plan_id: str,
    workspace: str,
    override_reason: str | None,
    require_engine: bool,
) -> Block | None:
    """Raise `PolicyBlocked` (exit 3) unless the plan's policy results allow an apply. A soft
    block with an `override_reason` is let through and returned, for the apply to record;
    otherwise returns None."""
    block = blocked_by(results, require_engine=require_engine)
    if block is None:
        return None
    if block.overridable and override_reason:
        return block
    raise errors.PolicyBlocked(refusal(block, plan_id=plan_id, workspace=workspace))


def refusal(block: Block, *, plan_id: str, workspace: str) -> str:
    """The one-line refusal for an apply of `plan_id`, saying what to do."""
    head = f"plan {plan_id} is blocked by policy: {block.reason()}"
    if block.kind == HARD:
        return (
            f"{head}; a hard_mandatory policy cannot be overridden: change the configuration "
            f"(or the policy) and run `tfctl plan {workspace}` again"
        )
    if block.kind == SOFT:
        return (
            f"{head}; to apply it anyway: `tfctl apply {workspace} --run {plan_id} "
            "--override-policy --reason TEXT`"
        )
    return (
        f"{head}, and TFCTL_POLICY_REQUIRE_ENGINE requires a check: put `opa` on PATH or "
        f"`pip install 'tfctl[policy]'`, then run `tfctl plan {workspace}` again"
    )


def override_record(
    block: Block, *, actor: str, reason: str, plan_id: str, at: datetime
) -> dict[str, Any]:
    """What an apply run stores in its `policy_results` when it overrode a soft block."""
    return {
        "override": {
            "actor": actor,
            "reason": reason,
            "at": at.isoformat(),
            "plan_run_id": plan_id,
            "policies": [
                {key: p.get(key) for key in ("attachment_id", "policy", "level", "messages")}
                for p in block.policies
            ],
        }
    }


def report_lines(results: Mapping[str, Any] | None) -> list[str]:
    """Policy results as short lines for a terminal or a log: a header, one line per policy
    with its messages and warnings under it, the verdict for apply, any override."""
    if not results:
        return []
    lines = _check_lines(results) if results.get("policies") else []
    override = results.get("override")
    if override:
        lines.append(
            f"policy override by {override['actor']} at {override['at']}: {override['reason']}"
        )
    return lines


def _check_lines(results: Mapping[str, Any]) -> list[str]:
    policies = results["policies"]
    if results.get("engine") is None:
        lines = [f"policies: SKIPPED ({len(policies)} attached): {results.get('warning')}"]
    else:
        lines = [
            f"policies: {results['status']} ({len(policies)} checked by {results['engine']} "
            f"in {results.get('duration_ms', 0):.0f} ms)"
        ]
    for policy in policies:
        lines.extend(_policy_lines(policy))
    block = blocked_by(results, require_engine=False)
    if block is not None:
        lines.append(_verdict(block))
    errored = [p for p in policies if p["outcome"] in ERROR_OUTCOMES and p.get("level") in
               (None, EnforcementLevel.ADVISORY.value)]  # fmt: skip
    if errored:
        lines.append(
            f"warning: {len(errored)} polic{'y' if len(errored) == 1 else 'ies'} could not be "
            "evaluated (errored): not checked; at soft or hard mandatory this blocks apply"
        )
    return lines


def _policy_lines(policy: Mapping[str, Any]) -> list[str]:
    level = policy.get("level") or "-"
    lines = [f"  {policy['outcome'].upper():<8} {level:<15} {policy['policy']}{_since(policy)}"]
    label = "error" if policy["outcome"] in ERROR_OUTCOMES else "deny"
    lines += [f"      {label}: {m}" for m in policy.get("messages", [])]
    lines += [f"      warn: {w}" for w in policy.get("warnings", [])]
    lines += [f"      exception: {e}" for e in policy.get("exceptions", [])]
    return lines


def _since(policy: Mapping[str, Any]) -> str:
    changed = [
        what
        for key, what in (("changed_since_attach", "policy"), ("data_changed_since_attach", "data"))
        if policy.get(key)
    ]
    if not changed:
        return ""
    return f" ({'' if changed == ['policy'] else ' and '.join(changed) + ' '}changed since attach)"


def _verdict(block: Block) -> str:
    if block.kind == HARD:
        return "apply blocked: a hard_mandatory policy failed (no override)"
    if block.kind == SOFT:
        return "apply blocked: a soft_mandatory policy failed (apply --override-policy --reason)"
    return "apply blocked: TFCTL_POLICY_REQUIRE_ENGINE is set and no Rego engine checked"


def _failure(policy: Mapping[str, Any]) -> str:
    messages = [" ".join(str(m).split()) for m in policy.get("messages", [])]
    shown = "; ".join(messages[:_SHOWN_MESSAGES])
    more = f" (+{len(messages) - _SHOWN_MESSAGES} more)" if len(messages) > _SHOWN_MESSAGES else ""
    return f"{policy.get('level')} policy {policy.get('policy')} failed: {shown}{more}"
