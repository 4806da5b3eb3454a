"""Session cookies, CSRF tokens, roles and API error answers, without a server."""

from __future__ import annotations

import pytest

from tfctl import errors
from tfctl.server.auth import SESSION_SECONDS, csrf_token, make_session, read_session
from tfctl.server.errors import status_of, validation_message
from tfctl.server.tokens import Role, TokenView, digest, parse_role

KEY = b"k" * 32
TOKEN = TokenView("tok-1", "alice", Role.OPERATOR, "test", "2026-01-01T00:00:00+00:00")


def test_a_session_names_its_token_and_expires() -> None:
    value = make_session(KEY, TOKEN, now=1_000)
    token_id, session = read_session(KEY, value, now=1_000 + SESSION_SECONDS) or ("", "")
    assert token_id == "tok-1"
    assert session
    assert read_session(KEY, value, now=1_001 + SESSION_SECONDS) is None
    assert read_session(b"other key" * 4, value, now=1_000) is None
    assert make_session(KEY, TOKEN, now=1_000) != value  # a fresh session id every login


def test_csrf_tokens_differ_per_session_and_key() -> None:
    assert csrf_token(KEY, "s1") == csrf_token(KEY, "s1")
    assert csrf_token(KEY, "s1") != csrf_token(KEY, "s2")
    assert csrf_token(b"x" * 32, "s1") != csrf_token(KEY, "s1")


def test_roles_include_the_ones_below() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.ADMIN)
    with pytest.raises(errors.InvalidInput, match="expected one of viewer, operator, admin"):
        parse_role("root")
    assert digest("tfctl_x") == digest("tfctl_x") != digest("tfctl_y")


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.WorkspaceNotFound(), 404, "not_found"),
        (errors.ConfirmationRequired(), 422, "confirmation_required"),
        (errors.RunRefused(), 409, "refused"),
        (errors.PolicyBlocked(), 409, "policy_blocked"),
        (errors.PlanMismatch(), 409, "plan_mismatch"),
        (errors.InvalidSpec(), 422, "invalid_spec"),
        (errors.InvalidInput(), 400, "invalid_input"),
        (errors.AlreadyExists(), 409, "already_exists"),
        (errors.StoreUnavailable(), 503, "store_unavailable"),
        (errors.TerraformError(), 500, "error"),
    ],
)
def test_errors_map_to_status_codes(error: errors.TfctlError, status: int, code: str) -> None:
    assert status_of(error) == (status, code)


def test_validation_problems_read_as_one_line() -> None:
    malformed = [{"type": "json_invalid", "loc": ("body", 1), "ctx": {"error": "Expecting ','"}}]
    assert validation_message(malformed) == (
        400, "malformed_json", "the request body is not valid JSON: Expecting ','")  # fmt: skip
    problems = [
        {"type": "extra_forbidden", "loc": ("body", "colour"), "input": "red"},
        {"type": "missing", "loc": ("body", "name")},
        {"type": "literal_error", "loc": ("body", "operation"), "msg": "Input should be 'plan'",
         "input": "aply"},
    ]  # fmt: skip
    assert validation_message(problems) == (422, "invalid_request", "colour: unknown field; "
        "name: required; operation: Input should be 'plan' (got 'aply')")  # fmt: skip
