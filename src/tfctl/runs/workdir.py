"""Init reuse: a workspace's initialised terraform data directories, kept between runs.

Each run still renders into a working directory of its own (runs/<run_id>/work), but its
`.terraform` is a symlink to TFCTL_HOME/workdirs/<workspace_id>/<init_sha256>/data, shared
by the workspace's runs with the same `init_sha256`: one SHA-256 over what `terraform init`
depends on (`init_sha256`). A run whose hash has a ready directory skips `init` and gets the
lock file that init produced; any change gives a new hash, hence a new directory, so a plan
awaiting approval keeps the directory it was planned with whatever later plans do.

A symlink rather than TF_DATA_DIR in each command's environment: every terraform command run
in the working directory finds it (the state pull after an apply, `show -json` of an older
plan, a person debugging there) with nothing to thread through, and a run's own environment
stays what it was (non-empty, it means the run has sensitive variables).

Concurrency on one machine: each directory has a `flock` file, held shared by every run
using the directory and exclusive by `init` and by pruning, so two processes (a drift
assessment and a plan, two worker slots) never initialise one directory at once, and none
is re-initialised or removed under a running terraform. The `ready` marker is written,
atomically, only after a successful init: an init that failed or was interrupted is redone.
A run that ends errored replaces `ready` by `failed`, so the next run re-inits. Directories
beyond the KEEP most recently used are removed, except one a plan awaiting approval still
references.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence.types import utcnow

if TYPE_CHECKING:
    from tfctl.persistence.db import Store
    from tfctl.persistence.models import Run
    from tfctl.terraform.runner import TerraformExecutor

DATA = "data"
LOCK_FILE = ".terraform.lock.hcl"
READY = "ready"
FAILED = "failed"
FLOCK = "flock"
#: Initialised directories kept per workspace (by last use), besides a pending plan's.
KEEP = 3
#: Files of a working directory that are not configuration: tfctl's plan file and its JSON,
#: and the variable values (no variable can reach a backend block or a module source in
#: terraform 1.x, so `init` does not depend on them and a changed value does not re-init).
#: The lock file is hashed on its own.
NOT_CONFIGURATION = frozenset({"tfplan.binary", "plan.json", "terraform.tfvars.json", LOCK_FILE})
_TERRAFORM_FILES = (".tf", ".tf.json")
_POLL = 0.05

Note = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Configuration:
    """The workspace's side of what `terraform init` depends on, besides the rendered files:
    its backend and the backend's settings, and a local module the configuration calls
    (its terraform files count too: a provider or module it adds needs an init)."""

    backend: str
    backend_config: Mapping[str, Any]
    module_dir: Path | None = None

    @classmethod
    def of(
        cls, backend: str, backend_config: Mapping[str, Any], module_source: str | None
    ) -> Configuration:
        source = Path(module_source) if module_source else None
        local = source is not None and source.is_absolute() and source.is_dir()
        return cls(backend, dict(backend_config), source if local else None)

    @classmethod
    def of_run(cls, store: Store, run: Run) -> Configuration:
        """Of the run's workspace and spec version, read from the store."""
        from tfctl.persistence import store as queries
        from tfctl.spec import TerraformStackSpec

        with store.read() as session:
            ws = queries.get_workspace_by_id(session=session, workspace_id=run.workspace_id)
            version_id = run.spec_version_id or ""
            row = queries.get_spec_version_by_id(session=session, version_id=version_id)
        spec = TerraformStackSpec.model_validate_json(row.canonical_json)
        return cls.of(ws.backend, ws.backend_config, spec.module_source)


@dataclass(frozen=True, slots=True)
class InitInputs:
    """What `terraform init` depends on besides the files of the working directory."""

    config: Configuration
    #: the binary's real path and its version
    terraform: str
    cli_config_file: Path | None
    plugin_cache_dir: str | None

    @classmethod
    def of(cls, config: Configuration, executor: TerraformExecutor, home: Path) -> InitInputs:
        """For runs of `config` by `executor`: the CLI configuration file terraform reads
        (the one its environment names, else ~/.terraformrc), its plugin cache, and the
        binary's version (asked once per binary file, cached under `home` as the run
        executor does)."""
        from tfctl.terraform.commands import build_env

        env = build_env(executor.env, os.environ)
        named = env.get("TF_CLI_CONFIG_FILE")
        binary = shutil.which(executor.env.binary, path=env.get("PATH", os.defpath))
        version = executor.version(cache=home / "cache" / "terraform-version.json").version
        return cls(config,
                   terraform=f"{os.path.realpath(binary or executor.env.binary)} {version}",
                   cli_config_file=Path(named) if named else Path.home() / ".terraformrc",
                   plugin_cache_dir=env.get("TF_PLUGIN_CACHE_DIR"))  # fmt: skip


def init_sha256(work: Path, given: InitInputs) -> str:
    """One SHA-256 over what `terraform init` in `work` depends on: the configuration files
    (names and bytes, not `NOT_CONFIGURATION`), the lock file the configuration ships (if
    any), the backend and its settings, a local module's terraform files, the CLI
    configuration file's bytes, the plugin cache directory and the terraform binary."""
    digest = hashlib.sha256(b"tfctl init v1\0")
    config = given.config
    backend = json.dumps([config.backend, config.backend_config], sort_keys=True, default=str)
    _add(digest, "backend", backend.encode())
    _add(digest, "terraform", given.terraform.encode())
    _add(digest, "plugin cache", (given.plugin_cache_dir or "").encode())
    _add(digest, "cli config", _read(given.cli_config_file))
    _add(digest, "lock file", _read(work / LOCK_FILE))
    for name, path in _files(work, skip=NOT_CONFIGURATION):
        _add(digest, f"file {name}", path.read_bytes())
    if config.module_dir is not None:
        for name, path in _files(config.module_dir, suffixes=_TERRAFORM_FILES):
            _add(digest, f"module {name}", path.read_bytes())
    return digest.hexdigest()


def _add(digest: Any, label: str, data: bytes | None) -> None:
    """Length-prefixed, so no two different inputs hash alike; None (absent) differs from
    empty."""
    name = label.encode()
    digest.update(len(name).to_bytes(8, "big") + name)
    digest.update(b"\xff" * 8 if data is None else len(data).to_bytes(8, "big") + data)


def _read(path: Path | None) -> bytes | None:
    try:
        return None if path is None else path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise errors.TfctlError(f"cannot read {path}: {exc.strerror}") from exc


def _files(
    root: Path, *, skip: Collection[str] = (), suffixes: tuple[str, ...] | None = None
) -> Iterator[tuple[str, Path]]:
    """Files under `root` by relative name, sorted, not in hidden directories (`.terraform`,
    `.git`) nor named in `skip` at the top; only `suffixes` when given."""
    found = []
    for top, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            path = Path(top) / name
            relative = path.relative_to(root).as_posix()
            if relative in skip or (suffixes and not name.endswith(suffixes)):
                continue
            if path.is_file():
                found.append((relative, path))
    return iter(sorted(found))


class Lease:
    """A run's use of one initialised directory: its lock, held shared until `release`."""

    def __init__(self, home: Path, check: Callable[[], None] | None, note: Note) -> None:
        self.home = home
        self._check, self.note = check, note
        self._fd: int | None = _locked(home, fcntl.LOCK_SH, check, note)

    @property
    def sha256(self) -> str:
        return self.home.name

    def try_exclusive(self) -> bool:
        """Hold the lock alone (to initialise), if nobody else holds it now; `shared()`
        gives it back to others. When it is refused, this lease holds no lock at all until
        `shared()` (flock drops the shared lock before converting it)."""
        try:
            fcntl.flock(self._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def shared(self) -> None:
        _flock(self._descriptor(), fcntl.LOCK_SH, self._check, self.note)

    def wait(self) -> None:
        """A moment, in a wait for the lock: `check` may stop it."""
        if self._check is not None:
            self._check()
        time.sleep(_POLL)

    def _descriptor(self) -> int:
        if self._fd is None:
            raise RuntimeError("the lease was released")
        return self._fd

    def ended(self, run_id: str, exc: BaseException) -> None:
        """The run ended early: unless it was cancelled, the directory is marked failed and
        the next run with this hash initialises it again."""
        if isinstance(exc, errors.TerraformCancelled | errors.Cancelled | KeyboardInterrupt):
            return
        with contextlib.suppress(OSError):
            _write_json(self.home / FAILED, {"run_id": run_id, "at": utcnow().isoformat()})
            (self.home / READY).unlink(missing_ok=True)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


class WorkDirs:
    """The initialised directories of every workspace under `root` (TFCTL_HOME/workdirs)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def home(self, workspace_id: str, sha256: str) -> Path:
        return self.root / workspace_id / sha256

    def prepare(
        self,
        work: Path,
        *,
        workspace_id: str,
        run_id: str,
        sha256: str,
        reinit: bool,
        init: Callable[[], object],
        note: Note,
        check: Callable[[], None] | None = None,
        protect: Callable[[], Collection[str]] = frozenset,
    ) -> Lease:
        """Make `work/.terraform` the initialised directory of `sha256`, running `init` (in
        `work`) only when that directory is not ready or `reinit`; says which in `note`.
        Returns the lease the run holds while it uses the directory. `check` raises to stop
        waiting for another process's lock (a cancelled run); `protect` names hashes that
        pruning keeps (a pending plan's)."""
        home = self.home(workspace_id, sha256)
        lease = Lease(home, check, note)
        try:
            ready = self._ready_or_init(lease, work, run_id, reinit, init)
            _link(work, home)
            if ready is not None:
                _copy(home / LOCK_FILE, work / LOCK_FILE)
                note(f"init skipped: init hash {sha256[:12]} unchanged since run "
                     f"{ready.get('run_id')}")  # fmt: skip
            os.utime(home / FLOCK)  # last used, for pruning
            if ready is None:  # a new directory: drop old ones
                self.prune(workspace_id, keep={sha256, *protect()})
        except BaseException:
            lease.release()
            raise
        return lease

    def _ready_or_init(
        self, lease: Lease, work: Path, run_id: str, reinit: bool, init: Callable[[], object]
    ) -> dict[str, Any] | None:
        """The `ready` marker (the lease holding its shared lock), or None once this run
        initialised the directory, alone: nobody else holding its lock. Another process may
        make it ready meanwhile; a reinit waits for every other user to finish."""
        home = lease.home
        said = False
        while True:
            ready = None if reinit else _ready(home)
            if ready is not None:
                lease.shared()
                if _ready(home) is not None:  # still, now that the lock is held again
                    return ready
                continue
            if lease.try_exclusive():
                ready = None if reinit else _ready(home)  # someone may have, meanwhile
                if ready is None:
                    lease.note(f"init: {self._why(home, reinit)} (init hash {home.name[:12]})")
                    self._init(home, work, run_id, init)
                lease.shared()
                return ready
            if not said:
                lease.note("waiting for another run of this workspace to finish with its "
                           "initialised directory")  # fmt: skip
                said = True
            lease.wait()

    def _why(self, home: Path, reinit: bool) -> str:
        if reinit:
            return "--reinit"
        failed = _marker(home / FAILED)
        if failed is not None:
            return f"run {failed.get('run_id')} ended errored with this configuration"
        if (home / READY).exists():
            return "the initialised directory of this configuration is gone"
        if (home / DATA).is_dir() and any((home / DATA).iterdir()):
            return "the last init of this configuration did not finish"
        others = [d for d in home.parent.iterdir() if d != home and not d.name.startswith(".")]
        return "configuration changed" if others else "first run of this workspace here"

    def _init(self, home: Path, work: Path, run_id: str, init: Callable[[], object]) -> None:
        """A clean init into `home/data`; `ready` only once it succeeded."""
        for name in (READY, FAILED, LOCK_FILE):
            (home / name).unlink(missing_ok=True)
        shutil.rmtree(home / DATA, ignore_errors=True)
        (home / DATA).mkdir(mode=0o700, exist_ok=True)
        _link(work, home)
        init()
        if (work / LOCK_FILE).is_file():
            _copy(work / LOCK_FILE, home / LOCK_FILE)
        _write_json(home / READY, {"run_id": run_id, "at": utcnow().isoformat()})

    def prune(self, workspace_id: str, *, keep: Collection[str]) -> list[str]:
        """Remove the workspace's directories beyond the KEEP most recently used, except
        those in `keep` and those in use (their lock is held). Returns the hashes removed."""
        parent = self.root / workspace_id
        try:
            found = [d for d in parent.iterdir() if d.is_dir() and not d.name.startswith(".")]
        except OSError:  # housekeeping: never fails a run
            return []
        dirs = sorted(found, key=_last_used, reverse=True)
        return [old.name for old in dirs[KEEP:] if old.name not in keep and _remove(old)]


def pending_hashes(store: Store, workspace_id: str) -> set[str]:
    """The init hash of the workspace's plan awaiting approval, if it has one."""
    from tfctl.persistence import runs as run_store
    from tfctl.persistence.kinds import RunStatus

    with store.read() as session:
        plan = run_store.latest_plan(session=session, workspace_id=workspace_id)
    if plan is None or plan.status != RunStatus.AWAITING_APPROVAL or not plan.init_sha256:
        return set()
    return {plan.init_sha256}


def _locked(home: Path, mode: int, check: Callable[[], None] | None, note: Note) -> int:
    """A descriptor of `home/flock` (created, with `home`, as needed) locked `mode`. Taken
    again when pruning removed the directory meanwhile (the file locked is gone)."""
    while True:
        home.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (home.parent, home):
            path.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(home / FLOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            _flock(fd, mode, check, note)
            if os.fstat(fd).st_ino == os.stat(home / FLOCK).st_ino:
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _flock(fd: int, mode: int, check: Callable[[], None] | None, note: Note) -> None:
    """`flock(fd, mode)`, polled so that `check` can stop the wait."""
    said = False
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not said:
                note("waiting for another run of this workspace to finish with its "
                     "initialised directory")  # fmt: skip
                said = True
            if check is not None:
                check()
            time.sleep(_POLL)


def _remove(home: Path) -> bool:
    """Remove `home` unless it is in use; moved aside first, so nobody finds half of it."""
    try:
        fd = os.open(home / FLOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        aside = home.with_name(f".{home.name}.{os.getpid()}.removed")
        home.rename(aside)
    except OSError:
        return False
    finally:
        os.close(fd)
    shutil.rmtree(aside, ignore_errors=True)
    return True


def _last_used(home: Path) -> float:
    try:
        return (home / FLOCK).stat().st_mtime
    except OSError:
        return 0.0


def _link(work: Path, home: Path) -> None:
    """`work/.terraform` → `home/data` (replacing whatever `.terraform` was there)."""
    link = work / ".terraform"
    target = home / DATA
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return
        link.unlink()
    elif link.exists():
        shutil.rmtree(link)
    work.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)


def _ready(home: Path) -> dict[str, Any] | None:
    """The `ready` marker of an initialised directory that still has its data."""
    return _marker(home / READY) if (home / DATA).is_dir() else None


def _marker(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _write_json(path: Path, content: dict[str, Any]) -> None:
    _write(path, json.dumps(content).encode())


def _copy(source: Path, dest: Path) -> None:
    data = _read(source)
    if data is not None:
        _write(dest, data)


def _write(path: Path, data: bytes) -> None:
    """Atomically: a reader sees the old file or the whole new one."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as out:  # fmt: skip
        out.write(data)
    try:
        os.replace(out.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(out.name)
        raise
