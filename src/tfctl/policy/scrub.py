"""Secrets in policy messages: a stricter rule than in logs.

Logs are scrubbed of sensitive values of 4 characters or more (`redact.MIN_SECRET_LENGTH`):
scrubbing a sensitive `1` or `eu` everywhere in a log would make it useless, and terraform's
own output rarely prints such values bare. Policy messages are different: they are short,
written precisely to quote plan values (`input=x9z`), and stored with the run. So a policy
message or warning is also scrubbed of every shorter sensitive value (1 to 3 characters;
`true`, `false` and `null` excepted, as everywhere) wherever it stands as a whole token —
not inside a longer run of letters and digits: `x9z` goes from `input=x9z`, and a sensitive
`1` from `web[1]`, but not from `10` or `v1`.

The trade-off, decided: when a plan has a very short sensitive value, its policy messages may
lose a few harmless tokens that happen to equal it (a sensitive `1` also hides the `1` of an
unrelated `web[1]`) — visible as `(sensitive value)`, never silent — rather than a short
secret being stored and printed in clear text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable

from tfctl.terraform.redact import MIN_SECRET_LENGTH, REDACTED, SecretScrubber

_COMMON = frozenset({"true", "false", "null", "none"})


def short_secrets(secrets: Iterable[str]) -> set[str]:
    """The sensitive values too short for the log scrubber, as they may appear in text."""
    found = set()
    for secret in secrets:
        value = secret.strip()
        if value and len(value) < MIN_SECRET_LENGTH and value.lower() not in _COMMON:
            found.update({value, json.dumps(value)[1:-1]})
    return found


def token_scrubber(shorts: Iterable[str]) -> Callable[[str], str]:
    """Replace each of `shorts` where it is a whole token (not next to a letter or digit)."""
    ordered = sorted(set(shorts), key=lambda s: (-len(s), s))
    if not ordered:
        return lambda text: text
    pattern = re.compile(
        r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, ordered)) + r")(?![A-Za-z0-9])"
    )
    return lambda text: pattern.sub(REDACTED, text)


def message_scrubber(
    secrets: Iterable[str], scrub: Callable[[str], str] | None = None
) -> Callable[[str], str]:
    """The scrubber for policy messages: `scrub` (default: a `SecretScrubber` of `secrets`,
    the log rule) and then the short values of `secrets` as whole tokens."""
    values = list(secrets)
    long_ = scrub or SecretScrubber(values).scrub
    short = token_scrubber(short_secrets(values))
    return lambda text: short(long_(text))
