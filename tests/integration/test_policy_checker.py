"""PolicyChecker with the real in-process Rego engine (regorus) on plan JSON documents:
conftest rule forms, Rego v0 policies, directories, compile and evaluation errors, changed and
vanished policies, and a 1,000-resource plan."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tfctl.policy import PolicyChecker, PolicyRef
from tfctl.policy.engines import in_process_engine
from tfctl.policy.model import EnforcementLevel, Outcome, PolicyResult
from tfctl.policy.sources import load_bundle

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"
HARD = EnforcementLevel.HARD_MANDATORY


def file_change(key: str, content: str, action: str = "create") -> dict[str, Any]:
    return {
        "address": f'module.stack.terraform_data.file["{key}"]',
        "module_address": "module.stack", "mode": "managed", "type": "terraform_data",
        "name": "file", "index": key,
        "change": {"actions": [action], "before": None,
                   "after": {"input": {"content": content, "path": f"/srv/{key}", "sleep": 0}}},
    }  # fmt: skip


def write_plan(tmp_path: Path, changes: list[dict[str, Any]]) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"format_version": "1.2", "resource_changes": changes}))
    return path


@pytest.fixture
def checker() -> PolicyChecker:
    assert in_process_engine() is not None, "celine-regorus is in the test extra"
    return PolicyChecker(find_engine=in_process_engine)


def check_one(checker: PolicyChecker, policy: Path, plan: Path, **ref: Any) -> PolicyResult:
    report = checker.check([PolicyRef(policy, HARD, "pol-1", **ref)], plan)
    assert report.engine == "regorus"
    return report.results[0]


def test_deny_fails_and_names_each_offender(checker: PolicyChecker, tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [file_change("a", "forbidden"), file_change("b", "fine")])
    result = check_one(checker, FIXTURES / "forbidden_content.rego", plan)
    assert result.outcome is Outcome.FAILED
    assert result.messages == (
        'module.stack.terraform_data.file["a"]: content "forbidden" is not allowed',
    )
    assert result.engine == "regorus"
    assert result.duration_ms > 0
    ok = write_plan(tmp_path, [file_change("b", "fine")])
    assert check_one(checker, FIXTURES / "forbidden_content.rego", ok).outcome is Outcome.PASSED


def test_warn_rules_in_conftest_object_form_warn_without_failing(
    checker: PolicyChecker, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path, [file_change("a", "x"), file_change("b", "y", "update")])
    result = check_one(checker, FIXTURES / "warn_creates.rego", plan)
    assert result.outcome is Outcome.PASSED
    assert result.messages == ()
    assert result.warnings == ('module.stack.terraform_data.file["a"] will be created',)


def test_an_unchanged_conftest_directory_in_rego_v0_works(
    checker: PolicyChecker, tmp_path: Path
) -> None:
    plan = write_plan(tmp_path, [file_change("a", "forbidden"), file_change("b", "fine")])
    bundle = load_bundle(FIXTURES / "conftest_v0")
    assert [f.path.name for f in bundle.files] == ["helpers.rego", "main.rego"]
    result = check_one(checker, bundle.source, plan, sha256=bundle.sha256)
    assert result.outcome is Outcome.FAILED
    assert result.messages == ('module.stack.terraform_data.file["a"]: forbidden content',)
    assert result.warnings == (
        'module.stack.terraform_data.file["a"]: files are tracked',
        'module.stack.terraform_data.file["b"]: files are tracked',
    )
    assert not result.changed_since_attach


def test_a_syntax_error_fails_the_policy_naming_file_and_line(
    checker: PolicyChecker, tmp_path: Path
) -> None:
    result = check_one(checker, FIXTURES / "broken.rego", write_plan(tmp_path, []))
    assert result.outcome is Outcome.ERRORED
    assert result.passed is False
    assert result.messages == (
        f"compile error in {FIXTURES / 'broken.rego'}, line 6, column 9: "
        "expecting `}` while parsing set",
    )


def test_a_v0_policy_with_a_real_error_is_reported_where_the_error_is(
    checker: PolicyChecker, tmp_path: Path
) -> None:
    policy = tmp_path / "old.rego"
    policy.write_text('package main\n\ndeny[msg] {\n  msg := "a"\n}\n\nwarn[msg] {\n  msg :=\n}\n')
    (message,) = check_one(checker, policy, write_plan(tmp_path, [])).messages
    # Read as Rego v1 it stops at line 3 (`if` required); read as v0, at the broken rule.
    assert message.startswith(f"compile error in {policy}, line 7, column ")


def test_an_evaluation_error_fails_the_policy(checker: PolicyChecker, tmp_path: Path) -> None:
    policy = tmp_path / "divide.rego"
    policy.write_text(
        "package main\n\ndeny contains x if {\n\tx := 1 / count(input.resource_changes)\n}\n"
    )
    result = check_one(checker, policy, write_plan(tmp_path, []))
    assert result.outcome is Outcome.ERRORED
    assert result.messages == (f"evaluation error in {policy}, line 4, column 12: divide by zero",)


def test_a_policy_changed_since_attach_is_evaluated_as_it_is_now(
    checker: PolicyChecker, tmp_path: Path
) -> None:
    policy = tmp_path / "p.rego"
    policy.write_text('package main\n\ndeny contains "old" if false\n')
    attached = load_bundle(policy).sha256
    policy.write_text('package main\n\ndeny contains "new" if true\n')
    result = check_one(checker, policy, write_plan(tmp_path, []), sha256=attached)
    assert result.changed_since_attach
    assert result.messages == ("new",)
    assert result.sha256 == load_bundle(policy).sha256


def test_a_policy_gone_since_attach_fails(checker: PolicyChecker, tmp_path: Path) -> None:
    result = check_one(checker, tmp_path / "gone.rego", write_plan(tmp_path, []), sha256="x")
    assert result.outcome is Outcome.ERRORED
    assert result.messages == (f"policy {tmp_path / 'gone.rego'}: no such file or directory",)


def test_policies_are_evaluated_in_isolation(checker: PolicyChecker, tmp_path: Path) -> None:
    """Two attachments declaring the same package never see each other's rules."""
    one, two = tmp_path / "one.rego", tmp_path / "two.rego"
    one.write_text('package main\n\ndeny contains "from one" if true\n')
    two.write_text('package main\n\nwarn contains "from two" if true\n')
    plan = write_plan(tmp_path, [])
    first, second = checker.check([PolicyRef(one, HARD), PolicyRef(two, HARD)], plan).results
    assert (first.messages, first.warnings) == (("from one",), ())
    assert (second.messages, second.warnings) == ((), ("from two",))


def test_a_thousand_resource_plan(checker: PolicyChecker, tmp_path: Path) -> None:
    changes = [file_change(f"f{i:04}", "forbidden" if i == 617 else "x" * 500) for i in range(1000)]
    plan = write_plan(tmp_path, changes)
    policies = [PolicyRef(FIXTURES / name, HARD) for name in
                ("forbidden_content.rego", "warn_creates.rego", "conftest_v0")]  # fmt: skip
    started = time.perf_counter()
    report = checker.check(policies, plan)
    elapsed = time.perf_counter() - started
    forbidden, warned, conftest = report.results
    assert forbidden.messages == (
        'module.stack.terraform_data.file["f0617"]: content "forbidden" is not allowed',
    )
    assert len(warned.warnings) == 1000
    assert conftest.messages == ('module.stack.terraform_data.file["f0617"]: forbidden content',)
    print(f"\n1,000-resource plan ({plan.stat().st_size // 1024} KB), 3 policies: "
          f"{elapsed * 1000:.0f} ms; per policy: "
          f"{', '.join(f'{r.duration_ms:.0f} ms' for r in report.results)}")  # fmt: skip
