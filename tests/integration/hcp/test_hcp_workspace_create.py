"""`workspace create --backend hcp` makes the HCP Terraform workspace ready (created in
execution mode local when missing) and records its id; what cannot work is refused in one
line naming the organization, the workspace and what to do, and nothing is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.emulators import free_port
from fixtures.hcp_server import TOKEN, FakeHcpServer
from tfctl import errors
from tfctl.hcp.errors import HcpAuthError, HcpNotFound, HcpUnavailable
from tfctl.persistence.db import Store
from tfctl.workspaces import WorkspaceChanges, create_workspace, list_workspaces, update_workspace


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about HCP Terraform; the stores are covered elsewhere."""
    return f"sqlite:///{tmp_path / 'store.db'}"


def create(store: Store, stack: str, config: dict[str, str], name: str = "web") -> dict[str, Any]:
    view = create_workspace(store, name, stack=stack, backend="hcp", backend_config=config,
                            variables={})  # fmt: skip
    return view.backend_config


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message
    return message


def test_a_missing_hcp_workspace_is_created_to_run_locally_and_its_id_recorded(
    store: Store, stack: str, hcp: FakeHcpServer
) -> None:
    config = create(store, stack, hcp.backend_config())

    made = hcp.workspace("acme", "dev")
    assert made is not None
    assert made.execution_mode == "local"
    assert made.description == "State of tfctl workspace web"
    assert config == {**hcp.backend_config(), "workspace_id": made.id}
    assert list_workspaces(store)[0].backend_config["workspace_id"] == made.id


def test_an_existing_local_workspace_is_used_as_it_is(
    store: Store, stack: str, hcp: FakeHcpServer
) -> None:
    existing = hcp.add_workspace("acme", "dev", execution_mode="local")

    assert create(store, stack, hcp.backend_config())["workspace_id"] == existing.id
    assert "POST /api/v2/organizations/acme/workspaces" not in hcp.requests
    assert len(hcp.workspaces) == 1


@pytest.mark.parametrize("mode", ["remote", "agent"])
def test_a_workspace_that_runs_terraform_in_hcp_is_refused_with_what_to_change(
    store: Store, stack: str, hcp: FakeHcpServer, mode: str
) -> None:
    hcp.add_workspace("acme", "dev", execution_mode=mode)

    with pytest.raises(errors.InvalidInput) as refused:
        create(store, stack, hcp.backend_config())

    assert one_line(refused.value) == (
        f"workspace 'web': HCP Terraform workspace 'dev' of organization 'acme' on "
        f"{hcp.hostname} runs terraform in HCP (execution mode {mode}), but tfctl runs "
        "terraform itself and keeps only the state there; set its execution mode to local "
        "(HCP Terraform: the workspace's Settings > General > Execution Mode > Local), or name "
        "another workspace with --backend-config workspace=NAME"
    )
    assert refused.value.exit_code == 2
    assert list_workspaces(store) == []


def test_a_project_named_in_the_settings_gets_the_new_workspace(
    store: Store, stack: str, hcp: FakeHcpServer
) -> None:
    hcp.projects["platform"] = "prj-PLATFORM0000000"

    create(store, stack, hcp.backend_config(project="platform"))

    made = hcp.workspace("acme", "dev")
    assert made is not None
    assert made.project == "prj-PLATFORM0000000"


def test_an_unknown_project_is_refused_before_anything_is_created(
    store: Store, stack: str, hcp: FakeHcpServer
) -> None:
    with pytest.raises(errors.InvalidInput) as refused:
        create(store, stack, hcp.backend_config(project="nope"))

    assert one_line(refused.value) == (
        f"workspace 'web': organization 'acme' on {hcp.hostname} has no project 'nope'; "
        "create it in HCP Terraform, or drop --backend-config project"
    )
    assert hcp.workspaces == {}
    assert list_workspaces(store) == []


def test_no_token_is_one_line_at_create_naming_the_host_and_where_to_put_it(
    store: Store, stack: str, hcp: FakeHcpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = hcp.cli_config(tmp_path / "no-token.tfrc")  # the host block, no credentials
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("TFE_TOKEN", TOKEN)  # tfctl's HcpClient reads it, terraform does not

    with pytest.raises(HcpAuthError) as refused:
        create(store, stack, hcp.backend_config())

    assert one_line(refused.value) == (
        "workspace 'web' (HCP Terraform organization 'acme', workspace 'dev'): no HCP "
        f'Terraform API token for {hcp.hostname}: add a credentials "{hcp.hostname}" '
        f'{{ token = "..." }} block to {config_file} (terraform reads no credentials file '
        "while TF_CLI_CONFIG_FILE is set); terraform does not read TFE_TOKEN"
    )
    assert refused.value.exit_code == 2
    assert hcp.requests == []
    assert list_workspaces(store) == []


def test_a_token_hcp_refuses_is_one_line_naming_where_it_came_from(
    store: Store, stack: str, hcp: FakeHcpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = hcp.cli_config(tmp_path / "bad.tfrc", token="revoked.atlasv1.token")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config_file))

    with pytest.raises(HcpAuthError) as refused:
        create(store, stack, hcp.backend_config())

    assert one_line(refused.value) == (
        f"workspace 'web': setting up HCP Terraform workspace 'dev' of organization 'acme' on "
        f"{hcp.hostname} failed (401 unauthorized); check the API token from {config_file}: "
        f"it must be valid for {hcp.hostname} and may use organization 'acme'"
    )
    assert list_workspaces(store) == []


def test_an_unknown_organization_is_one_line_with_what_to_check(
    store: Store, stack: str, hcp: FakeHcpServer
) -> None:
    with pytest.raises(HcpNotFound) as refused:
        create(store, stack, {**hcp.backend_config(), "organization": "acme-typo"})

    assert one_line(refused.value) == (
        "workspace 'web': setting up HCP Terraform workspace 'dev' of organization 'acme-typo' "
        f"on {hcp.hostname} failed (404 not found); check the organization name 'acme-typo' "
        "and that the token's user belongs to it (HCP Terraform answers 404 for what a token "
        "may not see)"
    )


def test_an_unreachable_host_is_one_line_after_the_retries(
    store: Store, stack: str, hcp: FakeHcpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = f"localhost:{free_port()}"  # nothing listens there
    config_file = tmp_path / "closed.tfrc"
    config_file.write_text(f'credentials "{closed}" {{\n  token = "{TOKEN}"\n}}\n')
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config_file))

    with pytest.raises(HcpUnavailable) as refused:
        create(store, stack, {**hcp.backend_config(), "hostname": closed})

    message = one_line(refused.value)
    assert message.startswith(
        f"workspace 'web': setting up HCP Terraform workspace 'dev' of organization 'acme' on "
        f"{closed} failed (HCP Terraform: GET /api/v2/organizations/acme/workspaces/dev failed "
        "after 5 attempts: ConnectError"
    )
    assert message.endswith(
        f"check that {closed} is reachable from here (TFCTL_HCP_HOSTNAME or --backend-config "
        "hostname for Terraform Enterprise), then try again"
    )


def test_tfctl_hcp_hostname_names_the_host_and_is_recorded_for_terraform(
    store: Store, stack: str, hcp: FakeHcpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tfctl.settings import get_settings

    monkeypatch.setenv("TFCTL_HCP_HOSTNAME", hcp.hostname)
    get_settings.cache_clear()

    config = create(store, stack, {"organization": "acme", "workspace": "dev"})

    assert config["hostname"] == hcp.hostname  # rendered into the cloud block
    assert hcp.workspace("acme", "dev") is not None


def test_update_to_another_hcp_workspace_makes_it_ready_and_records_its_id(
    store: Store, stack: str, hcp: FakeHcpServer
) -> None:
    first = create(store, stack, hcp.backend_config())["workspace_id"]
    hcp.requests.clear()
    unchanged = update_workspace(store, "web", WorkspaceChanges(set_variables={"content": "x"}),
                                 home=Path("/nonexistent"), heartbeat_timeout=30)  # fmt: skip
    assert unchanged.workspace.backend_config["workspace_id"] == first
    assert hcp.requests == []  # the same HCP workspace: nothing asked

    moved = update_workspace(
        store, "web", WorkspaceChanges(set_backend_config={"workspace": "prod"}),
        home=Path("/nonexistent"), heartbeat_timeout=30,
    )  # fmt: skip

    prod = hcp.workspace("acme", "prod")
    assert prod is not None
    assert prod.execution_mode == "local"
    assert moved.workspace.backend_config["workspace_id"] == prod.id != first


def test_update_refuses_a_remote_workspace_and_keeps_the_old_settings(
    store: Store, stack: str, hcp: FakeHcpServer
) -> None:
    before = create(store, stack, hcp.backend_config())
    hcp.add_workspace("acme", "prod", execution_mode="remote")

    with pytest.raises(errors.InvalidInput, match="execution mode remote"):
        update_workspace(
            store, "web", WorkspaceChanges(set_backend_config={"workspace": "prod"}),
            home=Path("/nonexistent"), heartbeat_timeout=30,
        )  # fmt: skip

    assert list_workspaces(store)[0].backend_config == before
