"""Workspaces: one stack bound to one state, with its backend and variable overrides."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence import store
from tfctl.persistence.kinds import BACKENDS

if TYPE_CHECKING:
    from tfctl.persistence.db import Store
    from tfctl.persistence.models import Stack, Workspace

WORKSPACE_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    """A workspace as shown to users; `to_dict()` is the documented `--json` shape."""

    id: str
    name: str
    stack: str
    backend: str
    backend_config: dict[str, Any]
    variables: dict[str, Any]
    locked_by_run_id: str | None
    created_at: str

    @classmethod
    def of(cls, workspace: Workspace, stack: Stack) -> WorkspaceView:
        return cls(
            id=workspace.id,
            name=workspace.name,
            stack=stack.name,
            backend=workspace.backend,
            backend_config=dict(workspace.backend_config),
            variables=dict(workspace.variables),
            locked_by_run_id=workspace.locked_by_run_id,
            created_at=workspace.created_at.isoformat(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "stack": self.stack,
            "backend": self.backend,
            "backend_config": self.backend_config,
            "variables": self.variables,
            "locked_by_run_id": self.locked_by_run_id,
            "created_at": self.created_at,
        }


def parse_assignments(pairs: Iterable[str], *, option: str, dotted: bool = False) -> dict[str, Any]:
    """`["count=3", "name=web"]` → `{"count": 3, "name": "web"}`.

    A value that parses as JSON keeps its type (numbers, booleans, lists, objects, null);
    anything else is a string, so `--var region=eu-west-1` needs no quoting. With `dotted`,
    keys may be paths such as `endpoints.s3` (backend settings).
    """
    values: dict[str, Any] = {}
    pattern = SETTING_NAME if dotted else VARIABLE_NAME
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not pattern.match(key):
            raise errors.InvalidInput(
                f"{option} {pair!r}: expected NAME=VALUE with NAME of letters, digits, '_' or '-'"
            )
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    return values


def create_workspace(
    db: Store,
    name: str,
    *,
    stack: str,
    backend: str,
    backend_config: dict[str, Any],
    variables: dict[str, Any],
) -> WorkspaceView:
    """Create workspace `name` for `stack`; nothing is written if any input is invalid."""
    from tfctl.codegen.wrapper import check_backend_config

    _check_name(name)
    if backend not in BACKENDS:
        raise errors.InvalidInput(
            f"--backend {backend!r}: unknown backend; expected one of {', '.join(BACKENDS)}"
        )
    # refused here, before anything is stored: credentials, unknown or missing settings
    backend_config = check_backend_config(backend, backend_config)
    with db.write() as session:
        if store.find_workspace(session=session, name=name) is not None:
            raise errors.AlreadyExists(
                f"workspace '{name}' already exists; `tfctl workspace show {name}` shows it"
            )
        stack_row = store.get_stack(session=session, name=stack)
        row = store.create_workspace(
            session=session,
            name=name,
            stack=stack_row,
            backend=backend,
            backend_config=backend_config,
            variables=variables,
        )
        return WorkspaceView.of(row, stack_row)


def list_workspaces(db: Store) -> list[WorkspaceView]:
    with db.read() as session:
        return [WorkspaceView.of(ws, st) for ws, st in store.list_workspaces(session=session)]


def show_workspace(db: Store, name: str) -> WorkspaceView:
    with db.read() as session:
        workspace = store.get_workspace(session=session, name=name)
        stack = store.get_stack_by_id(session=session, stack_id=workspace.stack_id)
        return WorkspaceView.of(workspace, stack)


def _check_name(name: str) -> None:
    if not WORKSPACE_NAME.match(name):
        raise errors.InvalidInput(
            f"workspace name {name!r}: use 1-63 lowercase letters, digits, '-' or '_', "
            "starting and ending with a letter or digit"
        )
