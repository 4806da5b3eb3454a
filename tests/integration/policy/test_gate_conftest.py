"""The policy gate after real terraform plans (tests/fixtures/modules/files, wrapped in
`module.stack`), with conftest conventions: namespaces and data documents recorded with the
attachment, exceptions, `walk` into modules, errored policies failing closed, constructs the
in-process engine would get wrong refused at attach, and short secrets kept out of the store.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from filestack import files_workspace, push_files
from tfctl import errors
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import RunStatus
from tfctl.policy.service import attach, list_attachments
from tfctl.runs.service import RunService
from tfctl.runs.views import follow_logs

from .conftest import CONFORMANCE

pytestmark = pytest.mark.terraform

CONTENT_POLICY = """package main

import rego.v1

deny_content contains msg if {
	some rc in input.resource_changes
	rc.change.after.input.content in data.files.forbidden
	msg := sprintf("%s: content %q is forbidden", [rc.address, rc.change.after.input.content])
}
"""
AUDIT_POLICY = """package audit

import rego.v1

deny contains "every plan is denied by the audit package" if true
"""


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "k3y")  # short: the log scrubber leaves it alone
    monkeypatch.setenv("TFCTL_ACTOR", "alice")


def workspace(store: Store, tmp_path: Path, out_dir: Path, content: str = "forbidden") -> str:
    push_files(store, tmp_path, names=["a", "b"], content=content)
    return files_workspace(store, "dev", out_dir)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def results(plan: Any) -> dict[str, Any]:
    return dict(plan.policy_results or {})


def log_of(store: Store, run_id: str) -> list[str]:
    return [line for _, line in follow_logs(store, run_id)]


def test_namespace_main_and_data_documents_are_attached_and_recorded(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir)
    policy = tmp_path / "policy"
    write(policy / "content.rego", CONTENT_POLICY)
    write(policy / "audit.rego", AUDIT_POLICY)  # another package: not read unless named
    data = write(tmp_path / "data" / "files.yaml", "files:\n  forbidden: [forbidden, secret]\n")
    attached = attach(store, ws, str(policy), level="hard_mandatory", actor="alice",
                      data=[str(data.parent)])  # fmt: skip
    assert (attached.namespaces, attached.data) == (["main"], [str(data.parent)])
    plan = runtime.plan(ws)
    (result,) = results(plan)["policies"]
    assert result["namespaces"] == ["main"]
    assert result["messages"] == [
        f'module.stack.terraform_data.file["{n}"]: content "forbidden" is forbidden'
        for n in ("a", "b")
    ]
    assert result["data_sha256"] == attached.data_sha256
    assert results(plan)["blocking"] == "hard_mandatory"

    data.write_text("files:\n  forbidden: [secret]\n")  # edited: the data changed
    (listed,) = list_attachments(store, ws)
    assert listed.changed_since_attach is True
    replanned = results(runtime.plan(ws))
    (result,) = replanned["policies"]
    assert (result["outcome"], result["data_changed_since_attach"]) == ("passed", True)
    assert any("(data changed since attach)" in line for line in log_of(store, runtime.plan(ws).id))


def test_all_namespaces_reads_every_package(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir, content="fine")
    policy = write(tmp_path / "audit.rego", AUDIT_POLICY)
    with pytest.raises(errors.InvalidInput, match=r"no file declares package main \(its "
                       r"packages: audit\); name the namespace with --namespace NS"):  # fmt: skip
        attach(store, ws, str(policy), level="advisory", actor="alice")
    attached = attach(store, ws, str(policy), level="advisory", actor="alice",
                      all_namespaces=True)  # fmt: skip
    assert attached.namespaces is None
    (result,) = results(runtime.plan(ws))["policies"]
    assert result["messages"] == ["every plan is denied by the audit package"]
    assert result["namespaces"] == ["audit"]


def test_an_exception_lets_the_plan_through_and_is_recorded(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir)
    policy = write(tmp_path / "p.rego", CONTENT_POLICY.replace("data.files.forbidden",
                                                               '{"forbidden"}') + (
        '\nexception contains ["content"] if "dev" == input.variables.workspace.value\n'
        '\nexception contains ["content"] if some "a" in input.variables.names.value\n'
    ))  # fmt: skip
    attach(store, ws, str(policy), level="hard_mandatory", actor="alice")
    plan = runtime.plan(ws)
    (result,) = results(plan)["policies"]
    assert (result["outcome"], result["messages"]) == ("passed", [])
    assert result["exceptions"] == [
        'data.main.deny_content: excepted by data.main.exception ("content"), 2 messages not '
        "reported"
    ]
    assert runtime.apply(ws).status == RunStatus.APPLIED


def test_walk_finds_the_provisioners_of_the_stack_module(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    """regorus alone yields nothing for `[path, value] := walk(x)`: the plan would pass."""
    ws = workspace(store, tmp_path, out_dir, content="fine")
    attach(store, ws, str(CONFORMANCE / "walk_modules"), level="hard_mandatory", actor="alice")
    plan = runtime.plan(ws)
    (result,) = results(plan)["policies"]
    assert result["messages"] == [
        'terraform_data.file (at ["module_calls", "stack", "module"]): provisioner local-exec '
        "is not allowed"
    ]
    assert result["notes"][0].startswith("rewritten: ")
    with pytest.raises(errors.PolicyBlocked, match="cannot be overridden"):
        runtime.apply(ws)


CONFLICT = """package main

import rego.v1

# Two values for one complete rule: an evaluation error, in OPA as in regorus.
path := rc.change.after.input.path if {
	some rc in input.resource_changes
	rc.name == "file"
}

deny contains "no path" if not path
"""


@pytest.mark.parametrize(
    ("level", "blocked"),
    [("advisory", False), ("soft_mandatory", True), ("hard_mandatory", True)],
)
def test_an_evaluation_error_fails_closed_at_the_mandatory_levels(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path, level: str, blocked: bool
) -> None:
    ws = workspace(store, tmp_path, out_dir, content="fine")
    attach(store, ws, str(write(tmp_path / "p.rego", CONFLICT)), level=level, actor="alice")
    plan = runtime.plan(ws)
    (result,) = results(plan)["policies"]
    assert result["outcome"] == "errored"
    assert result["messages"][0].startswith(f"evaluation error in {tmp_path / 'p.rego'}, line ")
    assert results(plan)["blocking"] == (level if blocked else None)
    if blocked:
        with pytest.raises(errors.PolicyBlocked, match=f"{level} policy .* failed: evaluation"):
            runtime.apply(ws)
    else:
        assert any(line.startswith("warning: 1 policy could not be evaluated (errored)")
                   for line in log_of(store, plan.id))  # fmt: skip
        assert runtime.apply(ws).status == RunStatus.APPLIED


def test_a_construct_regorus_gets_wrong_is_refused_at_attach_and_fails_closed_later(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir, content="fine")
    refused = CONFORMANCE / "refused" / "boolean_deny.rego"
    with pytest.raises(errors.InvalidInput) as raised:
        attach(store, ws, str(refused), level="advisory", actor="alice")
    assert raised.value.message == (
        f"policy {refused} cannot be attached: {refused}:5: `deny` is a complete rule; conftest "
        "reads deny as a set of messages: write `deny contains msg if { … }` (`deny[msg] { … "
        f"}}` in Rego v0); {refused}:12: sprintf verb %t; the in-process engine prints it "
        "differently from OPA (or fails): write %v, %s, %d or %.2f"
    )
    assert list_attachments(store, ws) == []

    mine = write(tmp_path / "mine.rego", CONTENT_POLICY)
    attach(store, ws, str(mine), level="hard_mandatory", actor="alice", data=[
        str(write(tmp_path / "d.json", '{"files": {"forbidden": []}}'))])  # fmt: skip
    mine.write_text((CONFORMANCE / "refused" / "walk_value.rego").read_text())  # edited later
    (result,) = results(runtime.plan(ws))["policies"]
    assert (result["outcome"], result["changed_since_attach"]) == ("errored", True)
    assert result["messages"] == [
        f"{mine}:6: walk(x) used as a value; the in-process engine yields nothing for it: "
        "write the relation form `walk(x, [path, value])`"
    ]
    with pytest.raises(errors.PolicyBlocked, match="mine.rego failed: .*walk"):
        runtime.apply(ws)


def test_bad_data_documents_are_refused_at_attach(
    store: Store, tmp_path: Path, out_dir: Path
) -> None:
    ws = workspace(store, tmp_path, out_dir)
    policy = write(tmp_path / "p.rego", CONTENT_POLICY)
    one = write(tmp_path / "d" / "one.yaml", "files:\n  forbidden: [a]\n")
    write(tmp_path / "d" / "two.json", '{"files": {"forbidden": ["b"]}}')
    refusals = {
        f"data {tmp_path / 'd' / 'two.json'}: data.files.forbidden is also defined by an "
        "earlier data document": tmp_path / "d",
        f"data {write(tmp_path / 'list.json', '[1]')}: the document must be an object":
            tmp_path / "list.json",
        f"data {write(tmp_path / 'bad.yaml', 'a: [')}: not valid YAML": tmp_path / "bad.yaml",
        f"data {tmp_path / 'nope.json'}: no such file or directory": tmp_path / "nope.json",
        f"data {tmp_path / 'p.rego'}: not a .json, .yaml or .yml file": policy,
    }  # fmt: skip
    for message, data in refusals.items():
        with pytest.raises(errors.InvalidInput) as raised:
            attach(store, ws, str(policy), level="advisory", actor="alice", data=[str(data)])
        assert raised.value.message.startswith(message)
    assert attach(store, ws, str(policy), level="advisory", actor="alice",
                  data=[str(one)]).data_sha256  # fmt: skip


def test_a_short_secret_quoted_by_a_policy_never_reaches_the_store(
    runtime: RunService, store: Store, tmp_path: Path, out_dir: Path
) -> None:
    """The 3-character token is below the log scrubber's length: policy messages follow the
    stricter rule (tfctl.policy.scrub)."""
    ws = workspace(store, tmp_path, out_dir, content="fine")
    leaky = write(tmp_path / "leaky.rego", """package main

import rego.v1

deny contains sprintf("%s has token=%s", [rc.address, rc.change.after.input]) if {
	some rc in input.resource_changes
	rc.name == "secret"
}
""")  # fmt: skip
    attach(store, ws, str(leaky), level="advisory", actor="alice")
    plan = runtime.plan(ws)
    (result,) = results(plan)["policies"]
    assert result["messages"] == ["module.stack.terraform_data.secret has token=(sensitive value)"]
    assert "token=k3y" not in json.dumps(results(plan))
    assert not any("token=k3y" in line for line in log_of(store, plan.id))
