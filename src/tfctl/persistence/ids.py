"""Identifiers that sort by creation time and never collide across stores.

`run-01jdq3v6m2k8x4tz9c` is a prefix, 10 Crockford base-32 characters of milliseconds since
the epoch, and 8 of randomness (40 bits). Rows created on a laptop's SQLite store and later
copied into PostgreSQL keep their ids, and `ORDER BY id` is creation order.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _base32(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(prefix: str, *, millis: int | None = None) -> str:
    """A new time-ordered id such as `run-01jdq3v6m2k8x4tz9c`; `millis` (since the epoch)
    stands in for now when rows with a known creation time are generated."""
    if millis is None:
        millis = time.time_ns() // 1_000_000
    return f"{prefix}-{_base32(millis, 10)}{_base32(secrets.randbits(40), 8)}"
