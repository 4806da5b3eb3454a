"""`tfctl mcp`: tfctl's MCP tools over stdio, for AI agents and any MCP client."""

from __future__ import annotations

import typer

from tfctl.cli.context import app_context


def mcp(ctx: typer.Context) -> None:
    """Serve tfctl's MCP tools over stdin/stdout (the Model Context Protocol).

    An MCP client (an AI agent's host, e.g. Claude Desktop) starts this command and talks to
    it. The tools read stacks, workspaces, runs, logs and state outputs, and queue plans for
    the workers; runs record the actor `mcp:<client name>`. Applying, discarding, cancelling,
    destroy plans and halt are offered only with TFCTL_MCP_ENABLE_OPERATIONS=1; a policy
    override never is. Nothing but the protocol is written to stdout.
    """
    try:
        from tfctl.mcp.server import run_stdio
    except ModuleNotFoundError as exc:  # the mcp extra is not installed
        from tfctl import errors

        raise errors.InvalidInput(
            f"tfctl mcp needs the mcp extra ({exc.name} is missing): pip install 'tfctl[mcp]'"
        ) from exc

    run_stdio(app_context(ctx))
