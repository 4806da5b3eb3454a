"""The policy gate (DESIGN.md "Policy gate"): Rego policies attached to workspaces, checked
against every plan, enforced at apply.

- `model`    levels, per-policy results and the per-plan report (the stored JSON shape);
- `sources`  reading a policy file or directory, its hash and packages;
- `engines`  the `opa` binary or the in-process engine (regorus), and how one is found;
- `checker`  `PolicyChecker.check(policies, plan_json)`;
- `gate`     what blocks an apply, overrides, and the lines shown to users;
- `service`  attach / list / detach, and `policy test` on a recorded plan.

Importing this package imports no engine and no database code.
"""

from __future__ import annotations

from tfctl.policy.checker import PolicyChecker
from tfctl.policy.model import EnforcementLevel, PolicyRef, PolicyReport, PolicyResult

__all__ = ["EnforcementLevel", "PolicyChecker", "PolicyRef", "PolicyReport", "PolicyResult"]
