"""The `opa` binary engine, with `opa eval` faked by pytest-subprocess: no opa binary can be
installed on these machines (TERRAFORM-FACTS.md). The outputs are `opa eval --format json`'s
documented shapes: `{"result": [{"expressions": [{"value": ...}]}]}`, `{}` when undefined,
`{"errors": [{"code", "message", "location": {"file", "row", "col"}}]}` on failure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pytest_subprocess import FakeProcess

from tfctl.policy import PolicyChecker, PolicyRef
from tfctl.policy.engines import (
    OpaEngine,
    RegorusEngine,
    find_engine,
    in_process_engine,
    opa_eval_argv,
)
from tfctl.policy.model import EnforcementLevel, Outcome
from tfctl.policy.sources import load_bundle


@pytest.fixture
def opa_bin(tmp_path: Path) -> Path:
    """An executable named opa, so PATH lookups find it; fp runs in its place."""
    path = tmp_path / "bin" / "opa"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 99\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    (root / "lib").mkdir(parents=True)
    (root / "files.rego").write_text("package terraform.files\n\ndeny contains 1 if true\n")
    (root / "main.rego").write_text("# conftest's default\npackage main\n")
    (root / "lib" / "util.rego").write_text('package lib["util-x"]\n')
    return root


@pytest.fixture
def plan_json(tmp_path: Path) -> Path:
    path = tmp_path / "run" / "plan.json"
    path.parent.mkdir()
    path.write_text('{"resource_changes": []}')
    return path


def eval_output(value: object) -> str:
    doc = {"result": [{"expressions": [{"value": value, "text": "data",
                                        "location": {"row": 1, "col": 1}}]}]}  # fmt: skip
    return json.dumps(doc, indent=2)


def check(opa_bin: Path, policy: Path, plan_json: Path) -> dict[str, object]:
    checker = PolicyChecker(find_engine=lambda: OpaEngine(str(opa_bin)))
    ref = PolicyRef(policy, EnforcementLevel.HARD_MANDATORY, "pol-1", load_bundle(policy).sha256)
    return checker.check([ref], plan_json).to_dict()


def test_opa_on_path_comes_first_then_the_in_process_engine(
    opa_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = find_engine(path=str(opa_bin.parent))
    assert isinstance(found, OpaEngine)
    assert found.binary == str(opa_bin)
    assert isinstance(find_engine(path=str(tmp_path)), RegorusEngine)
    monkeypatch.setitem(sys.modules, "regorus", None)  # not installed
    assert in_process_engine() is None
    assert find_engine(path=str(tmp_path)) is None


def test_opa_eval_gets_the_plan_as_input_and_every_policy_file(
    policy_dir: Path, plan_json: Path
) -> None:
    files = load_bundle(policy_dir).files
    assert opa_eval_argv("/bin/opa", plan_json, files) == [
        "/bin/opa", "eval", "--format", "json", "--input", str(plan_json),
        "--data", str(policy_dir / "files.rego"), "--data", str(policy_dir / "lib" / "util.rego"),
        "--data", str(policy_dir / "main.rego"), "data",
    ]  # fmt: skip


def test_rules_of_every_package_are_read_from_opas_output(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    tree = {
        "terraform": {"files": {"deny": ["files must be small"], "helper": {"warn": ["no"]}}},
        "main": {"violation": [{"msg": "object form", "details": {}}], "warn": ["heads up"]},
        "lib": {"util-x": {"warn": [{"msg": "from a quoted package"}]}},
    }
    fp.register([str(opa_bin), "eval", fp.any()], stdout=eval_output(tree))
    result = check(opa_bin, policy_dir, plan_json)
    policy = result["policies"][0]  # type: ignore[index]
    assert result["engine"] == "opa"
    assert policy["outcome"] == Outcome.FAILED
    assert policy["messages"] == ["object form", "files must be small"]
    assert policy["warnings"] == ["from a quoted package", "heads up"]
    assert policy["engine"] == "opa"
    assert result["blocking"] == "hard_mandatory"
    assert fp.call_count([str(opa_bin), "eval", fp.any()]) == 1


def test_an_undefined_document_is_a_pass(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    fp.register([str(opa_bin), "eval", fp.any()], stdout="{}")
    result = check(opa_bin, policy_dir, plan_json)
    assert result["status"] == "passed"
    assert result["blocking"] is None


def test_an_opa_compile_error_names_the_file_and_the_line(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    broken = str(policy_dir / "files.rego")
    errors = {"errors": [
        {"code": "rego_parse_error", "message": "unexpected eof token",
         "location": {"file": broken, "row": 5, "col": 3}, "details": {}},
        {"code": "rego_parse_error", "message": "another", "location": {"file": broken}},
    ]}  # fmt: skip
    fp.register([str(opa_bin), "eval", fp.any()], stdout=json.dumps(errors), returncode=1)
    policy = check(opa_bin, policy_dir, plan_json)["policies"][0]  # type: ignore[index]
    assert policy["outcome"] == Outcome.ERROR
    assert policy["passed"] is False
    assert policy["messages"] == [
        f"compile error in {broken}, line 5, column 3: unexpected eof token (and 1 more)"
    ]


def test_an_evaluation_error_is_called_one(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    error = {"errors": [{"code": "eval_conflict_error", "message": "complete rules must not "
                         "produce multiple outputs", "location": {"file": "x.rego", "row": 2,
                                                                  "col": 1}}]}  # fmt: skip
    fp.register([str(opa_bin), "eval", fp.any()], stdout=json.dumps(error), returncode=1)
    policy = check(opa_bin, policy_dir, plan_json)["policies"][0]  # type: ignore[index]
    assert policy["messages"][0].startswith("evaluation error in x.rego, line 2, column 1:")


def test_opa_failing_without_json_fails_the_policy_with_its_stderr(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    fp.register([str(opa_bin), "eval", fp.any()], stderr="panic: out of memory\n", returncode=2)
    policy = check(opa_bin, policy_dir, plan_json)["policies"][0]  # type: ignore[index]
    assert policy["outcome"] == Outcome.ERROR
    assert policy["messages"] == ["opa eval failed: panic: out of memory"]


def test_without_any_engine_every_policy_is_skipped(policy_dir: Path, plan_json: Path) -> None:
    checker = PolicyChecker(find_engine=lambda: None, require_engine=True)
    ref = PolicyRef(policy_dir, EnforcementLevel.ADVISORY, "pol-1", "0" * 64)
    report = checker.check([ref], plan_json).to_dict()
    assert report["status"] == "skipped"
    assert report["engine"] is None
    assert "no Rego engine" in str(report["warning"])
    assert report["policies"][0]["passed"] is None  # type: ignore[index]
    assert report["blocking"] == "engine_required"
