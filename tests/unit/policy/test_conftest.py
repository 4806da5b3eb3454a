"""conftest's conventions over rule values: which rules fail and which warn, exceptions, and
which namespaces are read (conftest.dev "Exceptions", "Namespaces"; its engine's rule-name
patterns `^(deny|violation)(_[a-zA-Z0-9]+)*$` and `^warn(_[a-zA-Z0-9]+)*$`)."""

from __future__ import annotations

import pytest

from tfctl import errors
from tfctl.policy.conftest import (
    NamespaceValues,
    exception_name,
    is_rule,
    select_namespaces,
    verdict,
)


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("deny", True), ("violation", True), ("warn", True), ("deny_public_bucket", True),
        ("violation_x_y", True), ("warn_2", True), ("denied", False), ("deny_", False),
        ("warning", False), ("allow", False), ("exception", False), ("deny-x", False),
    ],
)  # fmt: skip
def test_rule_names_conftest_reads(name: str, read: bool) -> None:
    assert is_rule(name) is read


def test_suffixed_rules_fail_or_warn_like_their_prefix() -> None:
    found = verdict([NamespaceValues("main", {
        "deny": ["plain"], "deny_size": ["too big"], "violation_tags": [{"msg": "no tags"}],
        "warn_cost": ["costly"], "warn": ["careful"], "helper": ["not a conftest rule"],
    })])  # fmt: skip
    assert found.denied == ("plain", "too big", "no tags")
    assert found.warned == ("careful", "costly")
    assert found.excepted == ()


@pytest.mark.parametrize(
    ("rule", "name"),
    [("deny", ""), ("violation", ""), ("warn", ""), ("deny_run_as_root", "run_as_root"),
     ("violation_a_b", "a_b"), ("warn_cost", "cost")],
)  # fmt: skip
def test_exceptions_name_rules_without_their_prefix(rule: str, name: str) -> None:
    assert exception_name(rule) == name


def test_an_exception_drops_the_messages_of_the_rules_it_names_and_is_reported() -> None:
    found = verdict([NamespaceValues(
        "main",
        {"deny_public": ["bucket is public"], "deny_size": ["too big"], "warn_cost": ["$$$"]},
        exception=[["public", "unrelated"], ["cost"]],
    )])  # fmt: skip
    assert found.denied == ("too big",)
    assert found.warned == ()
    assert found.excepted == (
        'data.main.deny_public: excepted by data.main.exception ("public"), 1 message not reported',
        'data.main.warn_cost: excepted by data.main.exception ("cost"), 1 message not reported',
    )


def test_the_empty_name_excepts_the_plain_rules_only() -> None:
    found = verdict([NamespaceValues(
        "main", {"deny": ["a", "b"], "deny_x": ["kept"]}, exception=[[""]],
    )])  # fmt: skip
    assert found.denied == ("kept",)
    assert found.excepted == (
        'data.main.deny: excepted by data.main.exception (""), 2 messages not reported',
    )


def test_an_exception_is_reported_even_when_its_rule_did_not_fire() -> None:
    """As conftest counts it: the exception matched, whatever the rule produced."""
    found = verdict([NamespaceValues("main", {"deny_x": []}, exception=[["x"]])])
    assert found.excepted == (
        'data.main.deny_x: excepted by data.main.exception ("x"), 0 messages not reported',
    )


def test_exceptions_apply_within_their_own_namespace() -> None:
    found = verdict([
        NamespaceValues("main", {"deny_x": ["from main"]}, exception=None),
        NamespaceValues("other", {"deny_x": ["from other"]}, exception=[["x"]]),
    ])  # fmt: skip
    assert found.denied == ("from main",)
    assert len(found.excepted) == 1


def test_messages_keep_namespace_then_rule_order_without_repeats() -> None:
    found = verdict([
        NamespaceValues("b", {"deny": ["same", "b1"]}),
        NamespaceValues("a", {"deny_z": ["z"], "deny": ["same"]}),
    ])  # fmt: skip
    assert found.denied == ("same", "b1", "z")


def test_the_namespace_main_is_read_unless_others_are_named() -> None:
    assert select_namespaces("p", ["main", "main.gke"], ("main",)) == ("main",)
    assert select_namespaces("p", ["a", "b", "a"], ("b", "a", "b")) == ("b", "a")
    assert select_namespaces("p", ["main.gke", "main", "lib"], None) == ("lib", "main", "main.gke")


def test_a_namespace_the_policy_does_not_declare_is_refused() -> None:
    """Reading `main` in a policy whose rules are in `terraform` would pass every plan."""
    with pytest.raises(errors.InvalidInput) as raised:
        select_namespaces("/p/policy", ["terraform", "lib"], ("main",))
    assert raised.value.message == (
        "policy /p/policy: no file declares package main (its packages: lib, terraform); "
        "name the namespace with --namespace NS, or use --all-namespaces"
    )
