"""Stacks and their versions: push a spec, list, show and diff versions, render one.

`persist_spec` is the one place a spec version is created: a new row only when the canonical
hash differs from the stack's latest version.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence import store

if TYPE_CHECKING:
    from sqlmodel import Session

    from tfctl.persistence.db import Store
    from tfctl.persistence.models import SpecVersion, Stack
    from tfctl.spec import TerraformStackSpec

_PUSH_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class VersionView:
    """A stack version as shown to users; `to_dict()` is the documented `--json` shape."""

    name: str
    kind: str
    version: int
    hash: str
    created_at: datetime
    author: str
    source: str | None = None
    spec: dict[str, Any] | None = None
    created: bool | None = None

    @classmethod
    def of(cls, stack: Stack, row: SpecVersion, **extra: Any) -> VersionView:
        return cls(
            name=stack.name,
            kind=stack.kind,
            version=row.version,
            hash=row.spec_hash,
            created_at=row.created_at,
            author=row.author,
            source=row.source,
            **extra,
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "version": self.version,
            "hash": self.hash,
            "created_at": self.created_at.isoformat(),
            "author": self.author,
            "source": self.source,
        }
        if self.created is not None:
            data["created"] = self.created
        if self.spec is not None:
            data["spec"] = self.spec
        return data


def persist_spec(
    *, session: Session, spec: TerraformStackSpec, author: str, source: str | None = None
) -> VersionView:
    """Store `spec` as the next version of its stack unless its hash equals the latest's."""
    stack = store.find_stack(session=session, name=spec.name, for_update=True)
    if stack is None:
        stack = store.create_stack(session=session, name=spec.name, kind=spec.kind.value)
    elif stack.kind != spec.kind.value:
        raise errors.InvalidSpec(
            f"{source or 'spec'}: field 'kind': stack '{spec.name}' is a '{stack.kind}' stack; "
            f"a '{spec.kind.value}' spec needs another name"
        )
    latest = store.latest_spec_version(session=session, stack=stack)
    spec_hash = spec.spec_hash()
    if latest is not None and latest.spec_hash == spec_hash:
        return VersionView.of(stack, latest, created=False)
    row = store.create_spec_version(
        session=session,
        stack=stack,
        version=(latest.version + 1) if latest else 1,
        spec_hash=spec_hash,
        canonical_json=spec.canonical_json(),
        author=author,
        source=source,
    )
    return VersionView.of(stack, row, created=True)


def push_spec_file(db: Store, path: Path, *, author: str) -> VersionView:
    """Validate the spec file at `path` completely, then persist it."""
    from tfctl.specfile import load_spec_file

    return push_spec(db, load_spec_file(path), author=author, source=str(path.resolve()))


def push_spec_document(db: Store, document: Any, *, author: str, source: str) -> VersionView:
    """Validate a spec given as a mapping (the API's request body) completely, then persist
    it. A local `module_source` must be an absolute path: a relative one has no file to be
    relative to."""
    from pydantic import ValidationError

    from tfctl.spec import TerraformStackSpec
    from tfctl.specfile import describe_validation_error

    if not isinstance(document, dict):
        raise errors.InvalidSpec(f"{source}: the spec must be a mapping of fields")
    try:
        spec = TerraformStackSpec.model_validate(document)
    except ValidationError as exc:
        raise errors.InvalidSpec(f"{source}: {describe_validation_error(exc)}") from exc
    if spec.module_source and spec.module_source.startswith(("./", "../")):
        raise errors.InvalidSpec(
            f"{source}: field 'module_source': {spec.module_source!r} is relative; "
            "give the module's absolute path on the machines that run it"
        )
    return push_spec(db, spec, author=author, source=source)


def push_spec(db: Store, spec: TerraformStackSpec, *, author: str, source: str) -> VersionView:
    """Persist a validated spec, retrying a race with a concurrent push of the same stack
    (which the store's unique constraints reveal)."""
    from sqlalchemy.exc import IntegrityError

    for attempt in range(_PUSH_ATTEMPTS):
        try:
            with db.write() as session:
                return persist_spec(session=session, spec=spec, author=author, source=source)
        except IntegrityError:
            if attempt == _PUSH_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def list_stacks(db: Store) -> list[dict[str, Any]]:
    """Every stack with its latest version: `name`, `kind`, `version`, `hash`, `updated_at`."""
    with db.read() as session:
        rows = store.list_stacks(session=session)
    return [
        {
            "name": stack.name,
            "kind": stack.kind,
            "version": latest.version if latest else None,
            "hash": latest.spec_hash if latest else None,
            "updated_at": stack.updated_at.isoformat(),
        }
        for stack, latest in rows
    ]


def show_version(db: Store, name: str, version: int | None = None) -> VersionView:
    """Version `version` (default: latest) of stack `name`, with its spec."""
    with db.read() as session:
        stack = store.get_stack(session=session, name=name)
        row = store.get_spec_version(session=session, stack=stack, version=version)
        return VersionView.of(stack, row, spec=json.loads(row.canonical_json))


@dataclass(frozen=True, slots=True)
class SpecDiff:
    """What changed between two versions: field paths and a unified text diff."""

    name: str
    from_version: int
    to_version: int
    changes: list[dict[str, Any]] = field(default_factory=list)
    unified: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "changes": self.changes,
        }


def diff_versions(db: Store, name: str, a: int, b: int) -> SpecDiff:
    old, new = show_version(db, name, a), show_version(db, name, b)
    old_text = _pretty(old.spec).splitlines(keepends=True)
    new_text = _pretty(new.spec).splitlines(keepends=True)
    unified = "".join(difflib.unified_diff(old_text, new_text, f"{name} v{a}", f"{name} v{b}", n=2))
    return SpecDiff(name, a, b, list(_changes(old.spec, new.spec, "")), unified)


def _pretty(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _changes(old: Any, new: Any, path: str) -> Any:
    """Yield `{path, change, before, after}` for each leaf that differs (sorted paths)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            child = f"{path}.{key}" if path else key
            if key not in new:
                yield {"path": child, "change": "removed", "before": old[key], "after": None}
            elif key not in old:
                yield {"path": child, "change": "added", "before": None, "after": new[key]}
            else:
                yield from _changes(old[key], new[key], child)
    elif old != new:
        yield {"path": path, "change": "changed", "before": old, "after": new}


# --- render ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RenderView:
    """What `render_stack` wrote; `to_dict()` is the documented `--json` shape."""

    name: str
    version: int
    workspace: str | None
    backend: str
    out_dir: Path
    files: tuple[str, ...]
    variables: tuple[str, ...]
    sensitive_variables: tuple[str, ...]
    outputs: tuple[str, ...]

    def paths(self) -> list[str]:
        return [str(self.out_dir / name) for name in self.files]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "workspace": self.workspace,
            "backend": self.backend,
            "out_dir": str(self.out_dir),
            "files": self.paths(),
            "variables": list(self.variables),
            "sensitive_variables": list(self.sensitive_variables),
            "outputs": list(self.outputs),
        }


def render_stack(
    db: Store,
    name: str,
    out_dir: Path,
    *,
    home: Path,
    version: int | None = None,
    workspace: str | None = None,
    force: bool = False,
) -> RenderView:
    """Write the configuration a run of stack `name` would use into `out_dir`.

    Without `workspace`: version `version` (default: latest), the spec's variables, and the
    local backend with its state in `out_dir/terraform.tfstate`. With `workspace` (which must
    belong to the stack): exactly what a plan of that workspace renders — its backend and
    backend settings (for `local`, the workspace's own state file under `home`), and the
    spec's variables overridden by the workspace's. A non-empty `out_dir` is refused unless
    `force`; then tfctl's files are overwritten and nothing else is touched.
    """
    from tfctl.codegen.render import render_workspace
    from tfctl.spec import TerraformStackSpec

    out_dir = out_dir.expanduser().resolve()
    _check_out_dir(out_dir, force=force)
    with db.read() as session:
        stack = store.get_stack(session=session, name=name)
        row = store.get_spec_version(session=session, stack=stack, version=version)
        target = _render_target(session, stack, workspace, home, out_dir)
    spec = TerraformStackSpec.model_validate_json(row.canonical_json)
    backend, backend_config, values_override, state = target
    result = render_workspace(
        spec=spec, variables={**spec.variables, **values_override}, backend=backend,
        backend_config=backend_config, local_state_path=state, out_dir=out_dir,
    )  # fmt: skip
    return RenderView(
        name, row.version, workspace, backend, out_dir, result.files, result.variables,
        result.sensitive_variables, result.outputs,
    )  # fmt: skip


_Target = tuple[str, dict[str, Any], dict[str, Any], Path]


def _render_target(
    session: Session, stack: Stack, workspace: str | None, home: Path, out_dir: Path
) -> _Target:
    """Backend, backend settings, variable overrides and local state path of the render."""
    if workspace is None:
        return "local", {}, {}, out_dir / "terraform.tfstate"
    ws = store.get_workspace(session=session, name=workspace)
    if ws.stack_id != stack.id:
        owner = store.get_stack_by_id(session=session, stack_id=ws.stack_id)
        raise errors.InvalidInput(
            f"--workspace {workspace}: it belongs to stack '{owner.name}', not '{stack.name}'"
        )
    from tfctl.settings import local_state_path

    state = local_state_path(home, ws.name)  # the state file the workspace's runs use
    return ws.backend, dict(ws.backend_config), dict(ws.variables), state


def _check_out_dir(out_dir: Path, *, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise errors.InvalidInput(f"-o {out_dir}: not a directory")
    if not force and out_dir.is_dir() and any(out_dir.iterdir()):
        raise errors.InvalidInput(
            f"-o {out_dir}: the directory is not empty; pass --force to write into it "
            "(tfctl's files are overwritten, nothing else is touched)"
        )
