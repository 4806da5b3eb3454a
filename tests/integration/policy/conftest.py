"""A real terraform plan for the policy conformance tests: `terraform show -json` of
tests/fixtures/policies/conformance/plan (terraform_data resources, a module, a sensitive
variable), made once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CONFORMANCE = Path(__file__).resolve().parents[2] / "fixtures" / "policies" / "conformance"


@pytest.fixture(scope="session")
def plan_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("conformance-plan")
    shutil.copytree(CONFORMANCE / "plan", work / "config")
    rc = work / "empty.tfrc"
    rc.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "TFCTL_"))}
    env.update(TF_CLI_CONFIG_FILE=str(rc), CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1")
    config = work / "config"
    for argv in (["init", "-input=false"], ["plan", "-input=false", "-out", "tfplan"]):
        subprocess.run(["terraform", *argv], cwd=config, env=env, check=True,
                       capture_output=True, timeout=300)  # fmt: skip
    shown = subprocess.run(["terraform", "show", "-json", "tfplan"], cwd=config, env=env,
                           check=True, capture_output=True, timeout=300)  # fmt: skip
    path = work / "plan.json"
    path.write_bytes(shown.stdout)
    return path
