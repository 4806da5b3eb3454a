"""One router per resource: stacks, workspaces, state, runs (with their streams), halt."""
