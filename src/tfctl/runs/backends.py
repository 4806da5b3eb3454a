"""What a run does around terraform for a backend that keeps the state elsewhere: `hcp`.

The executor calls `before_init` before each `terraform init` of a plan or an apply, and
`after_apply` after an apply's state snapshot. For any other backend both return after one
read of the workspace row, without loading anything of HCP Terraform's client.

- `before_init` refuses the run, in one line, when the HCP workspace is missing, replaced,
  set to run terraform in HCP, or locked (naming who holds it): terraform would otherwise
  create a remote-execution workspace, or fail on the lock after init.
- `after_apply` compares the state version tfctl just recorded with HCP Terraform's current
  one (serial and lineage) and, when they are the same state, keeps HCP's state-version id on
  tfctl's. The apply has happened either way: a difference or an unreachable HCP is a note in
  the run's log, not a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store
from tfctl.persistence.models import StateVersion

if TYPE_CHECKING:
    from tfctl.context import AppContext
    from tfctl.persistence.models import Workspace

Note = Callable[[str], None]


def before_init(ctx: AppContext, workspace_id: str, *, note: Note) -> None:
    """Check the workspace's remote side before terraform starts; raises to refuse the run."""
    ws = _workspace(ctx, workspace_id)
    if ws.backend != "hcp":
        return
    from tfctl.hcp.workspaces import HcpTarget, check_ready

    remote = check_ready(ws.name, ws.backend_config, ctx.settings)
    where = HcpTarget.of(ws.name, ws.backend_config, ctx.settings).where
    note(f"{where} ({remote.id}): unlocked, execution mode {remote.execution_mode}")


def after_apply(ctx: AppContext, workspace_id: str, *, note: Note) -> None:
    """Link tfctl's latest state version to HCP Terraform's current one when they are the
    same state (serial and lineage); say so, or why not, in the run's log."""
    ws = _workspace(ctx, workspace_id)
    if ws.backend != "hcp":
        return
    with ctx.store.read() as session:
        latest = run_store.state_versions(session=session, workspace_id=workspace_id, limit=1)
    if not latest or latest[0].hcp_state_version_id:
        return  # no state recorded, or this one is linked already
    recorded = latest[0]
    from tfctl.hcp.workspaces import compare_state

    try:
        found = compare_state(ws.name, ws.backend_config, ctx.settings,
                              serial=recorded.serial, lineage=recorded.lineage)  # fmt: skip
    except errors.TfctlError as exc:
        note(f"could not compare the recorded state with HCP Terraform's: {exc}")
        return
    if not found.matches:
        held = (f"state version {found.state_version_id} (serial {found.serial}, lineage "
                f"{found.lineage})" if found.state_version_id else "no state")  # fmt: skip
        note(f"HCP Terraform holds {held}, not the state tfctl recorded (serial "
             f"{recorded.serial}, lineage {recorded.lineage}): something else wrote the "
             f"state; run `tfctl plan {ws.name}` to see where things stand")  # fmt: skip
        return
    with ctx.store.write() as session:
        row = session.get(StateVersion, recorded.id)
        if row is None:  # the workspace was deleted meanwhile
            return
        row.hcp_state_version_id = found.state_version_id
        session.add(row)
    note(f"HCP Terraform holds this state as state version {found.state_version_id} "
         f"(serial {found.serial})")  # fmt: skip


def _workspace(ctx: AppContext, workspace_id: str) -> Workspace:
    with ctx.store.read() as session:
        return store.get_workspace_by_id(session=session, workspace_id=workspace_id)
