"""MCP tools over the run service: `tfctl mcp` (stdio) and serve's `/mcp` (streamable HTTP).

`tools.py` holds what each tool does, in plain Python over the run service and the stack,
workspace and state functions the CLI's `--json` uses; `server.py` registers them with the
official `mcp` SDK (names, descriptions, annotations, errors as tool errors); `http.py`
mounts them in the FastAPI app behind the app's bearer tokens. Importing this package
imports no SDK: only `tfctl mcp` and `tfctl serve` load it.
"""
