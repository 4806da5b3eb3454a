"""The `opa` binary engine, with opa faked by pytest-subprocess: no opa binary can be
installed on these machines (TERRAFORM-FACTS.md). The outputs are `opa eval --format json`'s
documented shapes: `{"result": [{"expressions": [{"value": ...}]}]}`, `{}` when undefined,
`{"errors": [{"code", "message", "location": {"file", "row", "col"}}]}` on failure; `opa
version` prints `Version: X.Y.Z` first."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pytest_subprocess import FakeProcess

from tfctl.policy import PolicyChecker, PolicyRef
from tfctl.policy.engines import (
    OpaEngine,
    Policy,
    RegoError,
    RegorusEngine,
    describe_engine,
    find_engine,
    in_process_engine,
    opa_eval_argv,
    opa_query,
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
    doc = {"result": [{"expressions": [{"value": value, "text": "q",
                                        "location": {"row": 1, "col": 1}}]}]}  # fmt: skip
    return json.dumps(doc, indent=2)


def check(opa_bin: Path, policy: Path, plan_json: Path, namespaces: object = ("main",)) -> dict:  # type: ignore[type-arg]
    checker = PolicyChecker(find_engine=lambda: OpaEngine(str(opa_bin)))
    ref = PolicyRef(policy, EnforcementLevel.HARD_MANDATORY, "pol-1", load_bundle(policy).sha256,
                    namespaces=namespaces)  # type: ignore[arg-type]  # fmt: skip
    return checker.check([ref], plan_json).to_dict()


def test_opa_on_path_comes_first_then_the_in_process_engine(
    fp: FakeProcess, opa_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = find_engine(path=str(opa_bin.parent))
    assert isinstance(found, OpaEngine)
    assert found.binary == str(opa_bin)
    fp.register([str(opa_bin), "version"], stdout="Version: 1.4.2\nBuild Commit: abc\n")
    assert describe_engine(path=str(opa_bin.parent)) == ("opa", f"1.4.2 ({opa_bin})")
    assert isinstance(find_engine(path=str(tmp_path)), RegorusEngine)
    name, version = describe_engine(path=str(tmp_path)) or ("", "")
    assert name == "regorus"
    assert version.endswith(" (in process)")
    monkeypatch.setitem(sys.modules, "regorus", None)  # not installed
    assert in_process_engine() is None
    assert find_engine(path=str(tmp_path)) is None
    assert describe_engine(path=str(tmp_path)) is None


def test_opa_eval_gets_the_plan_the_policy_files_the_data_and_a_conftest_query(
    policy_dir: Path, plan_json: Path, tmp_path: Path
) -> None:
    program = OpaEngine("/bin/opa").compile(Policy(load_bundle(policy_dir), ("main", "lib.util-x")))
    data = tmp_path / "data.json"
    assert opa_eval_argv("/bin/opa", plan_json, program, data) == [
        "/bin/opa", "eval", "--format", "json", "--input", str(plan_json),
        "--data", str(policy_dir / "files.rego"), "--data", str(policy_dir / "lib" / "util.rego"),
        "--data", str(policy_dir / "main.rego"), "--data", str(data), opa_query(program),
    ]  # fmt: skip
    pattern = "^(deny|violation|warn)(_[a-zA-Z0-9]+)*$"
    assert opa_query(program) == (
        f'{{"main": {{"rules": {{k: [v] | some k; v := data.main[k]; regex.match("{pattern}", '
        'k)}, "exception": [x | x := data.main.exception]}, '
        f'"lib.util-x": {{"rules": {{k: [v] | some k; v := data.lib["util-x"][k]; '
        f'regex.match("{pattern}", k)}}, "exception": [x | x := data.lib["util-x"].exception]}}}}'
    )


def test_rules_of_the_selected_namespaces_are_read_as_conftest_reads_them(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    tree = {
        "main": {"rules": {"violation": [[{"msg": "object form", "details": {}}]],
                           "warn_x": [["heads up"]], "deny_y": [["excepted"]], "deny": []},
                 "exception": [[["y"]]]},
        "terraform.files": {"rules": {"deny": [["files must be small"]]}, "exception": []},
    }  # fmt: skip
    fp.register([str(opa_bin), "eval", fp.any()], stdout=eval_output(tree))
    result = check(opa_bin, policy_dir, plan_json, ("main", "terraform.files"))
    policy = result["policies"][0]
    assert result["engine"] == "opa"
    assert policy["outcome"] == Outcome.FAILED
    assert policy["messages"] == ["object form", "files must be small"]
    assert policy["warnings"] == ["heads up"]
    assert policy["exceptions"] == [
        'data.main.deny_y: excepted by data.main.exception ("y"), 1 message not reported'
    ]
    assert policy["namespaces"] == ["main", "terraform.files"]
    assert result["blocking"] == "hard_mandatory"
    assert fp.call_count([str(opa_bin), "eval", fp.any()]) == 1


def test_undefined_rules_are_a_pass(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    fp.register([str(opa_bin), "eval", fp.any()],
                stdout=eval_output({"main": {"rules": {}, "exception": []}}))  # fmt: skip
    result = check(opa_bin, policy_dir, plan_json)
    assert result["status"] == "passed"
    assert result["blocking"] is None


def test_a_namespace_the_policy_does_not_declare_errors_without_running_opa(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    policy = check(opa_bin, policy_dir, plan_json, ("terraform",))["policies"][0]
    assert policy["outcome"] == "errored"
    message = policy["messages"][0]
    assert "no file declares package terraform (its packages: lib.util-x, main, " in message
    assert fp.call_count([str(opa_bin), fp.any()]) == 0


def test_an_opa_compile_error_names_the_file_and_the_line(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    broken = str(policy_dir / "files.rego")
    errors = {"errors": [
        {"code": "rego_type_error", "message": "undefined function foo",
         "location": {"file": broken, "row": 5, "col": 3}, "details": {}},
        {"code": "rego_type_error", "message": "another", "location": {"file": broken}},
    ]}  # fmt: skip
    fp.register([str(opa_bin), "eval", fp.any()], stdout=json.dumps(errors), returncode=1)
    policy = check(opa_bin, policy_dir, plan_json)["policies"][0]
    assert policy["outcome"] == Outcome.ERRORED
    assert policy["passed"] is False
    assert policy["messages"] == [
        f"compile error in {broken}, line 5, column 3: undefined function foo (and 1 more)"
    ]
    assert fp.call_count([str(opa_bin), "eval", fp.any()]) == 1  # not a parse error: no retry


def test_a_rego_v0_policy_is_retried_with_v0_compatible(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    """opa 1.x reads Rego v1 only, unless told `--v0-compatible`."""
    problem = {"code": "rego_parse_error", "message": "`if` keyword is required before rule body",
               "location": {"file": "x.rego", "row": 3}}  # fmt: skip
    parse = {"errors": [problem]}
    fp.register([str(opa_bin), "eval", "--format", fp.any()], stdout=json.dumps(parse),
                returncode=1)  # fmt: skip
    fp.register([str(opa_bin), "eval", "--v0-compatible", fp.any()],
                stdout=eval_output({"main": {"rules": {"deny": [["v0 works"]]}}}))  # fmt: skip
    policy = check(opa_bin, policy_dir, plan_json)["policies"][0]
    assert policy["messages"] == ["v0 works"]

    fp.register([str(opa_bin), "eval", "--format", fp.any()], stdout=json.dumps(parse),
                returncode=1)  # fmt: skip
    fp.register([str(opa_bin), "eval", "--v0-compatible", fp.any()], stdout=json.dumps(parse),
                returncode=1)  # fmt: skip
    policy = check(opa_bin, policy_dir, plan_json)["policies"][0]
    assert policy["messages"] == [
        "compile error in x.rego, line 3, column 0: `if` keyword is required before rule body"
    ]


def test_an_evaluation_error_is_errored(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    error = {"errors": [{"code": "eval_conflict_error", "message": "complete rules must not "
                         "produce multiple outputs", "location": {"file": "x.rego", "row": 2,
                                                                  "col": 1}}]}  # fmt: skip
    fp.register([str(opa_bin), "eval", fp.any()], stdout=json.dumps(error), returncode=1)
    policy = check(opa_bin, policy_dir, plan_json)["policies"][0]
    assert policy["outcome"] == "errored"
    assert policy["messages"][0].startswith("evaluation error in x.rego, line 2, column 1:")


def test_a_rule_that_is_not_a_set_fails_closed(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    """conftest would skip `deny := true` silently; the gate errors."""
    tree = {"main": {"rules": {"deny": [True]}, "exception": []}}
    fp.register([str(opa_bin), "eval", fp.any()], stdout=eval_output(tree))
    policy = check(opa_bin, policy_dir, plan_json)["policies"][0]
    assert policy["outcome"] == "errored"
    assert policy["messages"][0].startswith("data.main.deny is a boolean, not a set of messages")


def test_opa_failing_without_json_fails_the_policy_with_its_stderr(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path
) -> None:
    fp.register([str(opa_bin), "eval", fp.any()], stderr="panic: out of memory\n", returncode=2)
    policy = check(opa_bin, policy_dir, plan_json)["policies"][0]
    assert policy["outcome"] == Outcome.ERRORED
    assert policy["messages"] == ["opa eval failed: panic: out of memory"]


def test_verify_runs_opa_check(fp: FakeProcess, opa_bin: Path, policy_dir: Path) -> None:
    engine, policy = OpaEngine(str(opa_bin)), Policy(load_bundle(policy_dir))
    fp.register([str(opa_bin), "check", "--format", "json", fp.any()], stdout="{}")
    assert engine.verify(policy).namespaces == ("main",)
    broken = {"errors": [{"code": "rego_type_error", "message": "undefined ref: data.x",
                          "location": {"file": "a.rego", "row": 4, "col": 2}}]}  # fmt: skip
    fp.register([str(opa_bin), "check", "--format", "json", fp.any()],
                stdout=json.dumps(broken), returncode=1)  # fmt: skip
    with pytest.raises(RegoError, match="compile error in a.rego, line 4, column 2: undefined"):
        engine.verify(policy)


def test_without_any_engine_every_policy_is_skipped(policy_dir: Path, plan_json: Path) -> None:
    checker = PolicyChecker(find_engine=lambda: None, require_engine=True)
    ref = PolicyRef(policy_dir, EnforcementLevel.ADVISORY, "pol-1", "0" * 64)
    report = checker.check([ref], plan_json).to_dict()
    assert report["status"] == "skipped"
    assert report["engine"] is None
    assert "no Rego engine" in str(report["warning"])
    assert report["policies"][0]["passed"] is None
    assert report["blocking"] == "engine_required"


def test_data_documents_reach_opa_merged_in_a_private_file(
    fp: FakeProcess, opa_bin: Path, policy_dir: Path, plan_json: Path, tmp_path: Path
) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.yaml").write_text("limits:\n  size: 3\n")
    (tmp_path / "d" / "b.json").write_text('{"owners": ["web"]}')
    seen: dict[str, object] = {}

    def opa(process: object) -> None:
        argv = [str(a) for a in process.args]  # type: ignore[attr-defined]
        data = Path(argv[argv.index(str(plan_json)) + 1 :][-2])
        seen.update(path=data, doc=json.loads(data.read_text()))

    fp.register([str(opa_bin), "eval", fp.any()], callback=opa,
                stdout=eval_output({"main": {"rules": {}, "exception": []}}))  # fmt: skip
    checker = PolicyChecker(find_engine=lambda: OpaEngine(str(opa_bin)))
    ref = PolicyRef(policy_dir, EnforcementLevel.ADVISORY, data=(tmp_path / "d",))
    (result,) = checker.check([ref], plan_json).results
    assert result.outcome == "passed"
    assert seen["doc"] == {"limits": {"size": 3}, "owners": ["web"]}
    assert not Path(str(seen["path"])).exists()  # removed after the evaluation
    assert sorted(p.name for p in plan_json.parent.iterdir()) == ["plan.json"]
