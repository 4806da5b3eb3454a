"""`tfctl policy`: attach Rego policies to workspaces, list, detach, and try one on a plan.

Every plan of a workspace is checked against its attached policies as conftest checks them
(`deny`, `violation` and `warn` rules and their `_suffix` forms, `exception` rules, the
namespace `main` unless others are named, data documents); the enforcement level decides
what a failure does to apply.
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
Namespaces = Annotated[
    list[str] | None,
    typer.Option(
        "--namespace",
        "-n",
        metavar="NS",
        help="A package whose rules are read (repeatable); default: main, as conftest.",
        show_default=False,
    ),
]
AllNamespaces = Annotated[
    bool, typer.Option("--all-namespaces", help="Read the rules of every package of the policy.")
]
Data = Annotated[
    list[str] | None,
    typer.Option(
        "--data",
        "-d",
        metavar="PATH",
        help="A JSON or YAML data document, or a directory of them (repeatable); its keys are "
        "data.KEY in the policy.",
        show_default=False,
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
    namespace: Namespaces = None,
    all_namespaces: AllNamespaces = False,
    data: Data = None,
    as_json: Json = False,
) -> None:
    """Attach a policy to a workspace; its plans are checked against it from now on. The
    engine checks it first: a construct it would evaluate differently from OPA is refused
    with the file, line and what to write instead."""
    from tfctl.cli.context import note
    from tfctl.policy.service import attach as attach_policy

    app_ctx = app_context(ctx)
    view = attach_policy(app_ctx.store, workspace, policy, level=level, actor=app_ctx.actor,
                         namespaces=namespace or (), all_namespaces=all_namespaces,
                         data=data or ())  # fmt: skip
    if view.note:
        note(view.note)
    if as_json:
        print_json(view.to_dict())
        return
    print(f"policy {view.id} attached to {view.workspace}: {view.policy} ({view.level}, "
          f"{_namespaces(view.namespaces)}{_data(view.data)})")  # fmt: skip


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
    out = table("ID", "WORKSPACE", "LEVEL", "POLICY", "NAMESPACES", "DATA", "CHANGED",
                "ATTACHED BY")  # fmt: skip
    for view in views:
        out.add_row(view.id, view.workspace, view.level, view.policy,
                    ", ".join(view.namespaces) if view.namespaces is not None else "(all)",
                    str(len(view.data)) if view.data else "-", _changed(view),
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
    input_file: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            metavar="FILE",
            help="A plan JSON file (`terraform show -json PLAN`) to evaluate it against.",
        ),
    ] = None,
    namespace: Namespaces = None,
    all_namespaces: AllNamespaces = False,
    data: Data = None,
    as_json: Json = False,
) -> None:
    """Evaluate a policy against a recorded plan (--plan) or a plan JSON file (--input)
    without attaching it, and print exactly what the gate would record: deny, warn and
    exception results. Exits 3 when a deny or violation rule fires or the policy errors
    (does not compile, or uses a construct the engine would evaluate differently from OPA),
    0 otherwise."""
    from tfctl import errors
    from tfctl.cli.context import note
    from tfctl.policy.model import summarise
    from tfctl.policy.service import evaluate_policy

    if (plan is None) == (input_file is None):
        raise errors.InvalidInput(
            "give the plan to evaluate against: --plan RUN_ID or --input PLAN.json (one)"
        )
    checker, saved_plan, about = _plan_source(ctx, plan, input_file)
    report = evaluate_policy(checker, policy, saved_plan, namespaces=namespace or (),
                             all_namespaces=all_namespaces, data=data or ())  # fmt: skip
    summary = summarise(f for r in report.results for f in r.findings)
    if summary:
        note(summary)
    results = report.to_dict()
    if as_json:
        print_json({**about, **results})
    else:
        print_results(results)
    if report.status == "failed":
        target = about.get("plan_run_id") or about.get("input")
        raise errors.PolicyBlocked(f"policy {report.results[0].policy} fails {target}")


def _plan_source(ctx: typer.Context, plan: str | None, input_file: str | None) -> Any:
    """The checker, the plan JSON to open, and what `--json` says about it."""
    if input_file is not None:
        from tfctl.policy.checker import PolicyChecker
        from tfctl.policy.inputs import input_plan

        opened = input_plan(input_file)
        return PolicyChecker(), opened, {"input": input_file}
    from tfctl.runs.service import RunService

    runs = RunService(app_context(ctx))
    plan_run = runs.get(str(plan))
    about = {"plan_run_id": plan_run.id, "workspace": plan_run.workspace}
    return runs.policy_checker, lambda: runs.saved_plan_json(plan_run), about


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


def _namespaces(namespaces: list[str] | None) -> str:
    if namespaces is None:
        return "all namespaces"
    return ("namespace " if len(namespaces) == 1 else "namespaces ") + ", ".join(namespaces)


def _data(data: list[str]) -> str:
    return f", {len(data)} data path{'s' if len(data) != 1 else ''}" if data else ""


def _changed(view: AttachmentView) -> str:
    if view.changed_since_attach is None:
        return "unreadable"
    return "yes" if view.changed_since_attach else "no"
