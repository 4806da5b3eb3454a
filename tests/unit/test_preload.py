"""The modules a run preloads while terraform plans exist (a renamed module would silently
put its import back on the run's path)."""

from __future__ import annotations

import importlib

from tfctl.runs import preload


def test_every_preloaded_module_imports() -> None:
    for name in preload.MODULES:
        assert importlib.import_module(name).__name__ == name
