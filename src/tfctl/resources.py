"""Files that ship with tfctl: Jinja2 templates, operator modules and the bundled examples.

In an installed wheel they live inside the package (`tfctl/templates`, ...); in a source
checkout they are the top-level `templates/`, `modules/` and `examples/` folders.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent.parent


def _shipped(name: str) -> Path:
    installed = _PACKAGE / name
    if installed.is_dir():
        return installed
    return _CHECKOUT / name


def templates_dir() -> Path:
    """The Jinja2 templates (`*.tf.j2`)."""
    return _shipped("templates")


def modules_dir() -> Path:
    """Operator-authored Terraform modules, referenced as `module_source`."""
    return _shipped("modules")


def examples_dir() -> Path:
    """Example specs and modules, e.g. `examples/hello`."""
    return _shipped("examples")
