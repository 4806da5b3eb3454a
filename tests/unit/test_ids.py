"""Ids sort by creation time: `ORDER BY id` is creation order, on any store."""

from __future__ import annotations

import itertools
import re

from tfctl.persistence.ids import new_id


def test_ids_of_later_moments_sort_later_whatever_their_random_part() -> None:
    moments = [1_700_000_000_000 + step for step in (0, 1, 2, 1000, 86_400_000)]
    ids = [new_id("run", millis=ms) for ms in moments for _ in range(5)]
    groups = [ids[i : i + 5] for i in range(0, len(ids), 5)]
    for earlier, later in itertools.pairwise(groups):
        assert max(earlier) < min(later)


def test_an_id_is_its_prefix_time_and_randomness() -> None:
    made = new_id("sv")
    assert re.fullmatch(r"sv-[0-9a-hjkmnp-tv-z]{18}", made), made
    assert new_id("sv") != made
