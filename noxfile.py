"""Sessions: `nox` runs tests, lint and typecheck; `nox -s chaos` injects faults; `nox -s bench`
measures."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_missing_interpreters = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite against a real (non-editable) install: unit, integration on SQLite and
    on a throwaway PostgreSQL server, and the installed `tfctl` command end to end."""
    session.install(".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def chaos(session: nox.Session) -> None:
    """The chaos suite (tests/chaos, as root): PostgreSQL stopped for 3 s and for longer than
    the lease mid-apply, a worker killed with SIGKILL, a worker's host cut off from the store
    (network namespaces), the disk holding TFCTL_HOME full, 4 workers x 50 runs with random
    kills. `nox -s chaos -- -k stopped_for_3s` runs one scenario (what CI runs)."""
    session.install(".[test]")
    session.run("pytest", "tests/chaos", "--chaos", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: figures against baselines measured in the same run; writes
    bench/results.md. Never fails on a timing. `nox -s bench -- startup runs` runs a subset."""
    session.install(".[test]")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "bench", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install(".[test]", "mypy>=1.11", "types-PyYAML")
    session.run("mypy")
