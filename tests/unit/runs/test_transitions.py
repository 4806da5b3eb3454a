"""The run state machine as a table (no store): which status may follow which, which statuses
are final, and what an apply of a plan in each status is told.

`EXPECTED` states the lifecycle of DESIGN.md ("Run statuses") edge by edge, independently of
`lifecycle.TRANSITIONS`, so a change to the table has to be a deliberate change here too.
"""

from __future__ import annotations

import itertools
import re
from graphlib import TopologicalSorter

import pytest

from tfctl.persistence.kinds import RunStatus
from tfctl.runs.control import HALTABLE
from tfctl.runs.status import ACTIVE, NOT_APPLICABLE, TERMINAL, TRANSITIONS, can_move, predecessors

S = RunStatus

EXPECTED: dict[RunStatus, set[RunStatus]] = {
    # a queued run is claimed, cancelled (or halted) while it waits, or fails before it starts
    S.QUEUED: {S.RUNNING, S.CANCELLED, S.ERRORED},
    # a plan ends awaiting approval or with no changes; an apply child ends applied; a drift
    # assessment ends with no changes (in sync), drifted, or superseded by a state-changing run
    # that overlapped it (its reading of the state is void)
    S.RUNNING: {
        S.AWAITING_APPROVAL,
        S.NO_CHANGES,
        S.DRIFTED,
        S.SUPERSEDED,
        S.APPLIED,
        S.ERRORED,
        S.CANCELLED,
    },
    # an awaiting plan is applied, discarded, replaced by a newer plan, cancelled (halted), or
    # spent by an apply that failed
    S.AWAITING_APPROVAL: {S.APPLIED, S.DISCARDED, S.SUPERSEDED, S.CANCELLED, S.ERRORED},
}
FINAL = {S.NO_CHANGES, S.DRIFTED, S.APPLIED, S.DISCARDED, S.SUPERSEDED, S.ERRORED, S.CANCELLED}
PAIRS = list(itertools.product(RunStatus, repeat=2))


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_a_move_is_allowed_exactly_when_the_lifecycle_allows_it(
    source: RunStatus, target: RunStatus
) -> None:
    allowed = target in EXPECTED.get(source, set())
    assert can_move(source, target) is allowed
    assert (target in TRANSITIONS.get(source, frozenset())) is allowed
    assert (source in predecessors(target)) is allowed


def test_the_final_statuses_are_the_documented_ones_and_have_no_way_out() -> None:
    assert set(TERMINAL) == FINAL
    assert set(TERMINAL) | set(TRANSITIONS) == set(RunStatus)
    assert not set(TERMINAL) & set(TRANSITIONS)
    for status in TERMINAL:
        assert not any(can_move(status, target) for target in RunStatus), status


def test_no_status_moves_to_itself_and_nothing_moves_back_to_queued() -> None:
    assert not any(can_move(status, status) for status in RunStatus)
    assert predecessors(S.QUEUED) == frozenset()  # runs are only ever created queued


def test_every_status_is_reachable_from_queued_and_every_path_ends() -> None:
    reachable, frontier = {S.QUEUED}, [S.QUEUED]
    while frontier:
        for target in TRANSITIONS.get(frontier.pop(), frozenset()):
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(RunStatus)
    # no cycle, so every run ends in a final status (CycleError otherwise)
    order = list(TopologicalSorter({s: TRANSITIONS.get(s, ()) for s in RunStatus}).static_order())
    assert set(order) == set(RunStatus)


@pytest.mark.parametrize("status", sorted(TRANSITIONS), ids=str)
def test_every_unfinished_run_can_be_cancelled_or_fail(status: RunStatus) -> None:
    """`runs cancel` and `halt` stop any unfinished run; a crash or a lost worker errors it."""
    assert can_move(status, S.CANCELLED)
    assert can_move(status, S.ERRORED)


def test_halt_stops_exactly_the_unfinished_statuses() -> None:
    assert set(HALTABLE) == set(TRANSITIONS)
    assert set(ACTIVE) <= set(TRANSITIONS)


def test_only_a_plan_awaiting_approval_has_no_refusal_message() -> None:
    """`check_applicable` looks up every other status: a missing one would be a KeyError."""
    assert set(NOT_APPLICABLE) == set(RunStatus) - {S.AWAITING_APPROVAL}


@pytest.mark.parametrize("status", sorted(NOT_APPLICABLE), ids=str)
def test_each_refusal_message_fills_in_and_says_what_happened(status: RunStatus) -> None:
    text = NOT_APPLICABLE[status].format(id="run-0123", workspace="prod", reason=" (boom)")
    assert not re.search(r"[{}]", text), text  # every placeholder is one the caller fills
    assert text.strip() == text
    assert text
    if status in (S.ERRORED, S.CANCELLED):
        assert "(boom)" in text  # the run's own message or halt reason is shown


@pytest.mark.parametrize("status", sorted(set(TRANSITIONS) - {S.AWAITING_APPROVAL}), ids=str)
def test_a_plan_not_yet_planned_is_refused_with_how_to_follow_it(status: RunStatus) -> None:
    text = NOT_APPLICABLE[status].format(id="run-0123", workspace="prod", reason="")
    assert "tfctl runs logs run-0123 --follow" in text
