"""`tfctl workspace create | update | delete` as a user types them: a mistake in `--var` is
refused or repaired, never a workspace name lost for good; delete keeps what holds resources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clihelp import ok, refused, tfctl
from filestack import FILES_MODULE

pytestmark = pytest.mark.terraform


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", "placeholder-token")
    monkeypatch.setenv("CI", "true")


@pytest.fixture
def out(isolated_env: Path, tmp_path: Path) -> Path:
    """The `files` stack pushed; where its workspaces write their files."""
    spec = {"name": "files", "kind": "generic", "module_source": str(FILES_MODULE)}
    (tmp_path / "files.json").write_text(json.dumps(spec))
    ok("init")
    ok("stack", "push", str(tmp_path / "files.json"))
    path = tmp_path / "out"
    path.mkdir()
    return path


def test_a_mistyped_variable_is_refused_and_a_wrong_value_is_repaired_by_update(
    out: Path,
) -> None:
    line = refused("workspace", "create", "dev", "--stack", "files", "--var", f"dri={out}")
    assert line == (
        f"tfctl: error: --var dri: not declared by stack 'files' (module {FILES_MODULE}); "
        "did you mean 'dir'?"
    )
    line = refused("workspace", "create", "dev", "--stack", "files", "--var", "colour=red")
    assert line.endswith("it declares content, dir, names, sleep_seconds, token")
    assert json.loads(ok("workspace", "list", "--json")) == []

    # a value terraform refuses (a string where the module wants a list): the plan fails
    ok("workspace", "create", "dev", "--stack", "files", "--var", f"dir={out}",
       "--var", "names=a")  # fmt: skip
    assert tfctl("plan", "dev").returncode == 2
    line = refused("workspace", "update", "dev", "--var", 'nmes=["a"]')
    assert line.endswith("did you mean 'names'?")
    line = refused("workspace", "update", "dev", "--unset-var", "nmes")
    assert line.endswith(
        "--unset-var nmes: workspace 'dev' sets no variable; did you mean 'names'?"
    )

    updated = json.loads(ok("workspace", "update", "dev", "--var", 'names=["a"]', "--json"))
    assert updated == json.loads(ok("workspace", "show", "dev", "--json"))
    assert updated["variables"] == {"dir": str(out), "names": ["a"]}
    ok("apply", "dev", "--auto-approve")
    assert (out / "a").read_text() == "hello\n"
    assert ok("workspace", "update", "dev", "--var", 'names=["a"]').strip() == (
        "workspace dev unchanged: backend local, variables dir, names"
    )


def test_update_discards_the_plan_made_with_the_old_settings(out: Path) -> None:
    ok("workspace", "create", "dev", "--stack", "files", "--var", f"dir={out}")
    plan = json.loads(ok("plan", "dev", "--json"))
    result = tfctl("workspace", "update", "dev", "--var", "content=bye")
    assert result.returncode == 0, result.stderr
    assert f"plan {plan['id']} was made with the old settings: discarded" in result.stderr
    assert json.loads(ok("runs", "show", plan["id"], "--json"))["status"] == "discarded"
    ok("apply", "dev", "--auto-approve")  # plans again, with the new content
    assert (out / "a").read_text() == "bye\n"


def test_delete_keeps_the_state_of_resources_aside_and_frees_the_name(
    out: Path, isolated_env: Path
) -> None:
    ok("workspace", "create", "dev", "--stack", "files", "--var", f"dir={out}")
    ok("apply", "dev", "--auto-approve")
    state = isolated_env / "workspaces" / "dev" / "terraform.tfstate"
    held = state.read_bytes()

    line = refused("workspace", "delete", "dev")
    assert line.startswith("tfctl: error: workspace 'dev': its latest state (serial ")
    assert line.endswith(
        "holds 2 resources; destroy them first (`tfctl destroy dev`), or pass --force to "
        "delete the workspace anyway (its local state file is moved aside)"
    )
    assert state.read_bytes() == held

    deleted = json.loads(ok("workspace", "delete", "dev", "--force", "--json"))
    assert deleted["workspace"]["name"] == "dev"
    assert deleted["deleted"]["runs"] == 2
    assert deleted["deleted"]["state_versions"] == 1
    assert deleted["resources"] == 2
    moved = Path(deleted["state_moved_to"])
    assert moved.parent == isolated_env / "workspaces" / ".deleted"
    assert (moved / "terraform.tfstate").read_bytes() == held
    assert not state.exists()
    assert "no workspace named 'dev'" in refused("workspace", "show", "dev")
    assert json.loads(ok("runs", "list", "--json")) == []

    ok("workspace", "create", "dev", "--stack", "files", "--var", f"dir={out}")
    assert json.loads(ok("plan", "dev", "--json"))["summary"]["add"] == 2  # a fresh state


def test_delete_waits_for_a_queued_run_and_takes_a_pending_plan_with_it(out: Path) -> None:
    ok("workspace", "create", "dev", "--stack", "files", "--var", f"dir={out}")
    plan = json.loads(ok("plan", "dev", "--json"))
    queued = tfctl("plan", "dev", "--queue", "--json")
    queued_id = json.loads(queued.stdout)["id"]
    line = refused("workspace", "delete", "dev")
    assert line.startswith(f"tfctl: error: cannot delete workspace 'dev': run {queued_id} "
                           "(plan, queued, by ")  # fmt: skip
    assert line.endswith(f"(`tfctl runs cancel {queued_id}`), then delete again")
    ok("runs", "cancel", queued_id)

    printed = ok("workspace", "delete", "dev").splitlines()
    assert printed == [
        "workspace dev deleted, with 2 runs, 0 state versions and 0 policy attachments",
        f"its plan {plan['id']}, awaiting approval, went with it",
    ]
    assert not (out / "a").exists()


def test_help_says_what_goes_with_a_deleted_workspace() -> None:
    text = " ".join(ok("workspace", "delete", "--help").split())
    assert "TFCTL_HOME/workspaces/.deleted/NAME-TIMESTAMP/" in text
    assert "A remote backend's state is never touched" in text
    text = " ".join(ok("workspace", "update", "--help").split())
    for option in ("--var", "--unset-var", "--backend", "--backend-config",
                   "--unset-backend-config", "--force", "--json"):  # fmt: skip
        assert option in text
