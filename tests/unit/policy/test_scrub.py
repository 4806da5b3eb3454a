"""Policy messages are scrubbed of short sensitive values too (tfctl.policy.scrub): where logs
keep values under 4 characters, a policy message loses them wherever they stand as a whole
token."""

from __future__ import annotations

from tfctl.policy.scrub import message_scrubber, short_secrets

HIDDEN = "(sensitive value)"


def test_a_short_secret_quoted_by_a_policy_is_scrubbed() -> None:
    scrub = message_scrubber({"x9z", "a-long-password"})
    assert scrub("input=x9z, token a-long-password") == f"input={HIDDEN}, token {HIDDEN}"
    assert scrub('{"pin": "x9z"}') == f'{{"pin": "{HIDDEN}"}}'


def test_only_whole_tokens_go() -> None:
    scrub = message_scrubber({"1", "eu"})
    assert scrub("web[1] in eu-west-1 has 10 disks, v1, europe") == (
        f"web[{HIDDEN}] in {HIDDEN}-west-{HIDDEN} has 10 disks, v1, europe"
    )


def test_booleans_nulls_and_blanks_are_never_secrets_worth_scrubbing() -> None:
    assert short_secrets({"true", "false", "null", "", "  ", "ok"}) == {"ok"}
    assert message_scrubber({"true", "false"})("enabled: true") == "enabled: true"


def test_a_short_secret_inside_the_redaction_marker_is_left_alone() -> None:
    """Idempotent: scrubbing twice changes nothing, the marker is never broken up."""
    scrub = message_scrubber({"sen", "value", "a-long-password"})
    once = scrub("a-long-password and sen")
    assert once == f"{HIDDEN} and {HIDDEN}"
    assert scrub(once) == once
