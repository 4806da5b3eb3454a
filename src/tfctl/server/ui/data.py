"""What the pages show, gathered from the run service and the core read functions (never
from the JSON API over HTTP, never from a store session)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfctl import errors

if TYPE_CHECKING:
    from tfctl.context import AppContext
    from tfctl.persistence.db import Store
    from tfctl.runs.service import RunService
    from tfctl.runs.views import RunView

UI_DIR = Path(__file__).resolve().parent
#: Variable names shown as hidden even when no module declaration says they are sensitive.
SECRET_NAME = re.compile(r"token|secret|password|passwd|credential|private|api_?key", re.I)
#: At most this many log lines are rendered into a run page (the rest: the API, the CLI).
PAGE_LOG_LINES = 20_000
UNFINISHED = ("queued", "running", "awaiting_approval")
HALT_BANNER_WINDOW = timedelta(hours=1)


def when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def status_text(status: str | None) -> str:
    return (status or "-").replace("_", " ")


def chrome(ctx: AppContext, svc: RunService) -> dict[str, Any]:
    """What every page shows around its content: the halt banner and the halt form's
    workspace choices."""
    from tfctl.workspaces import list_workspaces

    return {
        "banner": halt_banner(svc),
        "all_workspaces": [view.name for view in list_workspaces(ctx.store)],
    }


def halt_banner(svc: RunService) -> dict[str, Any] | None:
    """Runs halted within the last hour, and how many are still stopping; None if none."""
    from tfctl.persistence.types import utcnow

    recent = utcnow() - HALT_BANNER_WINDOW
    halted = [
        run for run in svc.list_runs(statuses=("cancelled",), limit=200)
        if run.halted and (run.finished_at is None or run.finished_at >= recent)
    ]  # fmt: skip
    if not halted:
        return None
    newest = halted[0]
    return {
        "count": len(halted),
        "stopping": sum(1 for run in halted if run.finished_at is None),
        "by": newest.halted_by,
        "reason": newest.halt_reason,
        "at": newest.finished_at or newest.created_at,
    }


def changes(summary: dict[str, Any] | None) -> str:
    from tfctl.cli.progress import changes_text

    return changes_text(summary)


# --- the workspace list -----------------------------------------------------------------------


def workspace_rows(ctx: AppContext, svc: RunService) -> list[dict[str, Any]]:
    from tfctl.stacks import list_stacks
    from tfctl.workspaces import list_workspaces

    versions = {stack["name"]: stack for stack in list_stacks(ctx.store)}
    rows = []
    for view in list_workspaces(ctx.store):
        latest = svc.list_runs(workspace=view.name, limit=1)
        rows.append({
            "name": view.name, "stack": view.stack, "version": versions[view.stack]["version"],
            "latest": latest[0] if latest else None, "pending": svc.pending_plan(view.name),
            "last_apply": last_apply(svc, view.name), "drift": view.drift,
        })  # fmt: skip
    return rows


def last_apply(svc: RunService, workspace: str) -> RunView | None:
    applied = svc.list_runs(workspace=workspace, statuses=("applied",), limit=5)
    return next((run for run in applied if run.operation == "apply"), None)


# --- one workspace ----------------------------------------------------------------------------


def workspace_detail(ctx: AppContext, svc: RunService, name: str) -> dict[str, Any]:
    from tfctl.policy.service import list_attachments
    from tfctl.server.views import current_state
    from tfctl.stacks import show_version
    from tfctl.workspaces import show_workspace

    view = show_workspace(ctx.store, name)
    version = show_version(ctx.store, view.stack)
    hidden = sensitive_variables(version.spec or {})
    variables = [
        {"name": key, "value": None if _hidden(key, hidden) else value}
        for key, value in sorted(view.variables.items())
    ]
    return {
        "view": view, "version": version, "variables": variables,
        "runs": svc.list_runs(workspace=name, limit=25), "pending": svc.pending_plan(name),
        "state": current_state(ctx.store, name),
        "policies": list_attachments(ctx.store, name),
    }  # fmt: skip


def _hidden(name: str, sensitive: set[str]) -> bool:
    return name in sensitive or bool(SECRET_NAME.search(name))


def sensitive_variables(spec: dict[str, Any]) -> set[str]:
    """The variables the stack's local module declares `sensitive` (none when unknown)."""
    from tfctl.codegen.hcl import scan_module

    source = spec.get("module_source")
    if not source or not Path(source).is_absolute():
        return set()
    try:
        interface = scan_module(Path(source))
    except errors.TfctlError:
        return set()
    return {name for name, var in interface.variables.items() if var.sensitive}


# --- one run ----------------------------------------------------------------------------------


def run_detail(ctx: AppContext, svc: RunService, run_id: str) -> dict[str, Any]:
    from tfctl.cli.progress import counts_line, summary_lines

    run = svc.get(run_id)
    lines, next_seq, finished = _log(svc, run.id)
    return {
        "view": run, "rows": summary_lines(run.summary),
        "counts": counts_line(run.summary) if run.summary else None,
        "policies": policy_groups(run.policy_results), "blocking": _blocking(run),
        "log": lines, "next": next_seq, "live": not finished,
        "children": svc.children(run.id) if run.operation == "plan" else [],
        "outputs": _outputs(ctx, run), "destroy": run.plan_mode == "destroy",
        "unfinished": run.status in UNFINISHED,
    }  # fmt: skip


def _log(svc: RunService, run_id: str) -> tuple[list[Any], int, bool]:
    lines: list[Any] = []
    after, finished = 0, False
    while len(lines) < PAGE_LOG_LINES:
        page = svc.logs(run_id, after=after, limit=2000)
        lines.extend(page.lines)
        after, finished = page.next, page.finished
        if len(page.lines) < 2000:
            break
    return lines, after, finished


def policy_groups(results: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Policy results by enforcement level, the strictest first."""
    if not results or not results.get("policies"):
        return []
    order = ("hard_mandatory", "soft_mandatory", "advisory")
    groups = []
    for level in order:
        policies = [p for p in results["policies"] if p.get("level") == level]
        if policies:
            groups.append({"level": level, "policies": policies})
    return groups


def _blocking(run: RunView) -> str | None:
    results = run.policy_results or {}
    blocking = results.get("blocking")
    return str(blocking) if blocking and not results.get("override") else None


def _outputs(ctx: AppContext, run: RunView) -> dict[str, Any] | None:
    """The outputs of the state version the run recorded (an apply's)."""
    from tfctl.state_versions import list_states

    if run.operation != "apply" or run.status not in ("applied", "cancelled", "errored"):
        return None
    for state in list_states(ctx.store, run.workspace, limit=20):
        if state["run_id"] == run.id:
            return dict(state["outputs"])
    return None


# --- stacks -----------------------------------------------------------------------------------


def stack_catalog(db: Store, *, versions: int = 20) -> list[dict[str, Any]]:
    from tfctl.stacks import list_stacks, show_version

    catalog = []
    for stack in list_stacks(db):
        latest = stack["version"] or 0
        numbers = range(latest, max(latest - versions, 0), -1)
        shown = [show_version(db, stack["name"], n) for n in numbers]
        catalog.append({**stack, "versions": shown})
    return catalog


def stack_diff(db: Store, name: str, a: int, b: int) -> dict[str, Any]:
    from tfctl.stacks import diff_versions

    result = diff_versions(db, name, a, b)
    lines = []
    for line in result.unified.splitlines():
        kind = "meta" if line.startswith(("+++", "---", "@@")) else {
            "+": "added", "-": "removed"}.get(line[:1], "same")  # fmt: skip
        lines.append((kind, line))
    return {"name": name, "a": a, "b": b, "lines": lines, "changes": result.changes}
