"""azurerm: the rendered block is the golden one, and tfctl's `terraform init` gets as far as
the backend itself — it fails with the backend's own authentication error, never with a
configuration error.

Why not the full cycle, as for s3 and gcs: Terraform 1.11's azurerm backend has no setting to
point it at another blob endpoint; Azurite (the Azure Storage emulator) is reachable only
through a TLS-terminating proxy posing as `ACCOUNT.blob.core.windows.net` plus a SAS token —
fragile, and it would test the proxy more than tfctl (shared/TERRAFORM-FACTS.md). The backend
is driven here up to building its Azure authorizer, which fails without credentials before
any network call.

hcp runs the full cycle against a fake HCP Terraform: tests/integration/hcp.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tfctl import errors
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import RunStatus
from tfctl.runs.service import RunService
from tfctl.runs.views import list_runs
from tfctl.stacks import push_spec_file
from tfctl.workspaces import create_workspace

pytestmark = pytest.mark.terraform

GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden" / "backend"
MODULE = """
resource "terraform_data" "nothing" {
  input = "never applied"
}
"""
AZURERM = {"storage_account_name": "tfstateacct", "container_name": "tfstate",
           "key": "dev.terraform.tfstate", "resource_group_name": "platform"}  # fmt: skip


@pytest.fixture
def stack(store: Store, tmp_path: Path) -> str:
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text(MODULE)
    spec = tmp_path / "stack.yaml"
    spec.write_text(yaml.safe_dump({"name": "remote", "kind": "generic",
                                    "module_source": str(module)}))  # fmt: skip
    push_spec_file(store, spec, author="test")
    return "remote"


@pytest.fixture
def offline_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH holds terraform and nothing else, and no cloud credentials are set: a developer's
    logged-in `az` or `ARM_*` variables must not send this test to Azure."""
    for name in list(os.environ):
        if name.startswith(("ARM_", "AZURE_", "MSI_", "IDENTITY_", "TF_TOKEN_")):
            monkeypatch.delenv(name)
    terraform = next(Path(d) / "terraform" for d in os.environ["PATH"].split(os.pathsep)
                     if (Path(d) / "terraform").is_file())  # fmt: skip
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "terraform").symlink_to(terraform.resolve())
    monkeypatch.setenv("PATH", str(bin_dir))


def rendered_block(runtime: RunService, store: Store, workspace: str) -> str:
    """The backend (or cloud) block of the workspace's last rendered main.tf, unindented."""
    run = list_runs(store, workspace=workspace, limit=1)[0]
    lines = (runtime.run_dir(run.id) / "work" / "main.tf").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("  backend ", "  cloud ")))
    end = lines.index("  }", start)
    return "\n".join(line.removeprefix("  ") for line in lines[start : end + 1]) + "\n"


@pytest.mark.usefixtures("offline_terraform")
def test_azurerm_init_reaches_the_backend_and_fails_on_its_credentials(
    store: Store, stack: str
) -> None:
    create_workspace(store, "az", stack=stack, backend="azurerm", backend_config=AZURERM,
                     variables={})  # fmt: skip
    runtime = RunService(AppContext(store=store))
    with pytest.raises(errors.InitFailed) as failed:
        runtime.plan("az")
    message = str(failed.value)
    assert "unable to build authorizer for Resource Manager API" in message
    assert "Unsupported argument" not in message
    assert "Invalid" not in message
    assert rendered_block(runtime, store, "az") == (GOLDEN / "azurerm.tf").read_text()
    assert list_runs(store, workspace="az")[0].status == RunStatus.ERRORED
