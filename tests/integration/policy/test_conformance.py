"""Policies written the way public Terraform policy suites and conftest's own examples write
them (tests/fixtures/policies/conformance: Rego v0 and v1, helper packages behind import
aliases, `walk`, `every`, `some … in`, future keywords, data documents, exceptions,
namespaces, aligned sprintf messages), evaluated by the gate's in-process engine against a
real terraform plan. The expected results are OPA's and conftest's: what `conftest test
--policy P [--data D] [--namespace N | --all-namespaces] plan.json` reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import regorus

from tfctl.policy import PolicyChecker, PolicyRef
from tfctl.policy.engines import in_process_engine
from tfctl.policy.model import EnforcementLevel, PolicyResult

from .conftest import CONFORMANCE

pytestmark = pytest.mark.terraform

LOGS, ASSETS = 'terraform_data.bucket["logs"]', 'terraform_data.bucket["assets"]'
HOOK, SECRET = "module.web.terraform_data.hook", "terraform_data.secret"


@dataclass(frozen=True)
class Case:
    policy: str
    denied: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    excepted: list[str] = field(default_factory=list)
    namespaces: tuple[str, ...] | None = ("main",)
    data: tuple[str, ...] = ()
    id: str = ""


CASES = [
    Case("v0_helpers", data=("data/forbidden",), id="v0-alias-helpers-data",
         denied=[f"{LOGS}: acl public-read is not allowed"],
         warned=[f"{SECRET} has no tags"]),  # not the null-tagged bucket: count(null) is undefined
    Case("v0_helpers", data=("data/exempt",), id="v0-data-exempts",
         warned=[f"{SECRET} has no tags"]),
    Case("v1_every", id="v1-every-some-in-objects",
         denied=[f"{LOGS} is public"], warned=[f"{HOOK} is created by module.web"]),
    Case("exceptions", id="exceptions",
         denied=[f"{LOGS} is public"],
         excepted=['data.main.deny_unowned: excepted by data.main.exception ("unowned"), '
                   "2 messages not reported"]),
    Case("namespaces", id="namespace-main-by-default", warned=["4 resources change"]),
    Case("namespaces", namespaces=None, id="all-namespaces",
         denied=["the GKE cluster is not in project instrumenta"],
         warned=["4 resources change"]),
    Case("namespaces", namespaces=("main.gke",), id="namespace-named",
         denied=["the GKE cluster is not in project instrumenta"]),
    Case("walk_modules", id="walk-function-form-into-modules",
         denied=['terraform_data.hook (at ["module_calls", "web", "module"]): provisioner '
                 "local-exec is not allowed"]),
    Case("sprintf_formats", id="sprintf-widths-and-q",
         denied=[f'{LOGS:<40} :: acl "public-read" is not allowed'],
         warned=[f"     web owns {ASSETS}", f"     web owns {HOOK}"]),
    Case("future_keywords", id="v0-future-keywords",
         denied=[f"{SECRET} stores token=k3y"]),  # the gate scrubs it: test_gate_conftest.py
]  # fmt: skip


def check(case: Case, plan_json: Path) -> PolicyResult:
    ref = PolicyRef(CONFORMANCE / case.policy, EnforcementLevel.HARD_MANDATORY,
                    namespaces=case.namespaces,
                    data=tuple(CONFORMANCE / d for d in case.data))  # fmt: skip
    report = PolicyChecker(find_engine=in_process_engine).check([ref], plan_json)
    assert report.engine == "regorus"
    (result,) = report.results
    return result


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_gate_reports_what_conftest_and_opa_report(case: Case, plan_json: Path) -> None:
    result = check(case, plan_json)
    assert result.outcome == ("failed" if case.denied else "passed"), result.messages
    assert sorted(result.messages) == sorted(case.denied)
    assert sorted(result.warnings) == sorted(case.warned)
    assert list(result.exceptions) == case.excepted


def test_data_documents_are_recorded_by_hash(plan_json: Path) -> None:
    result = check(CASES[0], plan_json)
    assert result.data_sha256 is not None
    assert result.data_sha256 != check(CASES[1], plan_json).data_sha256


def regorus_alone(policy: str, plan_json: Path, data: str | None = None) -> Any:
    """What regorus answers for the policy as written, without tfctl's rewrites."""
    engine = regorus.Engine()
    files = sorted((CONFORMANCE / policy).rglob("*.rego"))
    try:
        for file in files:
            engine.add_policy(str(file), file.read_text())
    except RuntimeError:
        engine = regorus.Engine()
        engine.set_rego_v0(True)
        for file in files:
            engine.add_policy(str(file), file.read_text())
    if data:
        import yaml

        engine.add_data_json(json.dumps(yaml.safe_load((CONFORMANCE / data).read_text())))
    engine.set_input_json(plan_json.read_text())
    try:
        deny = json.loads(engine.eval_query_as_json("data.main.deny"))
        warn = json.loads(engine.eval_query_as_json("data.main.warn"))
    except RuntimeError as exc:
        return str(exc).split("Stack backtrace")[0].split("error: ")[-1].strip()
    return [r["expressions"][0]["value"] for doc in (deny, warn) for r in doc.get("result", [])]


def test_regorus_alone_would_answer_differently_from_opa(plan_json: Path) -> None:
    """Why the rewrites exist: on these policies regorus alone passes a violating plan
    silently (walk), or errors where OPA answers (a function through an import alias, count
    of null, sprintf %q)."""
    assert regorus_alone("walk_modules", plan_json) == [[]]  # the provisioner is not found
    assert regorus_alone("v0_helpers", plan_json, "data/forbidden/policy.yaml") == (
        "could not find function tf.untagged"
    )
    assert "%q, %p and %T are not supported" in regorus_alone("sprintf_formats", plan_json)
