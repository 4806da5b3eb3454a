"""Small read-only compositions of core functions that the API and the pages share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tfctl import errors

if TYPE_CHECKING:
    from tfctl.persistence.db import Store


def current_state(db: Store, workspace: str) -> dict[str, Any] | None:
    """The workspace's newest state version (`tfctl state show --json`), None before any."""
    from tfctl.state_versions import show_state

    try:
        return show_state(db, workspace)
    except errors.NotFound:
        from tfctl.workspaces import show_workspace

        show_workspace(db, workspace)  # an unknown workspace is still an error
        return None
