"""The policy gate through the installed `tfctl` command, as an operator or a CI job uses it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clihelp import REPO, ok, refused, tfctl
from filestack import FILES_MODULE

pytestmark = pytest.mark.terraform

POLICIES = REPO / "tests" / "fixtures" / "policies"
FORBIDDEN = str(POLICIES / "forbidden_content.rego")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("TFCTL_ACTOR", "ci-bot")


def setup_workspace(tmp_path: Path, content: str = "forbidden") -> Path:
    out = tmp_path / "out"
    out.mkdir()
    spec = {"name": "files", "kind": "generic", "module_source": str(FILES_MODULE),
            "variables": {"names": ["a"], "content": content}}  # fmt: skip
    (tmp_path / "files.json").write_text(json.dumps(spec))
    ok("init")
    ok("stack", "push", str(tmp_path / "files.json"))
    ok("workspace", "create", "dev", "--stack", "files", "--var", f"dir={out}")
    return out


def blocked(*args: str) -> str:
    """Refused by policy: exit 3, one line on stderr, nothing on stdout."""
    result = tfctl(*args)
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_bad_policy_input_is_refused_in_one_line(isolated_env: Path, tmp_path: Path) -> None:
    setup_workspace(tmp_path)
    (tmp_path / "empty").mkdir()
    assert "no such file or directory" in refused("policy", "attach", "dev", "nope.rego",
                                                  "--level", "advisory")  # fmt: skip
    assert "unknown enforcement level" in refused("policy", "attach", "dev", FORBIDDEN,
                                                  "--level", "strict")  # fmt: skip
    assert "--level is required" in refused("policy", "attach", "dev", FORBIDDEN)
    assert "no workspace named 'prod'" in refused("policy", "attach", "prod", FORBIDDEN,
                                                  "--level", "advisory")  # fmt: skip
    assert "no .rego files" in refused("policy", "attach", "dev", str(tmp_path / "empty"),
                                       "--level", "advisory")  # fmt: skip
    assert "no workspace named 'prod'" in refused("policy", "list", "prod")
    assert "no policy attachment 'pol-nothing'" in refused("policy", "detach", "pol-nothing")
    assert "--plan RUN_ID or --input PLAN.json" in refused("policy", "test", FORBIDDEN)
    assert "needs --reason" in refused("apply", "dev", "--auto-approve", "--override-policy")
    assert "only used with --override-policy" in refused("apply", "dev", "--reason", "x")


def test_hard_mandatory_blocks_apply_with_exit_code_3(isolated_env: Path, tmp_path: Path) -> None:
    out = setup_workspace(tmp_path)
    attached = json.loads(ok("policy", "attach", "dev", FORBIDDEN, "--level", "hard_mandatory",
                             "--json"))  # fmt: skip
    assert (attached["level"], attached["policy"], attached["kind"]) == (
        "hard_mandatory", FORBIDDEN, "file")  # fmt: skip

    planned = tfctl("plan", "dev")
    assert planned.returncode == 0, planned.stderr
    assert "policies: failed (1 checked by regorus" in planned.stdout
    assert f"  FAILED   hard_mandatory  {FORBIDDEN}" in planned.stdout
    assert 'content "forbidden" is not allowed' in planned.stdout
    assert "apply blocked: a hard_mandatory policy failed (no override)" in planned.stdout

    line = blocked("apply", "dev", "--auto-approve")
    assert "hard_mandatory policy" in line
    assert "cannot be overridden" in line
    line = blocked("apply", "dev", "--auto-approve", "--override-policy", "--reason", "please")
    assert "cannot be overridden" in line
    assert not (out / "a").exists()
    (plan,) = json.loads(ok("runs", "list", "--json"))
    assert plan["status"] == "awaiting_approval"
    shown = json.loads(ok("runs", "show", plan["id"], "--json"))
    (result,) = shown["policy_results"]["policies"]
    assert result["attachment_id"] == attached["id"]
    assert result["passed"] is False
    assert shown["policy_results"]["blocking"] == "hard_mandatory"


def test_soft_mandatory_is_applied_with_a_recorded_override(
    isolated_env: Path, tmp_path: Path
) -> None:
    out = setup_workspace(tmp_path)
    ok("policy", "attach", "dev", FORBIDDEN, "--level", "soft_mandatory")
    ok("policy", "attach", "dev", str(POLICIES / "warn_creates.rego"), "--level", "advisory")
    plan = json.loads(ok("plan", "dev", "--json"))
    assert plan["policy_results"]["blocking"] == "soft_mandatory"
    assert plan["policy_results"]["policies"][1]["warnings"]

    line = blocked("apply", "dev", "--auto-approve")
    assert f"`tfctl apply dev --run {plan['id']} --override-policy --reason TEXT`" in line
    applied = tfctl("apply", "dev", "--auto-approve", "--override-policy", "--reason", "CAB-7")
    assert applied.returncode == 0, applied.stderr
    assert "dev: applied" in applied.stdout
    assert "policy override by ci-bot at " in applied.stdout
    assert applied.stdout.rstrip().endswith(": CAB-7")
    assert (out / "a").read_text() == "forbidden\n"
    child = json.loads(ok("runs", "list", "--json"))[0]
    override = json.loads(ok("runs", "show", child["id"], "--json"))["policy_results"]["override"]
    assert (override["actor"], override["reason"], override["plan_run_id"]) == (
        "ci-bot", "CAB-7", plan["id"])  # fmt: skip


def test_list_test_and_detach(isolated_env: Path, tmp_path: Path) -> None:
    setup_workspace(tmp_path)
    copy = tmp_path / "policy.rego"
    copy.write_text(Path(FORBIDDEN).read_text())
    attached = json.loads(ok("policy", "attach", "dev", str(copy), "-l", "advisory", "--json"))
    copy.write_text(copy.read_text() + "\n# edited\n")
    (listed,) = json.loads(ok("policy", "list", "dev", "--json"))
    assert listed["id"] == attached["id"]
    assert listed["changed_since_attach"] is True
    assert "advisory" in ok("policy", "list")

    plan = json.loads(ok("plan", "dev", "--json"))
    tested = tfctl("policy", "test", str(POLICIES / "conftest_v0"), "--plan", plan["id"], "--json")
    assert tested.returncode == 3, tested.stderr
    report = json.loads(tested.stdout)
    assert report["plan_run_id"] == plan["id"]
    assert report["policies"][0]["messages"] == [
        'module.stack.terraform_data.file["a"]: forbidden content'
    ]
    passing = tfctl("policy", "test", str(POLICIES / "warn_creates.rego"), "--plan", plan["id"])
    assert passing.returncode == 0, passing.stderr
    assert "PASSED" in passing.stdout
    assert "will be created" in passing.stdout

    assert f"policy {attached['id']} detached" in ok("policy", "detach", attached["id"])
    assert json.loads(ok("policy", "list", "--json")) == []


def no_engine(*args: str) -> subprocess.CompletedProcess[str]:
    """tfctl with the in-process engine uninstalled and no opa on PATH."""
    probe = "import sys\nsys.modules['regorus'] = None\nfrom tfctl.cli import main\n"
    path = [d for d in os.environ["PATH"].split(os.pathsep) if not Path(d, "opa").exists()]
    return subprocess.run(
        [sys.executable, "-c", probe + "main(sys.argv[1:])\n", *args], capture_output=True,
        text=True, timeout=120, env={**os.environ, "PATH": os.pathsep.join(path)},
    )  # fmt: skip


def test_without_an_engine_the_check_is_skipped_or_blocks_when_required(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_workspace(tmp_path, content="fine")
    ok("policy", "attach", "dev", FORBIDDEN, "--level", "hard_mandatory")
    planned = no_engine("plan", "dev")
    assert planned.returncode == 0, planned.stderr
    assert "policies: SKIPPED (1 attached): no Rego engine" in planned.stdout
    assert "warning: no Rego engine" in planned.stderr

    monkeypatch.setenv("TFCTL_POLICY_REQUIRE_ENGINE", "1")
    applied = no_engine("apply", "dev", "--auto-approve")
    assert applied.returncode == 3, applied.stderr
    assert "TFCTL_POLICY_REQUIRE_ENGINE requires a check" in applied.stderr


def test_help_imports_neither_the_engine_nor_the_database(isolated_env: Path) -> None:
    probe = (
        "import sys\nfrom tfctl.cli import main\n"
        "for argv in (['--help'], ['policy', '--help'], ['policy', 'attach', '--help'],\n"
        "             ['apply', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print('HEAVY', [m for m in ('regorus', 'sqlalchemy', 'sqlmodel') if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert "HEAVY []" in result.stdout
    assert "--override-policy" in result.stdout


CONFORMANCE = POLICIES / "conformance"


def terraform_plan_json(tmp_path: Path) -> Path:
    """`terraform show -json` of the conformance plan, saved as a user would for --input."""
    config = tmp_path / "config"
    shutil.copytree(CONFORMANCE / "plan", config)
    for argv in (["init", "-input=false"], ["plan", "-input=false", "-out", "tfplan"]):
        subprocess.run(["terraform", *argv], cwd=config, check=True, capture_output=True)
    shown = subprocess.run(["terraform", "show", "-json", "tfplan"], cwd=config, check=True,
                           capture_output=True)  # fmt: skip
    path = tmp_path / "plan.json"
    path.write_bytes(shown.stdout)
    return path


def test_conftest_policies_with_namespaces_and_data_through_attach_plan_and_test(
    isolated_env: Path, tmp_path: Path
) -> None:
    setup_workspace(tmp_path)
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "content.rego").write_text(
        "package main\n\nimport rego.v1\n\ndeny_content contains msg if {\n"
        "\tsome rc in input.resource_changes\n"
        "\trc.change.after.input.content in data.files.forbidden\n"
        '\tmsg := sprintf("%s: %q is forbidden", [rc.address, rc.change.after.input.content])\n'
        "}\n"
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "files.yaml").write_text("files:\n  forbidden: [forbidden]\n")
    missing = CONFORMANCE / "refused" / "missing_builtin.rego"
    line = refused("policy", "attach", "dev", str(missing), "--level", "advisory")
    assert f"{missing}:6: call to net.cidr_merge; not a built-in of the in-process engine" in line
    assert "no file declares package audit (its packages: main)" in refused(
        "policy", "attach", "dev", str(policy), "-l", "advisory", "--namespace", "audit"
    )

    attached = tfctl("policy", "attach", "dev", str(policy), "-l", "hard_mandatory",
                     "--namespace", "main", "--data", str(tmp_path / "data"))  # fmt: skip
    assert attached.returncode == 0, attached.stderr
    assert attached.stdout.endswith("(hard_mandatory, namespace main, 1 data path)\n")
    assert attached.stderr.strip() == "in-process engine: rewritten sprintf %q (OPA's answers kept)"
    (listed,) = json.loads(ok("policy", "list", "--json"))
    assert (listed["namespaces"], listed["data"]) == (["main"], [str(tmp_path / "data")])

    planned = tfctl("plan", "dev")
    assert planned.returncode == 0, planned.stderr
    assert 'deny: module.stack.terraform_data.file["a"]: "forbidden" is forbidden' in planned.stdout
    assert "apply blocked: a hard_mandatory policy failed" in planned.stdout

    plan_json = terraform_plan_json(tmp_path)
    tested = tfctl("policy", "test", str(CONFORMANCE / "exceptions"), "--input", str(plan_json))
    assert tested.returncode == 3, tested.stderr
    assert tested.stdout.splitlines()[1:] == [
        f"  FAILED   -               {CONFORMANCE / 'exceptions'}",
        '      deny: terraform_data.bucket["logs"] is public',
        '      exception: data.main.deny_unowned: excepted by data.main.exception ("unowned"), '
        "2 messages not reported",
    ]
    walked = tfctl("policy", "test", str(CONFORMANCE / "walk_modules"), "-i", str(plan_json),
                   "--json")  # fmt: skip
    assert walked.returncode == 3
    assert walked.stderr.splitlines() == [
        "in-process engine: rewritten walk function form (OPA's answers kept)",
        f"tfctl: error: policy {CONFORMANCE / 'walk_modules'} fails {plan_json}",
    ]
    report = json.loads(walked.stdout)
    assert report["input"] == str(plan_json)
    assert report["policies"][0]["messages"][0].startswith("terraform_data.hook (at [")
    passing = tfctl("policy", "test", str(CONFORMANCE / "namespaces"), "-i", str(plan_json))
    assert passing.returncode == 0, passing.stderr
    assert "      warn: 4 resources change" in passing.stdout
    assert json.loads(ok("doctor", "--json"))["policy"]["engine"] == "regorus"
