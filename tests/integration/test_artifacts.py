"""Plan artifacts through the job store (SQLite and PostgreSQL): a plan's working directory
saved on one machine comes back byte for byte on another; a plan holding sensitive values is
stored only encrypted with TFCTL_ARTIFACT_KEY and comes back only with that key; a damaged
artifact is refused with what to do, and nothing is unpacked from it."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update

from filestack import files_workspace, push_files
from tfctl import errors
from tfctl.context import AppContext
from tfctl.persistence import runs as run_store
from tfctl.persistence import store as ws_store
from tfctl.persistence.db import Store
from tfctl.persistence.models import RunArtifact
from tfctl.runs import artifacts
from tfctl.runs.executor import PLAN_FILE
from tfctl.runs.service import RunService
from tfctl.settings import get_settings

SECRET = "artifact-secret-5c2e91"


@pytest.fixture
def run_id(store: Store, tmp_path: Path) -> str:
    """A plan run of workspace `dev` (artifacts belong to a run)."""
    push_files(store, tmp_path)
    files_workspace(store, "dev", tmp_path / "out")
    with store.write() as session:
        ws = ws_store.get_workspace(session=session, name="dev")
        run = run_store.create_run(
            session=session, workspace_id=ws.id, operation="plan", status="awaiting_approval",
            actor="alice", host="planner-1",
        )  # fmt: skip
        return run.id


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A plan's working directory as the runtime leaves it after `terraform plan`."""
    work = tmp_path / "planner" / "work"
    files = {
        PLAN_FILE: bytes(range(256)) * 64 + os.urandom(4096),  # binary, every byte value
        "main.tf": b'module "stack" {\n  source = "./modules/stack"\n}\n',
        ".terraform.lock.hcl": b"# pins the providers for the applying side's init\n",
        "modules/stack/main.tf": b'resource "terraform_data" "x" {}\n',
        "terraform.tfvars.json": f'{{"token": "{SECRET}"}}\n'.encode(),
        # not shared: `init` recreates .terraform/, and plan.json is a readable copy
        ".terraform/providers/registry/provider.bin": b"\x7fELF provider",
        ".terraform/terraform.tfstate": b"{}",
        "plan.json": f'{{"variables": {{"token": "{SECRET}"}}}}'.encode(),
    }
    for name, content in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(content)
    return work


SHARED = [".terraform.lock.hcl", "main.tf", "modules/stack/main.tf", "terraform.tfvars.json",
          PLAN_FILE]  # fmt: skip


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_row(store: Store, run_id: str) -> RunArtifact | None:
    with store.read() as session:
        return session.get(RunArtifact, (run_id, artifacts.NAME))


def test_a_plan_comes_back_elsewhere_byte_for_byte(
    store: Store, run_id: str, work: Path, tmp_path: Path
) -> None:
    said = artifacts.save(store, run_id, work, sensitive=False, key=None)
    assert said.startswith("plan shared through the job store (stored, ")

    dest = tmp_path / "applier" / "runs" / run_id / "work"
    artifacts.restore(store, run_id, dest, key=None)
    assert sorted(tree(dest)) == sorted(SHARED)
    assert tree(dest) == {name: data for name, data in tree(work).items() if name in SHARED}
    assert sha256(dest / PLAN_FILE) == sha256(work / PLAN_FILE)
    assert dest.stat().st_mode & 0o777 == 0o700

    row = stored_row(store, run_id)
    assert row is not None
    assert not row.encrypted
    assert row.size == len(row.content)
    assert row.sha256 == hashlib.sha256(row.content).hexdigest()


def test_a_sensitive_plan_is_stored_encrypted_and_comes_back_with_its_key(
    store: Store, run_id: str, work: Path, tmp_path: Path
) -> None:
    key = Fernet.generate_key().decode()
    said = artifacts.save(store, run_id, work, sensitive=True, key=key)
    assert said.startswith("plan shared through the job store (encrypted, ")

    row = stored_row(store, run_id)
    assert row is not None
    assert row.encrypted
    with (  # not readable as an archive without the key
        pytest.raises(tarfile.ReadError),
        tarfile.open(fileobj=io.BytesIO(row.content), mode="r:*"),
    ):
        pass
    archive = Fernet(key).decrypt(row.content)
    assert row.sha256 == hashlib.sha256(archive).hexdigest()  # of what comes back
    assert row.size == len(archive)

    dest = tmp_path / "applier" / "work"
    artifacts.restore(store, run_id, dest, key=key)
    assert tree(dest) == {name: data for name, data in tree(work).items() if name in SHARED}
    assert sha256(dest / PLAN_FILE) == sha256(work / PLAN_FILE)


def test_a_sensitive_plan_without_a_key_is_not_stored_and_cannot_be_restored(
    store: Store, run_id: str, work: Path, tmp_path: Path
) -> None:
    said = artifacts.save(store, run_id, work, sensitive=True, key=None)
    assert "not shared" in said
    assert "TFCTL_ARTIFACT_KEY is not set" in said
    assert stored_row(store, run_id) is None

    dest = tmp_path / "applier" / "work"
    with pytest.raises(errors.RunRefused, match=f"plan {run_id} is not on this machine.*"
                       "TFCTL_ARTIFACT_KEY.*plan again"):  # fmt: skip
        artifacts.restore(store, run_id, dest, key=Fernet.generate_key().decode())
    assert not dest.exists()


@pytest.mark.parametrize("applying_key", [None, "another"], ids=["no-key", "another-key"])
def test_an_encrypted_plan_needs_the_planning_key(
    store: Store, run_id: str, work: Path, tmp_path: Path, applying_key: str | None
) -> None:
    artifacts.save(store, run_id, work, sensitive=True, key=Fernet.generate_key().decode())
    if applying_key == "another":
        applying_key = Fernet.generate_key().decode()
        expected = f"plan {run_id} cannot be decrypted with this TFCTL_ARTIFACT_KEY"
    else:
        expected = f"plan {run_id} is encrypted; set TFCTL_ARTIFACT_KEY"
    dest = tmp_path / "applier" / "work"
    with pytest.raises(errors.RunRefused) as caught:
        artifacts.restore(store, run_id, dest, key=applying_key)
    message = str(caught.value)
    assert message.startswith(expected)
    assert "the planning worker used" in message
    assert "\n" not in message
    assert not dest.exists()


def test_a_malformed_key_is_a_setting_error_that_does_not_echo_it(
    store: Store, run_id: str, work: Path, tmp_path: Path
) -> None:
    bad = "not-a-fernet-key-but-still-a-secret"
    with pytest.raises(errors.InvalidSetting, match="TFCTL_ARTIFACT_KEY is not a valid key; "
                       "make one with `tfctl worker keygen`") as caught:  # fmt: skip
        artifacts.save(store, run_id, work, sensitive=True, key=bad)
    assert bad not in str(caught.value)
    assert stored_row(store, run_id) is None

    artifacts.save(store, run_id, work, sensitive=True, key=Fernet.generate_key().decode())
    with pytest.raises(errors.InvalidSetting) as caught:
        artifacts.restore(store, run_id, tmp_path / "applier", key=bad)
    assert bad not in str(caught.value)


def flip_a_byte(content: bytes) -> dict[str, object]:
    middle = len(content) // 2
    return {"content": content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1 :]}


def truncate(content: bytes) -> dict[str, object]:
    return {"content": content[: len(content) // 2]}


def other_checksum(content: bytes) -> dict[str, object]:
    return {"sha256": hashlib.sha256(b"something else").hexdigest()}


@pytest.mark.parametrize("sensitive", [False, True], ids=["plain", "encrypted"])
@pytest.mark.parametrize("tamper", [flip_a_byte, truncate, other_checksum])
def test_a_tampered_artifact_is_refused_and_nothing_is_unpacked(
    store: Store,
    run_id: str,
    work: Path,
    tmp_path: Path,
    sensitive: bool,
    tamper: Callable[[bytes], dict[str, object]],
) -> None:
    key = Fernet.generate_key().decode() if sensitive else None
    artifacts.save(store, run_id, work, sensitive=sensitive, key=key)
    row = stored_row(store, run_id)
    assert row is not None
    with store.write() as session:
        session.exec(
            update(RunArtifact)
            .where(RunArtifact.run_id == run_id)  # type: ignore[arg-type]
            .values(**tamper(row.content))
        )

    dest = tmp_path / "applier" / "work"
    with pytest.raises(errors.RunRefused, match=f"plan.* {run_id} ") as caught:
        artifacts.restore(store, run_id, dest, key=key)
    if not sensitive:
        assert str(caught.value) == f"the stored plan of run {run_id} is corrupt; plan again"
    assert not dest.exists()


def crafted(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [b"not a gzip archive", crafted({PLAN_FILE: b"plan", "../outside": b"escape"})],
    ids=["not-an-archive", "member-outside-the-directory"],
)
def test_an_artifact_that_is_not_a_safe_archive_is_refused(
    store: Store, run_id: str, tmp_path: Path, content: bytes
) -> None:
    """A row written by something else than `save` (its checksum matching) must still be
    refused in one line, with nothing unpacked."""
    with store.write() as session:
        session.add(RunArtifact(run_id=run_id, name=artifacts.NAME, encrypted=False,
                                size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                                content=content))  # fmt: skip
    dest = tmp_path / "applier" / "work"
    with pytest.raises(errors.RunRefused, match=f"stored plan of run {run_id} is corrupt"):
        artifacts.restore(store, run_id, dest, key=None)
    assert not (tmp_path / "applier" / "outside").exists()
    assert not dest.exists() or not any(dest.iterdir())


@pytest.mark.terraform
def test_a_real_sensitive_plan_restores_elsewhere_with_its_recorded_sha256(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("TFCTL_ARTIFACT_KEY", key)
    monkeypatch.setenv("TF_VAR_token", SECRET)  # the files module's sensitive variable
    get_settings.cache_clear()
    push_files(store, tmp_path)
    files_workspace(store, "dev", tmp_path / "out")
    plan = RunService(AppContext(store=store)).plan("dev")
    assert plan.has_changes

    row = stored_row(store, plan.id)
    assert row is not None
    assert row.encrypted  # the token makes the plan sensitive
    assert SECRET.encode() not in row.content

    dest = tmp_path / "another-machine" / "work"
    artifacts.restore(store, plan.id, dest, key=key)
    assert sha256(dest / PLAN_FILE) == plan.plan_sha256
    assert not (dest / ".terraform").exists()
    with pytest.raises(errors.RunRefused, match="is encrypted"):
        artifacts.restore(store, plan.id, tmp_path / "keyless", key=None)
