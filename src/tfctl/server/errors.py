"""Errors as the API answers them: `{"error": {"code", "message"}}` with a 4xx status and the
message the CLI prints for the same error. Bad input is never a 500."""

from __future__ import annotations

from typing import Any

from tfctl import errors

#: (status, code) per error class; the most specific class in an error's MRO wins.
_STATUS: dict[type[errors.TfctlError], tuple[int, str]] = {
    errors.NotFound: (404, "not_found"),
    errors.AlreadyExists: (409, "already_exists"),
    errors.InvalidSpec: (422, "invalid_spec"),
    errors.InvalidInput: (400, "invalid_input"),
    errors.ConfirmationRequired: (422, "confirmation_required"),
    errors.RunRefused: (409, "refused"),
    errors.WorkspaceBusy: (409, "workspace_busy"),
    errors.PolicyBlocked: (409, "policy_blocked"),
    errors.Cancelled: (409, "cancelled"),
    errors.StalePlan: (409, "stale_plan"),
    errors.StoreUnavailable: (503, "store_unavailable"),
    errors.SchemaOutdated: (503, "schema_outdated"),
}
_PLAN_MISMATCH = getattr(errors, "PlanMismatch", None)
if isinstance(_PLAN_MISMATCH, type) and issubclass(_PLAN_MISMATCH, errors.TfctlError):
    _STATUS[_PLAN_MISMATCH] = (409, "plan_mismatch")


class ApiError(Exception):
    """An error the server answers directly (authentication, permissions, bad requests)."""

    def __init__(self, status: int, code: str, message: str, *, page: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.page = status, code, message, page


def status_of(exc: errors.TfctlError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500, "error"


def body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def validation_message(problems: list[dict[str, Any]]) -> tuple[int, str, str]:
    """(status, code, one line) for FastAPI's validation errors: 400 for a body that is not
    JSON, else 422 naming each bad field and what it should be."""
    for problem in problems:
        if problem.get("type") == "json_invalid":
            detail = problem.get("ctx", {}).get("error", "")
            return 400, "malformed_json", f"the request body is not valid JSON: {detail}".rstrip()
    parts = [_describe(problem) for problem in problems[:3]]
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return 422, "invalid_request", "; ".join(parts) + more


def _describe(problem: dict[str, Any]) -> str:
    loc = [str(part) for part in problem.get("loc", ())]
    where = ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc)
    kind = problem.get("type", "")
    if kind == "extra_forbidden":
        return f"{where}: unknown field"
    if kind == "missing":
        return "the request body is missing" if loc == ["body"] else f"{where}: required"
    if loc[:1] == ["body"] and len(loc) == 1 and kind in ("model_attributes_type", "dict_type"):
        return "the request body must be a JSON object"
    value = problem.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""
    return f"{where}: {problem.get('msg', 'invalid')}{shown}"
