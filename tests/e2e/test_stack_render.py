"""`tfctl stack render`, typed as a user types it: the files a run would use, written where
terraform itself can take over."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from clihelp import ok, refused
from tfctl.resources import examples_dir

FILES = ["main.tf", "outputs.tf", "terraform.tfvars.json", "variables.tf"]

needs_terraform = pytest.mark.skipif(
    shutil.which("terraform") is None, reason="terraform is not on PATH"
)


def terraform(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args, "-no-color"],
        cwd=cwd,
        env={**os.environ, "TF_IN_AUTOMATION": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def push_hello(tmp_path: Path) -> None:
    shutil.copytree(examples_dir() / "hello", tmp_path / "hello")
    ok("stack", "push", str(tmp_path / "hello" / "stack.yaml"))


@needs_terraform
@pytest.mark.terraform
def test_render_writes_a_configuration_terraform_applies_with_its_state_in_the_directory(
    isolated_env: Path, tmp_path: Path
) -> None:
    ok("init")
    push_hello(tmp_path)
    out = tmp_path / "out"
    printed = ok("stack", "render", "hello", "-o", str(out))
    assert printed.splitlines() == [str(out / name) for name in FILES]

    target = tmp_path / "hello.txt"
    assert terraform(out, "init", "-input=false").returncode == 0
    apply = terraform(out, "apply", "-input=false", "-auto-approve", f"-var=output_file={target}")
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert target.read_text() == "hello from tfctl\n"
    assert (out / "terraform.tfstate").is_file()  # the local backend keeps state in OUT
    assert not (isolated_env / "workspaces").exists()


@needs_terraform
@pytest.mark.terraform
def test_render_for_a_workspace_is_what_its_runs_use(isolated_env: Path, tmp_path: Path) -> None:
    ok("init")
    push_hello(tmp_path)
    target = tmp_path / "dev.txt"
    ok("workspace", "create", "hello-dev", "--stack", "hello", "--var", f"output_file={target}")
    out = tmp_path / "dev"
    view = json.loads(
        ok("stack", "render", "hello", "--workspace", "hello-dev", "-o", str(out), "--json")
    )
    assert view["workspace"] == "hello-dev"
    assert view["backend"] == "local"
    assert view["files"] == [str(out / name) for name in FILES]
    assert view["variables"] == ["greeting", "output_file"]
    assert json.loads((out / "terraform.tfvars.json").read_text()) == {
        "greeting": "hello from tfctl",
        "output_file": str(target),
    }
    state = isolated_env / "workspaces" / "hello-dev" / "terraform.tfstate"
    assert f'path = "{state}"' in (out / "main.tf").read_text()

    assert terraform(out, "init", "-input=false").returncode == 0
    plan = terraform(out, "plan", "-input=false", "-detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr  # changes, and no missing variable


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("storage/aws.yaml", "assets"),
        ("faas/stack.yaml", "workers"),
        ("agents/stack.yaml", "bots"),
        ("secrets/stack.yaml", "platform-secrets"),
    ],
)
def test_render_of_each_kind_prints_its_files(
    isolated_env: Path, tmp_path: Path, spec: str, name: str
) -> None:
    ok("init")
    ok("stack", "push", str(examples_dir() / spec))
    view = json.loads(ok("stack", "render", name, "-o", str(tmp_path / "out"), "--json"))
    assert (view["name"], view["version"], view["workspace"]) == (name, 1, None)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == FILES
    if shutil.which("terraform"):
        fmt = terraform(tmp_path / "out", "fmt", "-check", "-diff")
        assert fmt.returncode == 0, fmt.stdout


def test_render_refuses_a_non_empty_directory_unless_forced(
    isolated_env: Path, tmp_path: Path
) -> None:
    ok("init")
    ok("stack", "push", str(examples_dir() / "agents" / "stack.yaml"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "main.tf").write_text("stale")
    line = refused("stack", "render", "bots", "-o", str(out))
    assert line == (
        f"tfctl: error: -o {out}: the directory is not empty; pass --force to write into it "
        "(tfctl's files are overwritten, nothing else is touched)"
    )
    assert (out / "main.tf").read_text() == "stale"

    ok("stack", "render", "bots", "-o", str(out), "--force")
    assert (out / "notes.txt").read_text() == "mine"
    assert "kubernetes_deployment_v1" in (out / "main.tf").read_text()


def test_render_refuses_unknown_names_and_foreign_workspaces(
    isolated_env: Path, tmp_path: Path
) -> None:
    ok("init")
    ok("stack", "push", str(examples_dir() / "agents" / "stack.yaml"))
    ok("stack", "push", str(examples_dir() / "secrets" / "stack.yaml"))
    ok("workspace", "create", "bots-dev", "--stack", "bots")
    out = str(tmp_path / "out")
    assert "no stack named 'ghost'" in refused("stack", "render", "ghost", "-o", out)
    assert "has no version 4" in refused("stack", "render", "bots", "-v", "4", "-o", out)
    assert "no workspace named 'ghost'" in refused(
        "stack", "render", "bots", "-w", "ghost", "-o", out
    )
    assert "--workspace bots-dev: it belongs to stack 'bots', not 'platform-secrets'" in refused(
        "stack", "render", "platform-secrets", "-w", "bots-dev", "-o", out
    )
    assert not (tmp_path / "out").exists()


def test_a_workspace_variable_the_template_does_not_declare_is_refused(
    isolated_env: Path, tmp_path: Path
) -> None:
    ok("init")
    ok("stack", "push", str(examples_dir() / "storage" / "gcp.yaml"))
    line = refused("workspace", "create", "assets-dev", "--stack", "assets", "--var", "region=eu")
    assert line.endswith("--var region: not declared by stack 'assets' (the storage template "
                         "for cloud gcp); it declares location, project")  # fmt: skip
    # a workspace made for the gcp version meets a later version of the stack, on aws
    ok("workspace", "create", "assets-dev", "--stack", "assets", "--var", "project=p")
    ok("stack", "push", str(examples_dir() / "storage" / "aws.yaml"))
    line = refused("stack", "render", "assets", "-w", "assets-dev", "-o", str(tmp_path / "o"))
    assert "variable 'project': not declared by the storage template for cloud aws" in line
    assert "its settings are kms_key_arn, region" in line
