"""Reading state versions: what each apply left behind, with sensitive values redacted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store

if TYPE_CHECKING:
    from tfctl.persistence.db import Store
    from tfctl.persistence.models import StateVersion, Workspace


def state_dict(
    row: StateVersion, workspace: str, *, stored_in: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The documented `--json` shape of a state version; `stored_in` is `stored_in(ws, row)`."""
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
        "hcp_state_version_id": row.hcp_state_version_id,
        "stored_in": stored_in,
    }


def stored_in(ws: Workspace, row: StateVersion | None = None) -> dict[str, Any]:
    """Where the workspace's state lives: `{"backend": ..., **its settings}` (settings hold no
    credentials), the state file's `path` for `local`, and for `hcp` the host, the HCP
    workspace's id and the HCP state version that holds `row`'s state (None if unknown)."""
    from tfctl.settings import get_settings, local_state_path

    settings = get_settings()
    where: dict[str, Any] = {"backend": ws.backend, **ws.backend_config}
    if ws.backend == "local":
        where["path"] = str(local_state_path(settings.home, ws.name))
    elif ws.backend == "hcp":
        from tfctl.hcp.workspaces import HcpTarget

        where["hostname"] = HcpTarget.of(ws.name, ws.backend_config, settings).hostname
        where.setdefault("workspace_id", None)
        where["state_version_id"] = row.hcp_state_version_id if row else None
    return where


def describe_location(where: dict[str, Any]) -> str:
    """`stored_in` in words, for `tfctl state show`."""
    if where["backend"] == "local":
        return f"local file {where['path']}"
    if where["backend"] == "hcp":
        ident = f" ({where['workspace_id']})" if where.get("workspace_id") else ""
        version = where.get("state_version_id") or "not linked (see the apply's log)"
        return (f"HCP Terraform {where['hostname']}, organization {where['organization']}, "
                f"workspace {where['workspace']}{ident}, state version {version}")  # fmt: skip
    settings = ", ".join(f"{k}={v}" for k, v in sorted(where.items()) if k != "backend")
    return f"{where['backend']} backend: {settings}"


def list_states(db: Store, workspace: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The workspace's state versions, newest first."""
    with db.read() as session:
        ws = store.get_workspace(session=session, name=workspace)
        rows = run_store.state_versions(session=session, workspace_id=ws.id, limit=limit)
        return [state_dict(row, ws.name, stored_in=stored_in(ws, row)) for row in rows]


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
        return state_dict(rows[0], ws.name, stored_in=stored_in(ws, rows[0]))
