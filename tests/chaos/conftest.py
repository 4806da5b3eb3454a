"""The chaos suite runs only when asked: `nox -s chaos`, or `pytest tests/chaos --chaos` as
root (it starts its own PostgreSQL servers, network namespaces and tmpfs mounts). The default
`pytest` run skips it."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    # registered only when tests/chaos is named on the command line (an initial conftest)
    parser.addoption("--chaos", action="store_true", help="run the chaos suite (tests/chaos)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a fault-injection scenario (tests/chaos)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    ours = [item for item in items if str(item.path).startswith(here + os.sep)]
    if not config.getoption("--chaos", default=False):
        skip = pytest.mark.skip(reason="the chaos suite runs with --chaos (nox -s chaos)")
    elif os.geteuid() != 0:
        skip = pytest.mark.skip(reason="the chaos suite needs root (netns, mount, postgres)")
    else:
        for item in ours:
            item.add_marker(pytest.mark.chaos)
        return
    for item in ours:
        item.add_marker(skip)
