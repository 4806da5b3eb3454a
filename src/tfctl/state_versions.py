"""Reading state versions: what each apply left behind, with sensitive values redacted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store

if TYPE_CHECKING:
    from tfctl.persistence.db import Store
    from tfctl.persistence.models import StateVersion


def state_dict(row: StateVersion, workspace: str) -> dict[str, Any]:
    """The documented `--json` shape of a state version."""
    return {
        "id": row.id,
        "workspace": workspace,
        "run_id": row.run_id,
        "serial": row.serial,
        "lineage": row.lineage,
        "sha256": row.sha256,
        "terraform_version": row.terraform_version,
        "resource_count": row.resource_count,
        "resources": list(row.resources),
        "outputs": dict(row.outputs),
        "created_at": row.created_at.isoformat(),
    }


def list_states(db: Store, workspace: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The workspace's state versions, newest first."""
    with db.read() as session:
        ws = store.get_workspace(session=session, name=workspace)
        rows = run_store.state_versions(session=session, workspace_id=ws.id, limit=limit)
        return [state_dict(row, ws.name) for row in rows]


def show_state(db: Store, workspace: str, serial: int | None = None) -> dict[str, Any]:
    """The newest state version (or the newest at `serial`)."""
    with db.read() as session:
        ws = store.get_workspace(session=session, name=workspace)
        rows = run_store.state_versions(session=session, workspace_id=ws.id, serial=serial, limit=1)
        if not rows:
            at = f" at serial {serial}" if serial is not None else ""
            raise errors.NotFound(
                f"workspace '{workspace}' has no state version{at}; "
                f"`tfctl apply {workspace}` records one"
            )
        return state_dict(rows[0], ws.name)
