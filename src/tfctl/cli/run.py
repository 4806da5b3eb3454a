"""`tfctl plan | apply | destroy | refresh`: run terraform on a workspace.

A plan waits for approval; apply applies exactly an approved plan. In a terminal the plan is
shown and confirmed; without one (CI) `--auto-approve` is required, and destroy also needs
`--confirm WORKSPACE`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tfctl.cli.context import JSON_OPTION, app_context, complete_workspaces, print_json
from tfctl.cli.queueing import WaitTimeout

if TYPE_CHECKING:
    from collections.abc import Callable

    from tfctl.cli.progress import PlainObserver
    from tfctl.persistence.kinds import PlanMode
    from tfctl.runs.service import Labels, RunService
    from tfctl.runs.views import RunView

Workspace = Annotated[
    str,
    typer.Argument(
        metavar="WORKSPACE",
        help="The workspace.",
        show_default=False,
        autocompletion=complete_workspaces,
    ),
]
Json = Annotated[bool, JSON_OPTION]
AutoApprove = Annotated[
    bool, typer.Option("--auto-approve", help="Do not ask for confirmation (required in CI).")
]
ExperimentId = Annotated[
    str | None, typer.Option("--experiment-id", help="Label the run with an experiment id.")
]
TestId = Annotated[str | None, typer.Option("--test-id", help="Label the run with a test id.")]
Queue = Annotated[
    bool,
    typer.Option(
        "--queue",
        help="Only queue the run for a worker (`tfctl worker`) and print its id at once.",
    ),
]
Wait = Annotated[
    bool, typer.Option("--wait", help="With --queue: follow the queued run to its end.")
]
OverridePolicy = Annotated[
    bool,
    typer.Option(
        "--override-policy",
        help="Apply although soft_mandatory policies failed (needs --reason; recorded with "
        "you as the actor). hard_mandatory failures cannot be overridden.",
    ),
]
Confirm = Annotated[
    str | None,
    typer.Option(
        "--confirm",
        metavar="WORKSPACE",
        help="The workspace's name, typed again: needed to apply a destroy plan without a "
        "terminal (in a terminal you are asked to type it).",
    ),
]
Reason = Annotated[
    str | None, typer.Option("--reason", help="Why the policy is overridden (recorded).")
]
Reinit = Annotated[
    bool,
    typer.Option(
        "--reinit",
        help="Run `terraform init` again although nothing it depends on changed (it is "
        "otherwise skipped; a queued run re-inits where a worker executes it).",
    ),
]


@dataclass(frozen=True)
class _Command:
    """What one run command works with: the run service (with this terminal's observer),
    the labels and the policy override it was given."""

    runs: RunService
    observer: PlainObserver
    labels: Labels
    override_reason: str | None = None
    wait_timeout: float | None = None
    reinit: bool = False


def _command(
    ctx: typer.Context,
    experiment_id: str | None,
    test_id: str | None,
    override_reason: str | None = None,
    *,
    wait_timeout: float | None = None,
    reinit: bool = False,
) -> _Command:
    from tfctl.cli.progress import make_observer
    from tfctl.runs.service import RunService

    observer = make_observer()
    runs = RunService(app_context(ctx), observer=observer)
    labels = _labels(experiment_id, test_id)
    return _Command(runs, observer, labels, override_reason, wait_timeout, reinit)


def _labels(experiment_id: str | None, test_id: str | None) -> Labels:
    from tfctl.runs.service import Labels

    return Labels(experiment_id=experiment_id, test_id=test_id)


def plan(
    ctx: typer.Context,
    workspace: Workspace,
    destroy: Annotated[bool, typer.Option("--destroy", help="Plan to destroy everything.")] = False,
    refresh_only: Annotated[
        bool, typer.Option("--refresh-only", help="Plan only to update state to match reality.")
    ] = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Exit 0 when there are no changes, 2 when there are, 1 on any failure.",
        ),
    ] = False,
    as_json: Json = False,
    queue: Queue = False,
    wait: Wait = False,
    wait_timeout: WaitTimeout = None,
    experiment_id: ExperimentId = None,
    test_id: TestId = None,
    reinit: Reinit = False,
) -> None:
    """Plan a workspace; the plan then awaits approval (`tfctl apply`)."""
    from tfctl import errors
    from tfctl.persistence.kinds import PlanMode

    if destroy and refresh_only:
        raise errors.InvalidInput("--destroy and --refresh-only cannot be combined")
    mode = (
        PlanMode.DESTROY
        if destroy
        else (PlanMode.REFRESH_ONLY if refresh_only else PlanMode.NORMAL)
    )
    cmd = _command(ctx, experiment_id, test_id, wait_timeout=wait_timeout, reinit=reinit)
    if queue:
        from tfctl.cli.queueing import submit

        queued = cmd.runs.enqueue_plan(workspace, mode=mode, labels=cmd.labels, reinit=reinit)
        submit(cmd.runs, queued, wait=wait, as_json=as_json, wait_timeout=wait_timeout,
               detailed_exitcode=detailed_exitcode)  # fmt: skip
        return
    run = cmd.runs.plan(workspace, mode=mode, labels=cmd.labels, reinit=reinit)
    _report_plan(run, as_json=as_json)
    if detailed_exitcode and run.has_changes:
        app_context(ctx).has_changes = True
        raise typer.Exit(2)


def apply(
    ctx: typer.Context,
    workspace: Workspace,
    run: Annotated[
        str | None,
        typer.Option(
            "--run", help="The plan run to apply (default: the pending plan, else a new one)."
        ),
    ] = None,
    auto_approve: AutoApprove = False,
    as_json: Json = False,
    queue: Queue = False,
    wait: Wait = False,
    wait_timeout: WaitTimeout = None,
    experiment_id: ExperimentId = None,
    test_id: TestId = None,
    override_policy: OverridePolicy = False,
    reason: Reason = None,
    confirm: Confirm = None,
    reinit: Reinit = False,
) -> None:
    """Apply an approved plan exactly, and record the resulting state.

    Without --run, applies the workspace's pending plan; if there is none, plans first.
    With --queue a worker applies it (with no pending plan, --auto-approve queues a plan
    that the worker applies as soon as it is made). A plan blocked by policy is refused
    (exit 3); --override-policy --reason TEXT lets soft_mandatory failures through.
    A destroy plan is applied only with its workspace's name: typed when asked, or
    --confirm WORKSPACE without a terminal (exit 2 and nothing runs otherwise).
    """
    override_reason = _override_reason(override_policy, reason)
    _require_approval_path(auto_approve)
    cmd = _command(ctx, experiment_id, test_id, override_reason, wait_timeout=wait_timeout,
                   reinit=reinit)  # fmt: skip
    if queue:
        _queue_apply(cmd, workspace, run, auto_approve=auto_approve, wait=wait,
                     as_json=as_json, confirm=confirm)  # fmt: skip
        return
    if run is None and cmd.runs.pending_plan(workspace) is None:
        fresh = cmd.runs.plan(workspace, labels=cmd.labels, reinit=reinit)
        if not _show_plan(fresh, as_json=as_json):
            return
        run = fresh.id
        cmd = replace(cmd, reinit=False)  # the plan just initialised what the apply uses
    if not auto_approve:  # a person approves what they see; refused now if it would be
        plan_run = cmd.runs.preview(workspace, run, override_reason=override_reason)
        confirm = _approve(cmd, plan_run, auto_approve=False, confirm=confirm)
    _apply(cmd, workspace, run, as_json=as_json, confirm=confirm)


def destroy(
    ctx: typer.Context,
    workspace: Workspace,
    auto_approve: AutoApprove = False,
    confirm: Confirm = None,
    as_json: Json = False,
    queue: Queue = False,
    wait: Wait = False,
    wait_timeout: WaitTimeout = None,
    experiment_id: ExperimentId = None,
    test_id: TestId = None,
    reinit: Reinit = False,
) -> None:
    """Destroy everything a workspace manages: a destroy plan, then its apply.

    In a terminal you type the workspace's name; in CI pass --auto-approve --confirm NAME.
    """
    from tfctl import errors
    from tfctl.persistence.kinds import PlanMode

    if auto_approve and confirm != workspace:
        raise errors.InvalidInput(
            f"destroy with --auto-approve also needs --confirm {workspace} (the workspace's name)"
        )
    if not auto_approve and not _can_prompt():
        raise errors.InvalidInput(
            f"no terminal to confirm in; pass --auto-approve --confirm {workspace}"
        )
    cmd = _command(ctx, experiment_id, test_id, wait_timeout=wait_timeout, reinit=reinit)
    if queue:  # approved in advance: the worker applies the destroy plan it makes
        if not auto_approve:
            confirm = _typed_confirmation(cmd, workspace, plan_run=None)
        _queue_plan_and_apply(cmd, workspace, PlanMode.DESTROY, wait=wait, as_json=as_json,
                              confirm=confirm)  # fmt: skip
        return
    plan_run = cmd.runs.plan(workspace, mode=PlanMode.DESTROY, labels=cmd.labels, reinit=reinit)
    if not _show_plan(plan_run, as_json=as_json):
        return
    cmd = replace(cmd, reinit=False)  # the plan just initialised what the apply uses
    confirm = _approve(cmd, plan_run, auto_approve=auto_approve, confirm=confirm)
    _apply(cmd, workspace, plan_run.id, as_json=as_json, confirm=confirm, plan_run=plan_run)


def refresh(
    ctx: typer.Context,
    workspace: Workspace,
    auto_approve: AutoApprove = False,
    as_json: Json = False,
    queue: Queue = False,
    wait: Wait = False,
    wait_timeout: WaitTimeout = None,
    experiment_id: ExperimentId = None,
    test_id: TestId = None,
    reinit: Reinit = False,
) -> None:
    """Update the recorded state to match reality (a refresh-only plan, then its apply),
    reporting drift and recording a state version. With --queue, the worker applies what
    it finds only with --auto-approve; otherwise the plan waits for `tfctl apply`."""
    from tfctl.persistence.kinds import PlanMode

    cmd = _command(ctx, experiment_id, test_id, wait_timeout=wait_timeout, reinit=reinit)
    if queue:
        _queue_plan_and_apply(cmd, workspace, PlanMode.REFRESH_ONLY, wait=wait,
                              as_json=as_json, auto_apply=auto_approve)  # fmt: skip
        return
    _require_approval_path(auto_approve)
    plan_run = cmd.runs.plan(workspace, mode=PlanMode.REFRESH_ONLY, labels=cmd.labels,
                             reinit=reinit)  # fmt: skip
    if not _show_plan(plan_run, as_json=as_json):
        return
    cmd = replace(cmd, reinit=False)
    _confirm(plan_run, auto_approve=auto_approve)
    _apply(cmd, workspace, plan_run.id, as_json=as_json, plan_run=plan_run)


# --- shared steps ----------------------------------------------------------------------------


def _override_reason(override_policy: bool, reason: str | None) -> str | None:
    from tfctl import errors

    if override_policy and not (reason and reason.strip()):
        raise errors.InvalidInput(
            "--override-policy needs --reason TEXT: why the policy is overridden"
        )
    if reason is not None and not override_policy:
        raise errors.InvalidInput("--reason is only used with --override-policy")
    return reason.strip() if override_policy and reason else None


def _typed_confirmation(cmd: _Command, workspace: str, *, plan_run: RunView | None) -> str:
    """Ask for the workspace's name; a wrong answer discards the destroy plan (so no later
    routine `apply` can pick it up) and nothing is destroyed."""
    from tfctl import errors

    with _interruptible():
        typed = str(typer.prompt(f"Type the workspace name ({workspace}) to destroy it", err=True))
    if typed == workspace:
        return typed
    discarded = ""
    if plan_run is not None:
        cmd.runs.discard(plan_run.id)
        discarded = f"; destroy plan {plan_run.id} was discarded"
    raise errors.Cancelled(f"'{typed}' is not '{workspace}'; nothing was destroyed{discarded}")


def _approve(
    cmd: _Command, plan_run: RunView, *, auto_approve: bool, confirm: str | None
) -> str | None:
    """The approval of `plan_run` before it is applied: y/N in a terminal unless
    --auto-approve; for a destroy plan, the workspace's name (--confirm, else typed after
    the plan table). Returns the confirmation the apply passes on."""
    from tfctl.runs.service import require_destroy_confirmation

    if plan_run.plan_mode != "destroy":
        _confirm(plan_run, auto_approve=auto_approve)
        return confirm
    if confirm is not None or not _can_prompt():
        require_destroy_confirmation(plan_run.workspace, plan_run.id, confirm)
        return confirm
    _show_plan_table(plan_run)
    return _typed_confirmation(cmd, plan_run.workspace, plan_run=plan_run)


def _queue_apply(
    cmd: _Command,
    workspace: str,
    run_id: str | None,
    *,
    auto_approve: bool,
    wait: bool,
    as_json: bool,
    confirm: str | None,
) -> None:
    from tfctl import errors
    from tfctl.cli.queueing import submit
    from tfctl.persistence.kinds import PlanMode

    if run_id is None and cmd.runs.pending_plan(workspace) is None:
        if cmd.override_reason:  # an override is for a plan someone has looked at
            raise errors.InvalidInput(
                f"workspace '{workspace}' has no plan to review; --override-policy applies "
                f"to a reviewed plan: run `tfctl plan {workspace}` first"
            )
        if not auto_approve:
            raise errors.InvalidInput(
                f"workspace '{workspace}' has no plan to review; run `tfctl plan {workspace}` "
                "first, or pass --auto-approve to queue a plan that is applied when made"
            )
        _queue_plan_and_apply(cmd, workspace, PlanMode.NORMAL, wait=wait, as_json=as_json)
        return
    if not auto_approve:
        plan_run = cmd.runs.preview(workspace, run_id, override_reason=cmd.override_reason)
        confirm = _approve(cmd, plan_run, auto_approve=False, confirm=confirm)

    def enqueue(name: str | None) -> RunView:
        return cmd.runs.enqueue_apply(workspace, plan_run_id=run_id, confirm=name,
                                      override_reason=cmd.override_reason,
                                      labels=cmd.labels, reinit=cmd.reinit)  # fmt: skip

    queued = _with_typed_name(cmd, enqueue, confirm)
    submit(cmd.runs, queued, wait=wait, as_json=as_json, wait_timeout=cmd.wait_timeout)


def _queue_plan_and_apply(
    cmd: _Command,
    workspace: str,
    mode: PlanMode,
    *,
    wait: bool,
    as_json: bool,
    auto_apply: bool = True,
    confirm: str | None = None,
) -> None:
    from tfctl.cli.queueing import submit

    queued = cmd.runs.enqueue_plan(workspace, mode=mode, auto_apply=auto_apply, confirm=confirm,
                                   labels=cmd.labels, reinit=cmd.reinit)  # fmt: skip
    submit(cmd.runs, queued, wait=wait, as_json=as_json, wait_timeout=cmd.wait_timeout)


def _with_typed_name(
    cmd: _Command, act: Callable[[str | None], RunView], confirm: str | None
) -> RunView:
    """`act(confirm)`; when it is refused for want of a destroy plan's name and a person is
    at the terminal, show that plan, ask for the name, and act again with it."""
    from tfctl import errors

    try:
        return act(confirm)
    except errors.ConfirmationRequired as refused:
        if confirm is not None or not _can_prompt() or refused.run_id is None:
            raise
        plan_run = cmd.runs.get(refused.run_id)
        _show_plan_table(plan_run)
        return act(_typed_confirmation(cmd, plan_run.workspace, plan_run=plan_run))


def _show_plan(plan_run: RunView, *, as_json: bool) -> bool:
    """Report a fresh plan; False when there is nothing to apply."""
    if plan_run.has_changes:
        return True
    _report_plan(plan_run, as_json=as_json)
    return False


def _require_approval_path(auto_approve: bool) -> None:
    """Refuse up front, before any terraform runs, when nobody could approve the plan."""
    from tfctl import errors

    if not auto_approve and not _can_prompt():
        raise errors.InvalidInput(
            "no terminal to confirm in; review the plan (`tfctl plan`, `tfctl runs show`) "
            "and pass --auto-approve"
        )


def _confirm(plan_run: RunView, *, auto_approve: bool) -> None:
    from tfctl import errors

    if auto_approve:
        return
    _show_plan_table(plan_run)
    with _interruptible():
        approved = typer.confirm(f"Apply plan {plan_run.id} to {plan_run.workspace}?", err=True)
    if not approved:
        raise errors.Cancelled(f"not applied; plan {plan_run.id} still awaits approval")


def _show_plan_table(plan_run: RunView) -> None:
    """The plan table and its policy results on stderr, before a confirmation prompt."""
    from tfctl.cli.context import stderr_console
    from tfctl.cli.progress import print_summary

    print_summary(stderr_console(), plan_run.summary)
    _print_policy(plan_run.policy_results, err=True)


def _apply(
    cmd: _Command,
    workspace: str,
    plan_run_id: str | None,
    *,
    as_json: bool,
    confirm: str | None = None,
    plan_run: RunView | None = None,
) -> None:
    """Apply the plan (the pending one when `plan_run_id` is None) in this process: the
    service checks, in the transaction that opens the apply, that it may be applied."""
    counts = (plan_run.summary if plan_run else None) or {}
    cmd.observer.expect(
        sum(counts.get(k, 0) for k in ("add", "change", "destroy")) + 2 * counts.get("replace", 0)
    )

    def apply_it(name: str | None) -> RunView:
        return cmd.runs.apply(workspace, plan_run_id=plan_run_id, confirm=name,
                              override_reason=cmd.override_reason, labels=cmd.labels,
                              reinit=cmd.reinit)  # fmt: skip

    applied = _with_typed_name(cmd, apply_it, confirm)
    if as_json:
        print_json(applied.to_dict())
        return
    destroyed = applied.action == "destroy" and applied.status == "applied"
    outcome = "destroyed" if destroyed else applied.status
    plan_word = "plan" if applied.action == "apply" else f"{applied.action} plan"
    print(f"{applied.workspace}: {outcome} ({applied.action} run {applied.id}, "
          f"{plan_word} {applied.parent_run_id})")  # fmt: skip
    _print_policy(applied.policy_results)


def _report_plan(run: RunView, *, as_json: bool) -> None:
    from tfctl.cli.context import stdout_console
    from tfctl.cli.progress import print_summary

    if as_json:
        print_json(run.to_dict())
        return
    if not run.has_changes:
        print(f"{run.workspace}: no changes (run {run.id})")
        _print_policy(run.policy_results)
        return
    print_summary(stdout_console(), run.summary)
    _print_policy(run.policy_results)
    print(
        f"{run.workspace}: plan {run.id} awaits approval; `tfctl apply {run.workspace}` applies it"
    )


def _print_policy(results: dict[str, Any] | None, *, err: bool = False) -> None:
    from tfctl.cli.policy import print_results

    print_results(results, err=err)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C (or end of input) at a prompt is an interruption, exit 4 like anywhere else;
    click would turn it into "Aborted!" and exit 1."""
    try:
        yield
    except typer.Abort:
        raise KeyboardInterrupt from None


def _can_prompt() -> bool:
    from tfctl.cli.progress import interactive

    return sys.stdin.isatty() and interactive()
