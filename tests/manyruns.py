"""Runs written straight into a store (no terraform): what the tests of run lists, pages
and short ids set up."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tfctl.persistence.db import Store

#: The creation time of the first run; runs come in groups that share one instant.
START = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
STATUSES = ("applied", "errored", "no_changes")


@dataclass(frozen=True)
class Made:
    id: str
    workspace: str
    status: str
    created_at: datetime


def make_runs(
    store: Store, count: int, *, workspaces: tuple[str, ...] = ("dev", "prod"), tie: int = 4
) -> list[Made]:
    """`count` finished runs over `workspaces` and STATUSES, `tie` runs per creation instant
    (so the order among them is their ids'), newest first as a list shows them."""
    from tfctl.persistence.ids import new_id
    from tfctl.persistence.models import Run
    from tfctl.spec import TerraformStackSpec
    from tfctl.stacks import persist_spec
    from tfctl.workspaces import create_workspace

    spec = TerraformStackSpec.model_validate(
        {"name": "web", "kind": "generic", "module_source": "./m"}
    )
    with store.write() as session:
        persist_spec(session=session, spec=spec, author="t")
    ids = {name: create_workspace(store, name, stack="web", backend="local", backend_config={},
                                  variables={}).id for name in workspaces}  # fmt: skip
    made = []
    cycle = itertools.cycle(itertools.product(workspaces, STATUSES))
    with store.write() as session:
        for i in range(count):
            workspace, status = next(cycle)
            at = START + timedelta(seconds=i // tie)
            run_id = new_id("run", millis=int(at.timestamp() * 1000))
            session.add(Run(id=run_id, workspace_id=ids[workspace], operation="plan",
                            status=status, actor="t", host="h", created_at=at))  # fmt: skip
            made.append(Made(run_id, workspace, status, at))
    return sorted(made, key=lambda run: (run.created_at, run.id), reverse=True)
