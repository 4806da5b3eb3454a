"""Plan, apply and inspect a workspace on the `hcp` backend, with real terraform keeping its
state in the fake HCP Terraform through the `cloud` block; and the runs tfctl refuses before
terraform starts (a locked, remote-execution, deleted or replaced HCP workspace)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.hcp_server import FakeHcpServer
from tfctl import errors
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import PlanMode, RunStatus
from tfctl.runs.service import RunService
from tfctl.runs.views import RunView
from tfctl.state_versions import list_states, show_state
from tfctl.workspaces import create_workspace

pytestmark = pytest.mark.terraform

SECRET = "hcp-test-secret-value"  # the stack's TF_VAR_token


@pytest.fixture
def service(store: Store) -> RunService:
    return RunService(AppContext(store=store))


@pytest.fixture
def web(store: Store, stack: str, hcp: FakeHcpServer, out: Path) -> str:
    """Workspace `web` of the files stack on HCP workspace acme/dev."""
    create_workspace(store, "web", stack=stack, backend="hcp",
                     backend_config=hcp.backend_config(), variables={"dir": str(out)})  # fmt: skip
    return "web"


def log_of(service: RunService, run: RunView | str) -> str:
    run_id = run if isinstance(run, str) else run.id
    return "\n".join(line.text for line in service.logs(run_id, limit=10_000).lines)


def only_run(service: RunService, workspace: str) -> RunView:
    runs = service.list_runs(workspace=workspace)
    assert len(runs) == 1
    return runs[0]


def test_plan_apply_and_state_show_with_the_state_in_hcp_terraform(
    store: Store, service: RunService, hcp: FakeHcpServer, web: str, out: Path
) -> None:
    remote = hcp.workspace("acme", "dev")
    assert remote is not None

    plan = service.plan(web)
    assert plan.status == RunStatus.AWAITING_APPROVAL
    assert (f"HCP Terraform workspace 'dev' of organization 'acme' on {hcp.hostname} "
            f"({remote.id}): unlocked, execution mode local") in log_of(service, plan)  # fmt: skip
    assert remote.current_state_version is None  # a plan stores nothing

    applied = service.apply(web)

    assert applied.status == RunStatus.APPLIED
    assert (out / "a").read_text() == "hello\n"
    state = hcp.current_state(remote)
    assert state is not None
    assert remote.locked_by is None
    recorded = show_state(store, web)
    assert (recorded["serial"], recorded["lineage"]) == (state["serial"], state["lineage"])
    assert recorded["hcp_state_version_id"] == remote.current_state_version
    assert recorded["stored_in"] == {
        "backend": "hcp", "hostname": hcp.hostname, "organization": "acme",
        "workspace": "dev", "workspace_id": remote.id,
        "state_version_id": remote.current_state_version,
    }  # fmt: skip
    log = log_of(service, applied)
    assert (f"HCP Terraform holds this state as state version {remote.current_state_version} "
            f"(serial {state['serial']})") in log  # fmt: skip
    assert SECRET not in log

    assert service.plan(web).status == RunStatus.NO_CHANGES  # the state came back from HCP

    service.plan(web, mode=PlanMode.DESTROY)
    service.apply(web, confirm=web)
    assert not (out / "a").exists()
    newest, older = list_states(store, web)[:2]
    assert newest["hcp_state_version_id"] == remote.current_state_version
    assert newest["hcp_state_version_id"] != older["hcp_state_version_id"]
    assert hcp.current_state(remote)["serial"] == newest["serial"]  # type: ignore[index]


def test_a_locked_hcp_workspace_refuses_the_plan_naming_who_holds_it(
    service: RunService, hcp: FakeHcpServer, web: str
) -> None:
    remote = hcp.workspace("acme", "dev")
    assert remote is not None
    remote.locked_by = ("users", hcp.add_user("alice"))
    hcp.requests.clear()

    with pytest.raises(errors.StateLocked) as refused:
        service.plan(web)

    assert str(refused.value) == (
        f"workspace 'web': HCP Terraform workspace 'dev' of organization 'acme' on "
        f"{hcp.hostname} is locked by user alice; wait for it to be unlocked, or unlock it in "
        "HCP Terraform (the workspace's Settings > Locking), then run again"
    )
    assert (refused.value.exit_code, refused.value.holder) == (1, "user alice")
    run = only_run(service, web)
    assert (run.status, run.message) == (RunStatus.ERRORED, str(refused.value))
    assert "GET /api/v2/ping" not in hcp.requests  # terraform never started


def test_a_lock_held_by_a_run_names_the_run(
    service: RunService, hcp: FakeHcpServer, web: str
) -> None:
    remote = hcp.workspace("acme", "dev")
    assert remote is not None
    remote.locked_by = ("runs", "run-CZcmD7eagjhyX0vN")

    with pytest.raises(errors.StateLocked, match="is locked by run run-CZcmD7eagjhyX0vN;"):
        service.plan(web)


def test_an_apply_checks_the_lock_again(
    store: Store, service: RunService, hcp: FakeHcpServer, web: str, out: Path
) -> None:
    service.plan(web)
    remote = hcp.workspace("acme", "dev")
    assert remote is not None
    remote.locked_by = ("users", hcp.add_user("bob"))

    with pytest.raises(errors.StateLocked, match="is locked by user bob;"):
        service.apply(web)

    assert not (out / "a").exists()
    assert remote.current_state_version is None


def test_a_workspace_switched_to_remote_execution_refuses_the_run(
    service: RunService, hcp: FakeHcpServer, web: str
) -> None:
    remote = hcp.workspace("acme", "dev")
    assert remote is not None
    remote.execution_mode = "remote"

    with pytest.raises(errors.InvalidInput, match=r"\(execution mode remote\), but tfctl runs"):
        service.plan(web)
    assert "POST /api/v2/workspaces" not in " ".join(hcp.requests)


def test_a_deleted_hcp_workspace_refuses_the_run_rather_than_let_terraform_make_a_remote_one(
    service: RunService, hcp: FakeHcpServer, web: str
) -> None:
    hcp.workspaces.clear()

    with pytest.raises(errors.InvalidInput) as refused:
        service.plan(web)

    assert str(refused.value) == (
        f"workspace 'web': HCP Terraform workspace 'dev' of organization 'acme' on "
        f"{hcp.hostname} does not exist (or the token may not see it); terraform would create "
        "it to run in HCP. Create it again in execution mode local with `tfctl workspace "
        "update web --unset-backend-config workspace_id`"
    )
    assert hcp.workspaces == {}


def test_a_replaced_hcp_workspace_refuses_the_run_until_it_is_recorded(
    store: Store, service: RunService, hcp: FakeHcpServer, web: str
) -> None:
    from tfctl.workspaces import WorkspaceChanges, update_workspace

    old = hcp.workspace("acme", "dev")
    assert old is not None
    del hcp.workspaces[old.id]
    new = hcp.add_workspace("acme", "dev", execution_mode="local")

    with pytest.raises(errors.InvalidInput, match=f"is now {new.id}, not the {old.id} tfctl"):
        service.plan(web)

    update_workspace(store, web, WorkspaceChanges(unset_backend_config=("workspace_id",)),
                     home=Path("/nonexistent"), heartbeat_timeout=30)  # fmt: skip
    assert service.plan(web).status == RunStatus.AWAITING_APPROVAL


def test_another_writer_after_the_apply_leaves_the_state_unlinked_with_a_note(
    store: Store, service: RunService, hcp: FakeHcpServer, web: str
) -> None:
    remote = hcp.workspace("acme", "dev")
    assert remote is not None

    def another_writer() -> None:
        state = hcp.current_state(remote) or {}
        hcp.write_state(remote, {**state, "serial": state["serial"] + 1})

    service.plan(web)
    hcp.requests.clear()
    # right after `terraform state pull` (tfctl's snapshot) downloaded the state just applied
    hcp.after("GET", r"\A/_archivist/.*/state\Z", another_writer)

    applied = service.apply(web)

    assert applied.status == RunStatus.APPLIED  # the apply happened; the note says the rest
    recorded = show_state(store, web)
    assert recorded["hcp_state_version_id"] is None
    assert recorded["stored_in"]["state_version_id"] is None
    current = hcp.state_versions[remote.current_state_version or ""]
    serial, lineage = recorded["serial"], recorded["lineage"]
    assert (f"HCP Terraform holds state version {current.id} (serial {serial + 1}, lineage "
            f"{lineage}), not the state tfctl recorded (serial {serial}, lineage {lineage}): "
            "something else wrote the state; run `tfctl plan web` to see where things "
            "stand") in log_of(service, applied)  # fmt: skip


def test_hcp_failing_after_the_apply_is_a_note_not_a_failed_run(
    store: Store, service: RunService, hcp: FakeHcpServer, web: str
) -> None:
    service.plan(web)

    def outage() -> None:
        hcp.fail("GET", r"/current-state-version\Z", 503, "service unavailable")

    hcp.after("GET", r"\A/_archivist/.*/state\Z", outage)  # once `terraform state pull` is done

    applied = service.apply(web)

    assert applied.status == RunStatus.APPLIED
    assert show_state(store, web)["hcp_state_version_id"] is None
    log = log_of(service, applied)
    assert ("could not compare the recorded state with HCP Terraform's: workspace 'web': "
            "reading the current state of HCP Terraform workspace 'dev' of organization "
            f"'acme' on {hcp.hostname} failed (503 service unavailable); check that "
            f"{hcp.hostname} is reachable from here") in log  # fmt: skip


def test_terraform_and_tfctl_both_use_the_credentials_file_of_terraform_login(
    store: Store, stack: str, hcp: FakeHcpServer, tmp_path: Path, out: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """No TF_CLI_CONFIG_FILE: terraform reads ~/.terraformrc (the host block here) and
    ~/.terraform.d/credentials.tfrc.json, and so does tfctl."""
    home = tmp_path / "home"
    home.mkdir()
    hcp.cli_config(home / ".terraformrc")
    hcp.credentials(home)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("TF_CLI_CONFIG_FILE")
    create_workspace(store, "web", stack=stack, backend="hcp",
                     backend_config=hcp.backend_config(), variables={"dir": str(out)})  # fmt: skip

    service = RunService(AppContext(store=store))
    service.plan("web")
    assert service.apply("web").status == RunStatus.APPLIED
    assert show_state(store, "web")["hcp_state_version_id"] is not None
