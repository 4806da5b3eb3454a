"""`tfctl policy`: attach Rego policies to workspaces, list, detach, and try one on a plan.

Every plan of a workspace is checked against its attached policies (conftest-style `deny`,
`violation` and `warn` rules); the enforcement level decides what a failure does to apply.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tfctl.cli.context import JSON_OPTION, app_context, print_json, stdout_console, table

if TYPE_CHECKING:
    from tfctl.policy.service import AttachmentView

app = typer.Typer(
    help="Policy gate: Rego policies checked against every plan of a workspace.",
    no_args_is_help=True,
)

Json = Annotated[bool, JSON_OPTION]
Policy = Annotated[
    str,
    typer.Argument(
        help="A .rego file or a directory of them (or a file:// URI).", show_default=False
    ),
]


@app.command()
def attach(
    ctx: typer.Context,
    workspace: Annotated[str, typer.Argument(help="The workspace.", show_default=False)],
    policy: Policy,
    level: Annotated[
        str | None,
        typer.Option(
            "--level",
            "-l",
            help="advisory (reported), soft_mandatory (blocks apply unless overridden with a "
            "reason) or hard_mandatory (blocks apply).",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Attach a policy to a workspace; its plans are checked against it from now on."""
    from tfctl.policy.service import attach as attach_policy

    app_ctx = app_context(ctx)
    view = attach_policy(app_ctx.store, workspace, policy, level=level, actor=app_ctx.actor)
    if as_json:
        print_json(view.to_dict())
        return
    print(f"policy {view.id} attached to {view.workspace}: {view.policy} ({view.level})")


@app.command("list")
def list_(
    ctx: typer.Context,
    workspace: Annotated[
        str | None, typer.Argument(help="Only this workspace's policies.", show_default=False)
    ] = None,
    as_json: Json = False,
) -> None:
    """List policy attachments, and whether each policy changed since it was attached."""
    from tfctl.policy.service import list_attachments

    views = list_attachments(app_context(ctx).store, workspace)
    if as_json:
        print_json([view.to_dict() for view in views])
        return
    out = table("ID", "WORKSPACE", "LEVEL", "POLICY", "CHANGED", "ATTACHED BY")
    for view in views:
        out.add_row(view.id, view.workspace, view.level, view.policy, _changed(view),
                    f"{view.actor} at {view.created_at[:19]}")  # fmt: skip
    stdout_console().print(out)


@app.command()
def detach(
    ctx: typer.Context,
    attachment_id: Annotated[
        str, typer.Argument(help="An attachment id (or a unique prefix).", show_default=False)
    ],
    as_json: Json = False,
) -> None:
    """Detach a policy; later plans of its workspace are no longer checked against it."""
    from tfctl.policy.service import detach as detach_policy

    view = detach_policy(app_context(ctx).store, attachment_id)
    if as_json:
        print_json(view.to_dict())
        return
    print(f"policy {view.id} detached from {view.workspace}: {view.policy}")


@app.command("test")
def evaluate(
    ctx: typer.Context,
    policy: Policy,
    plan: Annotated[
        str | None, typer.Option("--plan", help="The plan run to evaluate it against.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Evaluate a policy against a recorded plan without attaching it. Exits 3 when a deny
    or violation rule fires (or the policy does not compile), 0 otherwise."""
    from tfctl import errors
    from tfctl.policy.service import evaluate_policy
    from tfctl.runs.service import RunService

    if plan is None:
        raise errors.InvalidInput("--plan RUN_ID is required: the plan to evaluate against")
    runs = RunService(app_context(ctx))
    plan_run = runs.get(plan)
    report = evaluate_policy(runs.policy_checker, policy, lambda: runs.saved_plan_json(plan_run))
    results = report.to_dict()
    if as_json:
        print_json({"plan_run_id": plan_run.id, "workspace": plan_run.workspace, **results})
    else:
        print_results(results)
    if report.status == "failed":
        raise errors.PolicyBlocked(f"policy {report.results[0].policy} fails plan {plan_run.id}")


def print_results(results: dict[str, Any] | None, *, err: bool = False) -> None:
    """A run's policy results as short lines (after a plan summary, in `runs show`), on
    stdout or, with `err`, stderr; a check skipped for want of an engine also warns."""
    from tfctl.cli.context import note
    from tfctl.policy.gate import report_lines

    lines = report_lines(results)
    if lines:
        print("\n".join(lines), file=sys.stderr if err else sys.stdout)
    if results and results.get("policies") and results.get("engine") is None and not err:
        note(f"warning: {results.get('warning')}")


def _changed(view: AttachmentView) -> str:
    if view.changed_since_attach is None:
        return "unreadable"
    return "yes" if view.changed_since_attach else "no"
