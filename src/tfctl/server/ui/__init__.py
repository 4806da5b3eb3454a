"""The web UI: page routes, templates and the small hand-written script."""
