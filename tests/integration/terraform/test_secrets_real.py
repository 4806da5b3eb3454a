"""Secrets never leave tfctl's terraform JSON handling: checked against real terraform.

One workspace of tests/fixtures/tf/summary_stack is planned, applied and planned again with
secrets made fresh for this run; every test then looks for them in what tfctl would store,
print or log. Each test also checks that the secret really was in terraform's raw output, and
that plain values still come through, so a redaction that hides everything, or nothing,
fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tfctl.terraform.redact import REDACTED, SecretScrubber, sensitive_values_from_plan
from tfctl.terraform.state import sensitive_values, snapshot_state
from tfctl.terraform.summary import load_plan_summary, summarize_plan

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH"),
]

STACK = Path(__file__).resolve().parents[2] / "fixtures" / "tf" / "summary_stack"


@dataclass(frozen=True)
class Secrets:
    token: str
    rotated_token: str
    password: str  # with characters terraform's JSON escapes
    greeting: str  # not sensitive: must stay visible

    @property
    def go_escaped_password(self) -> str:
        """The password as terraform (Go's encoding/json) writes it inside a JSON string."""
        escaped = json.dumps(self.password)[1:-1]
        for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            escaped = escaped.replace(char, escape)
        return escaped

    def in_clear(self) -> list[str]:
        """Every form in which a secret could show: raw, JSON-escaped, or its unique prefix."""
        prefix = self.password[:20]
        return [self.token, self.rotated_token, self.password, self.go_escaped_password, prefix]


@dataclass(frozen=True)
class Workspace:
    secrets: Secrets
    plan_path: Path
    plan_json: str
    apply_log: str
    state: bytes
    outputs_json: str
    second_plan_log: str
    second_plan_json: str


def terraform(workdir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    rc_file = workdir.parent / "empty.tfrc"
    rc_file.touch()
    env.update(TF_CLI_CONFIG_FILE=str(rc_file), CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1")
    done = subprocess.run(
        ["terraform", *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def set_vars(workdir: Path, values: dict[str, Any]) -> None:
    (workdir / "terraform.tfvars.json").write_text(json.dumps(values))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    tag = uuid.uuid4().hex
    secrets = Secrets(
        token=f"it-token-{tag}",
        rotated_token=f"it-rotated-{tag}",
        password=f'it-password-{tag}<&>"\\q',
        greeting=f"greeting-{tag[:12]}",
    )
    work = tmp_path_factory.mktemp("secrets") / "stack"
    shutil.copytree(STACK, work)
    first = {"greeting": secrets.greeting, "api_token": secrets.token}
    set_vars(work, {**first, "db_password": secrets.password})
    terraform(work, "init", "-input=false", "-no-color")
    terraform(work, "plan", "-input=false", "-no-color", "-out=first.tfplan")
    plan_json = terraform(work, "show", "-json", "first.tfplan")
    (work / "first.json").write_text(plan_json)
    apply_log = terraform(work, "apply", "-input=false", "-no-color", "first.tfplan")
    state = terraform(work, "state", "pull").encode()
    outputs_json = terraform(work, "output", "-json")
    set_vars(work, {**first, "db_password": secrets.password, "api_token": secrets.rotated_token})
    second_log = terraform(work, "plan", "-input=false", "-no-color", "-out=second.tfplan")
    second_json = terraform(work, "show", "-json", "second.tfplan")
    return Workspace(
        secrets=secrets,
        plan_path=work / "first.json",
        plan_json=plan_json,
        apply_log=apply_log,
        state=state,
        outputs_json=outputs_json,
        second_plan_log=second_log,
        second_plan_json=second_json,
    )


def leaked(text: str, secrets: Secrets) -> list[str]:
    return [s for s in secrets.in_clear() if s in text]


def test_terraform_really_prints_the_secrets_in_clear(workspace: Workspace) -> None:
    s = workspace.secrets
    assert leaked(workspace.plan_json, s) == [s.token, s.go_escaped_password, s.password[:20]]
    assert s.token in workspace.apply_log  # the stack's local-exec uses nonsensitive()
    assert s.token in workspace.state.decode()
    assert s.token in workspace.second_plan_log  # terraform_data.output is not marked


def test_plan_summary_json_holds_no_secret(workspace: Workspace) -> None:
    for summary in (
        summarize_plan(json.loads(workspace.plan_json)),
        load_plan_summary(workspace.plan_path),
        summarize_plan(json.loads(workspace.second_plan_json)),
    ):
        text = json.dumps(summary.to_json_dict())

        assert leaked(text, workspace.secrets) == []
        assert workspace.secrets.greeting in text
        outputs = {o.name: o for o in summary.outputs}
        assert outputs["api_token"].after == REDACTED


def test_state_snapshot_json_holds_no_secret(workspace: Workspace) -> None:
    snapshot = snapshot_state(workspace.state, json.loads(workspace.outputs_json))
    text = snapshot.model_dump_json()

    assert leaked(text, workspace.secrets) == []
    assert snapshot.outputs["greeting"].value == workspace.secrets.greeting
    assert snapshot.outputs["api_token"].value == REDACTED
    assert snapshot.resource_count == 14


def test_scrubber_removes_every_secret_from_terraforms_text(workspace: Workspace) -> None:
    secrets = sensitive_values_from_plan(json.loads(workspace.plan_json))
    secrets |= sensitive_values_from_plan(json.loads(workspace.second_plan_json))
    secrets |= sensitive_values(workspace.state)
    scrubber = SecretScrubber(secrets)
    plain = (workspace.secrets.greeting, 'terraform_data.region["eu"]', "eu-west")

    for text in (
        workspace.plan_json,
        workspace.apply_log,
        workspace.state.decode(),
        workspace.outputs_json,
        workspace.second_plan_log,
        workspace.second_plan_json,
    ):
        scrubbed = scrubber.scrub(text)

        assert leaked(scrubbed, workspace.secrets) == []
        visible = [value for value in plain if value in text]
        assert visible
        assert [value for value in visible if value in scrubbed] == visible


def test_the_leaking_log_line_stays_readable(workspace: Workspace) -> None:
    scrubber = SecretScrubber(sensitive_values_from_plan(json.loads(workspace.plan_json)))

    scrubbed = scrubber.scrub(workspace.apply_log)

    assert f"announcing {workspace.secrets.greeting} with token {REDACTED}" in scrubbed
