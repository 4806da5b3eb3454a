"""Plan artifacts: what an apply needs of a plan's working directory, kept in the job store so
that any worker sharing the store can apply a plan made elsewhere.

The archive holds the plan file and the rendered configuration, not `.terraform/` (the
applying side runs `terraform init`, which the lock file pins to the same providers). A
plan file carries variable values in clear text, so when the plan has sensitive values the
archive is encrypted with TFCTL_ARTIFACT_KEY (a Fernet key shared by the workers, like the
database URL) — and without a key it is not stored at all.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from tfctl import errors

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

    from tfctl.persistence.db import Store

NAME = "workdir.tar.gz"
_SKIP = {".terraform", "plan.json"}


def pack(work: Path) -> bytes:
    """A gzipped tar of `work` without `.terraform/` (deterministic member order)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(work.rglob("*")):
            relative = path.relative_to(work)
            if relative.parts[0] in _SKIP or not path.is_file():
                continue
            archive.add(path, arcname=str(relative), recursive=False)
    return buffer.getvalue()


def unpack(data: bytes, dest: Path) -> None:
    """Unpack an archive made by `pack` into `dest`, all or nothing: members are extracted
    into a private scratch directory beside `dest` (the `data` filter refuses absolute
    paths, members outside it, links out and devices), which becomes `dest` only when every
    member was extracted. Raises `tarfile.TarError` (or `EOFError`, `OSError` for a broken
    stream) with nothing left behind."""
    import shutil
    import tempfile

    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(scratch, filter="data")
        if dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()
        if dest.exists():  # a directory with other files: add the plan's next to them
            for entry in scratch.iterdir():
                entry.replace(dest / entry.name)
        else:
            scratch.replace(dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def save(db: Store, run_id: str, work: Path, *, sensitive: bool, key: str | None) -> str:
    """Store the plan's working directory; returns what happened, for the run's log."""
    from tfctl.persistence.models import RunArtifact

    if sensitive and not key:
        return (
            "the plan was not shared through the job store: it holds sensitive values and "
            "TFCTL_ARTIFACT_KEY is not set, so only this machine can apply it"
        )
    data = pack(work)
    content = _fernet(key).encrypt(data) if sensitive and key else data
    with db.write() as session:
        session.add(
            RunArtifact(run_id=run_id, name=NAME, encrypted=sensitive, size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(), content=content)
        )  # fmt: skip
    how = "encrypted" if sensitive else "stored"
    return f"plan shared through the job store ({how}, {len(content)} bytes)"


def restore(db: Store, run_id: str, dest: Path, *, key: str | None) -> None:
    """Unpack the plan run's working directory into `dest`, or refuse with what to do."""
    from tfctl.persistence.models import RunArtifact

    with db.read() as session:
        row = session.get(RunArtifact, (run_id, NAME))
    if row is None:
        raise errors.RunRefused(
            f"plan {run_id} is not on this machine and was not shared through the job store "
            "(it holds sensitive values and TFCTL_ARTIFACT_KEY was not set when it was "
            "planned); apply it where it was planned, or plan again"
        )
    data = _decrypt(row.content, key, run_id) if row.encrypted else row.content
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise errors.RunRefused(f"the stored plan of run {run_id} is corrupt; plan again")
    try:
        unpack(data, dest)
    except (tarfile.TarError, EOFError, zlib.error) as exc:  # not written by `save`
        raise errors.RunRefused(
            f"the stored plan of run {run_id} is corrupt ({exc}); plan again"
        ) from exc


def _decrypt(content: bytes, key: str | None, run_id: str) -> bytes:
    from cryptography.fernet import InvalidToken

    if not key:
        raise errors.RunRefused(
            f"plan {run_id} is encrypted; set TFCTL_ARTIFACT_KEY to the key the planning "
            "worker used"
        )
    try:
        return _fernet(key).decrypt(content)
    except InvalidToken as exc:
        raise errors.RunRefused(
            f"plan {run_id} cannot be decrypted with this TFCTL_ARTIFACT_KEY; use the key "
            "the planning worker used"
        ) from exc


def _fernet(key: str | None) -> Fernet:
    from cryptography.fernet import Fernet

    try:
        return Fernet(key or "")
    except ValueError as exc:
        raise errors.InvalidSetting(
            "TFCTL_ARTIFACT_KEY is not a valid key; make one with `tfctl worker keygen`"
        ) from exc
