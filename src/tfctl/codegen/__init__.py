"""Code generation: the Terraform configuration a run uses (DESIGN.md "Code generation").

`render_workspace` writes a stack's configuration; `render_backend` is the one wrapper for
backend blocks; `hcl_string` is the one way a string enters HCL; `scan_module` reads what a
local module declares. Importing this package is cheap: jinja2 loads on the first render.
"""

from __future__ import annotations

from tfctl.codegen.hcl import (
    ModuleInterface,
    ModuleOutput,
    ModuleVariable,
    hcl_identifier,
    hcl_string,
    scan_module,
)
from tfctl.codegen.render import RenderResult, render_workspace
from tfctl.codegen.wrapper import render_backend

__all__ = [
    "ModuleInterface",
    "ModuleOutput",
    "ModuleVariable",
    "RenderResult",
    "hcl_identifier",
    "hcl_string",
    "render_backend",
    "render_workspace",
    "scan_module",
]
