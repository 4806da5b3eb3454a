"""Redaction by mask, collecting sensitive values from real plan JSON, and scrubbing text.

The plans are real `terraform show -json` output captured by
tests/fixtures/tf/summary_capture.py (Terraform 1.11.4); the secrets are its FIXTURE_* values.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.tf.summary_capture import (
    FIXTURE_API_TOKEN,
    FIXTURE_API_TOKEN_ROTATED,
    FIXTURE_DB_PASSWORD,
    FIXTURE_REFACTOR_SECRET,
)
from tfctl.terraform.redact import (
    MIN_SECRET_LENGTH,
    REDACTED,
    SecretScrubber,
    any_marked,
    redact_by_mask,
    sensitive_values_from_plan,
)

PLANS = Path(__file__).resolve().parents[2] / "fixtures" / "plans"


def plan(name: str) -> dict[str, Any]:
    return json.loads((PLANS / name).read_text())


def resource_change(doc: dict[str, Any], address: str) -> dict[str, Any]:
    return next(rc["change"] for rc in doc["resource_changes"] if rc["address"] == address)


# --- redact_by_mask ---------------------------------------------------------------------------


def test_a_true_mask_redacts_the_whole_value() -> None:
    assert redact_by_mask({"user": "u", "password": "p"}, True) == REDACTED
    assert redact_by_mask(8443, True) == REDACTED
    assert redact_by_mask(None, True) is None


@pytest.mark.parametrize("mask", [False, None, {}, []])
def test_an_empty_mask_keeps_the_value(mask: Any) -> None:
    assert redact_by_mask({"a": ["b"]}, mask) == {"a": ["b"]}


def test_terraforms_nested_mask_redacts_only_the_marked_parts() -> None:
    # terraform_data.region["eu"].input = {region, credentials = [name, token], port}
    change = resource_change(plan("summary_create.json"), 'terraform_data.region["eu"]')
    assert change["after_sensitive"]["input"] == {"credentials": [False, True], "port": True}

    redacted = redact_by_mask(change["after"], change["after_sensitive"])

    assert redacted["input"] == {
        "region": "eu",
        "credentials": ["svc-eu", REDACTED],
        "port": REDACTED,
    }
    assert change["after"]["input"]["credentials"][1] == FIXTURE_API_TOKEN  # input untouched


def test_a_mask_that_does_not_fit_the_value_redacts_all_of_it() -> None:
    assert redact_by_mask(["a", "b"], {"password": True}) == REDACTED
    assert redact_by_mask("secret", [True]) == REDACTED


def test_any_marked_finds_a_true_leaf_at_any_depth() -> None:
    assert any_marked({"input": {"credentials": [False, True]}})
    assert not any_marked({"input": {"credentials": [False, False]}, "output": {}})
    assert not any_marked(False)


# --- sensitive_values_from_plan ---------------------------------------------------------------


def test_plan_secrets_include_every_sensitive_value_and_no_plain_one() -> None:
    found = sensitive_values_from_plan(plan("summary_mixed.json"))

    assert {FIXTURE_API_TOKEN, FIXTURE_API_TOKEN_ROTATED, FIXTURE_DB_PASSWORD} <= found
    assert "5432" in found  # a sensitive number, as its JSON text
    assert not {"hello", "hi", "eu", "svc-eu", "worker-0", "stable-input"} & found


@pytest.mark.parametrize(
    ("kept", "secret"),
    [
        (("variables", "configuration"), FIXTURE_API_TOKEN_ROTATED),
        (("output_changes",), FIXTURE_API_TOKEN),
        (("resource_changes",), FIXTURE_API_TOKEN),
        (("resource_changes",), FIXTURE_DB_PASSWORD),
        (("planned_values",), FIXTURE_API_TOKEN_ROTATED),
        (("prior_state",), FIXTURE_API_TOKEN),
        (("prior_state",), FIXTURE_DB_PASSWORD),
    ],
)
def test_each_part_of_the_plan_is_searched_for_secrets(kept: tuple[str, ...], secret: str) -> None:
    doc = plan("summary_mixed.json")
    part = {key: doc[key] for key in kept}

    assert secret in sensitive_values_from_plan(part)


def test_drift_entries_are_searched_for_secrets() -> None:
    doc = plan("summary_refresh_drift.json")

    assert FIXTURE_REFACTOR_SECRET in sensitive_values_from_plan(
        {"resource_drift": doc["resource_drift"]}
    )


def test_a_plan_with_nothing_sensitive_has_no_secrets() -> None:
    assert sensitive_values_from_plan({"format_version": "1.2"}) == set()


# --- SecretScrubber ---------------------------------------------------------------------------


def test_scrubber_removes_a_secret_leaked_into_terraforms_log() -> None:
    # The stack's local-exec echoes nonsensitive(var.api_token): terraform prints it.
    log = (PLANS / "summary_apply_create.log").read_text()
    assert FIXTURE_API_TOKEN in log

    scrubbed = SecretScrubber(sensitive_values_from_plan(plan("summary_create.json"))).scrub(log)

    assert FIXTURE_API_TOKEN not in scrubbed
    assert f"announcing hello with token {REDACTED}" in scrubbed
    assert scrubbed.count("\n") == log.count("\n")


def test_scrubber_removes_every_secret_from_the_raw_plan_json() -> None:
    raw = (PLANS / "summary_mixed.json").read_text()
    secrets = sensitive_values_from_plan(json.loads(raw))

    scrubbed = SecretScrubber(secrets).scrub(raw)

    for secret in (FIXTURE_API_TOKEN, FIXTURE_API_TOKEN_ROTATED, FIXTURE_DB_PASSWORD):
        assert secret in raw
        assert secret not in scrubbed
    assert '"greeting":{"value":"hi"}' in scrubbed


@pytest.mark.parametrize("value", ["", "1", "eu", "443", "true", "False", "null", "   "])
def test_short_and_common_values_are_not_scrubbed(value: str) -> None:
    scrubber = SecretScrubber([value])

    assert len(scrubber) == 0
    assert scrubber.scrub("port 443 in eu is true, 1 of 1") == "port 443 in eu is true, 1 of 1"


def test_values_of_the_minimum_length_are_scrubbed() -> None:
    assert MIN_SECRET_LENGTH == 4
    assert SecretScrubber(["8443"]).scrub("listening on :8443") == f"listening on :{REDACTED}"


def test_the_longest_secret_wins_when_one_contains_another() -> None:
    scrubber = SecretScrubber(["pw-1234", "pw-1234-extra"])

    assert scrubber.scrub("a pw-1234-extra b pw-1234 c") == f"a {REDACTED} b {REDACTED} c"


@pytest.mark.parametrize("secret", ["value", "sensitive", "(sensitive", "ive val"])
def test_scrubbing_twice_changes_nothing_more(secret: str) -> None:
    scrubber = SecretScrubber([secret])
    once = scrubber.scrub(f"x {secret} y")

    assert once == f"x {REDACTED} y"
    assert scrubber.scrub(once) == once


def test_secrets_are_found_in_their_json_escaped_forms() -> None:
    secret = 'p"w\\d<&>\u00e9x'
    scrubber = SecretScrubber([secret])
    python_json = json.dumps({"password": secret})
    go_json = '{"password":"p\\"w\\\\d\\u003c\\u0026\\u003e\u00e9x"}'  # as terraform writes it

    assert scrubber.scrub(python_json) == json.dumps({"password": REDACTED})
    assert scrubber.scrub(go_json) == '{"password":"' + REDACTED + '"}'


def test_each_line_of_a_multiline_secret_is_scrubbed_on_its_own() -> None:
    key = "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34\n-----END KEY-----"
    scrubber = SecretScrubber([key])

    assert scrubber.scrub(key) == REDACTED
    assert "MIIBOgIBAAJBAKj34" not in scrubber.scrub("line 2: MIIBOgIBAAJBAKj34")


def reference_scrub(secrets: list[str], text: str) -> str:
    """The obvious implementation: a flat alternation, longest first."""
    kept = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH} | {REDACTED}, key=len)
    return re.sub("|".join(map(re.escape, reversed(kept))), REDACTED, text)


@given(
    secrets=st.lists(st.text(alphabet="ab(", min_size=1, max_size=8), max_size=12),
    text=st.text(alphabet="ab( ", max_size=60),
)
def test_scrubbing_matches_the_longest_secret_at_each_position(
    secrets: list[str], text: str
) -> None:
    assert SecretScrubber(secrets).scrub(text) == reference_scrub(secrets, text)


def test_secrets_nested_deeper_than_python_recursion_still_scrub() -> None:
    secrets = ["a" * n for n in range(MIN_SECRET_LENGTH, 1100)]  # each a prefix of the next

    assert SecretScrubber(secrets).scrub("x" + "a" * 1105) == f"x{REDACTED}{REDACTED}"


def test_scrubber_repr_does_not_show_the_secrets() -> None:
    scrubber = SecretScrubber([FIXTURE_API_TOKEN])

    assert FIXTURE_API_TOKEN not in repr(scrubber)
    assert FIXTURE_API_TOKEN not in str(scrubber)


def test_scrubber_without_secrets_returns_text_unchanged() -> None:
    assert SecretScrubber([]).scrub("nothing to hide") == "nothing to hide"


def test_redaction_does_not_modify_the_document() -> None:
    doc = plan("summary_mixed.json")
    before = copy.deepcopy(doc)

    sensitive_values_from_plan(doc)
    for change in doc["output_changes"].values():
        redact_by_mask(change["after"], change["after_sensitive"])

    assert doc == before
