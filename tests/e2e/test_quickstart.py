"""The README's first command runs `examples/quickstart.sh` in a fresh clone: it must work twice
in a row, leave the repository clean, and not collide with the README's walk-through."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from clihelp import REPO, ok, tfctl_bin

pytestmark = pytest.mark.terraform


def git(repo: Path, *args: str) -> str:
    identity = ("-c", "user.name=tfctl tests", "-c", "user.email=tests@tfctl.invalid")
    result = subprocess.run(
        ["git", *identity, *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return result.stdout


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A repository holding the examples, committed, as a fresh clone has them."""
    repo = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", ".terraform*", "*.tfstate*")
    shutil.copytree(REPO / "examples", repo / "examples", ignore=ignore)
    git(repo, "init", "--quiet")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "examples")
    return repo


def quickstart(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(tfctl_bin()).parent}:{os.environ['PATH']}"}
    env.pop("HELLO_DIR", None)
    return subprocess.run(
        [str(repo / "examples" / "quickstart.sh")],
        cwd=repo,  # as the README runs it: from the repository's root
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_quickstart_twice_in_a_clone_leaves_it_clean(isolated_env: Path, clone: Path) -> None:
    for _ in range(2):
        result = quickstart(clone)
        assert result.returncode == 0, result.stderr
    assert "hello: no changes" in result.stdout
    assert result.stdout.rstrip().endswith("hello from tfctl")
    assert git(clone, "status", "--porcelain", "--untracked-files=all") == ""
    assert (isolated_env / "quickstart" / "hello.txt").read_text() == "hello from tfctl\n"


def test_the_walk_through_and_the_quickstart_keep_to_their_own_workspaces(
    isolated_env: Path, clone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    assert quickstart(clone).returncode == 0
    mine = isolated_env / "quickstart" / "hello.txt"

    # The README's walk-through, after the quickstart (non-interactively).
    walk = tmp_path / "hello-dev.txt"
    ok("stack", "push", str(clone / "examples" / "hello" / "stack.yaml"))
    ok("workspace", "create", "hello-dev", "--stack", "hello", "--var", f"output_file={walk}")
    ok("plan", "hello-dev")
    ok("apply", "hello-dev", "--auto-approve")
    assert walk.read_text() == "hello from tfctl\n"
    ok("destroy", "hello-dev", "--auto-approve", "--confirm", "hello-dev")
    assert not walk.exists()
    assert mine.read_text() == "hello from tfctl\n"  # the walk-through's destroy left it alone

    again = quickstart(clone)
    assert again.returncode == 0, again.stderr
    assert again.stdout.rstrip().endswith("hello from tfctl")
    assert git(clone, "status", "--porcelain", "--untracked-files=all") == ""
