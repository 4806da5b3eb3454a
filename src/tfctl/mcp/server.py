"""The MCP server: the tools of `tools.py` registered with the official SDK.

Each tool has a description that says what it does and what to pass, JSON-schema'd
arguments (the SDK answers arguments that do not fit with a tool error naming them), and
annotations: read-only tools say so; the tools that apply, discard, cancel, plan a destroy or
halt say they are destructive. Those are registered only with operations enabled
(TFCTL_MCP_ENABLE_OPERATIONS=1); a policy override is never offered. A tfctl error becomes a
tool error with the message the CLI would print, so the server never crashes on a bad call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from tfctl import __version__, errors
from tfctl.mcp.tools import Caller, Tools
from tfctl.persistence.kinds import PlanMode

# Names the SDK resolves in the tools' annotations (typing.get_type_hints on this module).
Ctx = Context[Any, Any]
RunId = Annotated[
    str, Field(min_length=1, description="A run id (`run-...`) or a unique abbreviation of it")
]
WorkspaceName = Annotated[str, Field(min_length=1, description="The workspace's name")]
Label = Annotated[str | None, Field(max_length=255, description="Optional label on the run")]
Statuses = Annotated[list[str] | None, Field(description="Only runs in these statuses")]
PlanKind = Annotated[Literal["plan", "refresh-only"], Field(description="What to plan")]
Reinit = Annotated[
    bool, Field(description="Run terraform init again although nothing it depends on changed")
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
#: Who calls: `mcp:<client>` over stdio, the token over HTTP.
CallerOf = Callable[[Ctx], Caller]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)  # fmt: skip
QUEUES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                         open_world_hint=False)  # fmt: skip
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True,
                              idempotent_hint=False, open_world_hint=False)  # fmt: skip
CHANGES_INFRASTRUCTURE = ToolAnnotations(read_only_hint=False, destructive_hint=True,
                                         idempotent_hint=False, open_world_hint=True)  # fmt: skip

READ_TOOLS = ("list_stacks", "get_stack", "list_workspaces", "get_workspace", "list_runs",
              "get_run", "get_run_logs", "get_state_outputs", "get_drift_status",
              "create_plan")  # fmt: skip
OPERATION_TOOLS = ("apply_run", "discard_run", "cancel_run", "create_destroy_plan", "halt")

INSTRUCTIONS = """\
tfctl is a Terraform control plane: stacks (versioned specs), workspaces (a stack with
variables and a backend) and runs (plan, then apply of exactly that approved plan).
Look with list_workspaces, get_workspace, list_runs, get_run, get_run_logs and
get_state_outputs. Propose a change with create_plan: it is queued for the workers; poll
get_run until its status is awaiting_approval (it has changes, shown in `summary`) or
no_changes, and read its log with get_run_logs. Applying, discarding, cancelling, destroy
plans and halt are offered only when the operator enabled them
(TFCTL_MCP_ENABLE_OPERATIONS=1); otherwise a person applies the plan with
`tfctl apply WORKSPACE --run RUN_ID`."""


def build_server(ctx: Any, *, operations: bool, caller_of: CallerOf) -> MCPServer[Any]:
    """The tfctl MCP server over the application context `ctx` (an `AppContext`)."""
    tools = Tools(ctx)
    with _logging_left_alone():
        server: MCPServer[Any] = MCPServer("tfctl", version=__version__,
                                           instructions=INSTRUCTIONS)  # fmt: skip
    _reading_tools(server, tools)
    _plan_tool(server, tools, caller_of)
    if operations:
        _operation_tools(server, tools, caller_of)
    return server


@contextmanager
def _logging_left_alone() -> Iterator[None]:
    """The SDK configures the root logger (a Rich handler, its level) when nothing has;
    `tfctl serve` and `tfctl mcp` keep the logging they had."""
    root, placeholder = logging.getLogger(), logging.NullHandler()
    root.addHandler(placeholder)
    try:
        yield
    finally:
        root.removeHandler(placeholder)


def _tool(server: MCPServer[Any], annotations: ToolAnnotations) -> Callable[[F], F]:
    """Register the decorated function as a tool; its docstring, as one line, is the
    description an agent reads."""

    def register(fn: F) -> F:
        description = " ".join((fn.__doc__ or "").split())
        server.add_tool(fn, description=description, annotations=annotations)
        return fn

    return register


def answer(call: Callable[[], T]) -> T:
    """Run a tool body; a tfctl error becomes a tool error with its message."""
    try:
        return call()
    except errors.TfctlError as exc:
        raise ToolError(exc.message) from exc


def _reading_tools(server: MCPServer[Any], tools: Tools) -> None:
    @_tool(server, READ_ONLY)
    def list_stacks() -> dict[str, Any]:
        """List every stack (a versioned infrastructure spec) with its latest version: name,
        kind, version, hash, updated_at."""
        return answer(tools.list_stacks)

    @_tool(server, READ_ONLY)
    def get_stack(
        name: Annotated[str, Field(min_length=1, description="The stack's name")],
        version: Annotated[int | None, Field(ge=1, description="A version number")] = None,
    ) -> dict[str, Any]:
        """Show one version of a stack with its spec: name, kind, version, hash, created_at,
        author, source, spec. `version` defaults to the latest."""
        return answer(lambda: tools.get_stack(name, version))

    @_tool(server, READ_ONLY)
    def list_workspaces() -> dict[str, Any]:
        """List every workspace: name, stack, backend, backend_config, variables,
        locked_by_run_id (the run holding it), created_at."""
        return answer(tools.list_workspaces)

    @_tool(server, READ_ONLY)
    def get_workspace(name: WorkspaceName) -> dict[str, Any]:
        """Show a workspace with its latest run (`latest_run`) and current state
        (`current_state`: serial, resources, outputs with sensitive values redacted; null
        before the first apply)."""
        return answer(lambda: tools.get_workspace(name))

    @_tool(server, READ_ONLY)
    def list_runs(
        workspace: Annotated[str | None, Field(description="Only this workspace's runs")] = None,
        status: Statuses = None,
        limit: Annotated[int, Field(ge=1, le=200, description="At most this many")] = 20,
    ) -> dict[str, Any]:
        """List runs, newest first, optionally of one workspace and in some statuses (queued,
        running, awaiting_approval, no_changes, applied, errored, cancelled, discarded,
        superseded). A queued run says in `waiting_for` what it waits for."""
        return answer(lambda: tools.list_runs(workspace, status, limit))

    @_tool(server, READ_ONLY)
    def get_run(run_id: RunId) -> dict[str, Any]:
        """Show a run: status, operation (plan|apply), action (plan, destroy-plan,
        refresh-plan, apply, destroy, refresh), summary (the plan's changes), plan_sha256
        (what apply_run needs), policy_results, message, actor, times. Poll it until the
        status stops changing."""
        return answer(lambda: tools.get_run(run_id))

    @_tool(server, READ_ONLY)
    def get_run_logs(
        run_id: RunId,
        after: Annotated[int, Field(ge=0, description="Read lines after this sequence number")] = 0,
        limit: Annotated[int, Field(ge=1, le=1000, description="At most this many lines")] = 200,
    ) -> dict[str, Any]:  # fmt: skip
        """Read a run's terraform log (secrets scrubbed): at most `limit` lines after
        sequence number `after`. Pass the answer's `next` as `after` to read on; `finished`
        true means the run is done and no line will follow."""
        return answer(lambda: tools.get_run_logs(run_id, after, limit))

    @_tool(server, READ_ONLY)
    def get_state_outputs(workspace: WorkspaceName) -> dict[str, Any]:
        """The outputs of a workspace's newest state version (sensitive values redacted),
        with its serial and the run that wrote it."""
        return answer(lambda: tools.get_state_outputs(workspace))

    @_tool(server, READ_ONLY)
    def get_drift_status(workspace: WorkspaceName | None = None) -> dict[str, Any]:
        """Drift: each workspace's latest drift assessment (or one workspace's): result
        in_sync, drifted, failed or not_assessed, when, the assessment run, and what differs
        (resources changed outside tfctl; resources the current spec would change)."""
        return answer(lambda: tools.get_drift_status(workspace))


def _plan_tool(server: MCPServer[Any], tools: Tools, caller_of: CallerOf) -> None:
    @_tool(server, QUEUES)
    def create_plan(
        ctx: Ctx,
        workspace: WorkspaceName,
        mode: PlanKind = "plan",
        experiment_id: Label = None,
        test_id: Label = None,
        reinit: Reinit = False,
    ) -> dict[str, Any]:
        """Queue a plan of a workspace against its stack's latest version and return the
        queued run at once (status queued; `note` says whether a worker is alive to execute
        it). mode `plan` proposes changes; `refresh-only` only compares the state with the
        real infrastructure. Nothing changes until the plan is applied. Poll get_run: it
        ends awaiting_approval (see `summary`, `plan_sha256`) or no_changes (or errored)."""
        caller = caller_of(ctx)
        plan_mode = PlanMode.REFRESH_ONLY if mode == "refresh-only" else PlanMode.NORMAL
        return answer(lambda: tools.create_plan(caller, workspace, plan_mode, experiment_id,
                                                test_id, reinit=reinit))  # fmt: skip


def _operation_tools(server: MCPServer[Any], tools: Tools, caller_of: CallerOf) -> None:
    @_tool(server, CHANGES_INFRASTRUCTURE)
    def apply_run(
        ctx: Ctx,
        run_id: RunId,
        plan_sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$",
                                          description="The plan's plan_sha256 from get_run")],
        confirm: Annotated[str | None, Field(
            description="For a destroy plan only: the workspace's name")] = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Queue the apply of a plan that awaits approval: terraform changes the real
        infrastructure as the plan says. Pass the plan's `run_id` and its `plan_sha256` from
        get_run (so exactly the plan you reviewed is applied). A destroy plan (action
        destroy-plan) also needs `confirm` = the workspace's name. Refused when the plan is
        not awaiting approval or a policy blocks it (a policy is never overridden here).
        Returns the queued apply run; poll get_run until it is applied or errored."""
        caller = caller_of(ctx)
        return answer(lambda: tools.apply_run(caller, run_id, plan_sha256, confirm))

    @_tool(server, DESTRUCTIVE)
    def discard_run(ctx: Ctx, run_id: RunId) -> dict[str, Any]:
        """Discard a plan that awaits approval: it can never be applied afterwards. Returns
        the run."""
        caller = caller_of(ctx)
        return answer(lambda: tools.discard_run(caller, run_id))

    @_tool(server, DESTRUCTIVE)
    def cancel_run(ctx: Ctx, run_id: RunId) -> dict[str, Any]:
        """Cancel a queued, running or awaiting run. A running terraform is interrupted
        gracefully (its state is kept and recorded). Returns the run."""
        caller = caller_of(ctx)
        return answer(lambda: tools.cancel_run(caller, run_id))

    @_tool(server, DESTRUCTIVE)
    def create_destroy_plan(
        ctx: Ctx, workspace: WorkspaceName, experiment_id: Label = None, test_id: Label = None
    ) -> dict[str, Any]:
        """Queue a destroy plan of a workspace: a plan that removes everything the workspace
        manages. Nothing is destroyed until it is applied with apply_run, which then needs
        `confirm` = the workspace's name."""
        caller = caller_of(ctx)
        return answer(lambda: tools.create_plan(caller, workspace, PlanMode.DESTROY,
                                                experiment_id, test_id))  # fmt: skip

    @_tool(server, DESTRUCTIVE)
    def halt(
        ctx: Ctx,
        reason: Annotated[str, Field(min_length=1, max_length=2000,
                                     description="Why: recorded on each halted run")],
        workspace: Annotated[str | None, Field(
            description="Only this workspace's runs (default: every workspace)")] = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The kill switch: cancel every queued, running and awaiting run (of one workspace,
        or of all), marked halted; running terraform is interrupted gracefully. Pass the
        reason, which is recorded on every run."""
        caller = caller_of(ctx)
        return answer(lambda: tools.halt(caller, reason, workspace))


# --- stdio: `tfctl mcp` ------------------------------------------------------------------------


def client_caller(ctx: Ctx) -> Caller:
    """Over stdio the local user runs the server for one client: the actor is `mcp:` and the
    name the client gave when it connected."""
    params = ctx.session.client_params
    name = params.client_info.name if params is not None and params.client_info else ""
    name = "-".join(str(name).split())[:64] or "client"
    return Caller(f"mcp:{name}")


def run_stdio(ctx: Any) -> None:
    """Serve the tools over stdin/stdout until the client closes them. The store is opened
    first, so a bad store or setting ends the server at once with one clear line."""
    import anyio

    _ = ctx.store
    server = build_server(ctx, operations=ctx.settings.mcp_enable_operations,
                          caller_of=client_caller)  # fmt: skip
    anyio.run(server.run_stdio_async)
