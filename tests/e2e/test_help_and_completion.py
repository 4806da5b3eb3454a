"""What `--help` and shell completion show a user."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from clihelp import ok, setup_files_workspace, tfctl_bin

pytestmark = pytest.mark.terraform


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["plan"], "Usage: tfctl plan [OPTIONS] WORKSPACE"),
        (["apply"], "Usage: tfctl apply [OPTIONS] WORKSPACE"),
        (["destroy"], "Usage: tfctl destroy [OPTIONS] WORKSPACE"),
        (["state", "show"], "Usage: tfctl state show [OPTIONS] WORKSPACE"),
        (["stack", "show"], "Usage: tfctl stack show [OPTIONS] NAME"),
    ],
)
def test_usage_names_the_argument_plainly(args: list[str], usage: str) -> None:
    assert ok(*args, "--help").splitlines()[0] == usage


def complete(words: str) -> list[str]:
    env = {**os.environ, "_TFCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split(" ")) - 1)}  # fmt: skip
    done = subprocess.run([tfctl_bin()], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_workspace_and_stack_names_complete(isolated_env: Path, tmp_path: Path) -> None:
    setup_files_workspace(tmp_path, name="dev")
    setup_files_workspace(tmp_path, name="demo")
    ok("workspace", "create", "prod", "--stack", "files", "--var", f"dir={tmp_path}")
    assert complete("tfctl plan d") == ["demo", "dev"]
    assert complete("tfctl apply p") == ["prod"]
    assert complete("tfctl state show de") == ["demo", "dev"]
    assert complete("tfctl stack show f") == ["files"]


def test_completion_without_a_store_is_silent_and_creates_none(isolated_env: Path) -> None:
    assert complete("tfctl plan d") == []
    assert not list(isolated_env.rglob("*.db"))
