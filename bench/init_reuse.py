"""Init reuse (`python bench/run.py init`): what a plan pays for `terraform init` with a
provider package of realistic size, every run (before) and reused (tfctl now, runs/workdir.py).

A generated provider, `example.com/test/fake` 1.0.0: a zip of PROVIDER_MB of random bytes
(stored, as incompressible as a real provider's compressed zip) in a local
`filesystem_mirror` named by the CLI configuration. `terraform init` installs it as it would
a real one: it reads and hashes the zip, extracts it into the data directory and hashes the
extracted package for the lock file. It never starts it (checked below), so the package need
not be a working plugin. `terraform plan` does start every provider the configuration
requires, to read its schema, and fails on this one ("Failed to load plugin schemas"). So
tfctl's plans are measured from the run's start up to the moment terraform plan would
start (render, init hash, init or not): the observer stops the run there as a cancel, which
keeps the initialised directory for the next run. Everything after that point is the same
with and without reuse. A second figure times complete plans of a provider-less
configuration (100 `terraform_data`), reuse against `--reinit`, where init costs ~0.05 s.

Baseline: `terraform init` per run in a fresh directory (what every tfctl plan did before).
Repetitions alternate raw init, a reused plan and a `--reinit` plan; medians with min-max.
The generated files (the zip, the extracted copies) are removed at the end.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

PROVIDER_MB = 250
SOURCE = "example.com/test/fake"
REPEATS = 3


def init_reuse(work: Path, repeats: int = REPEATS) -> None:
    bench = _bench()
    try:
        rc = _mirror(work / "mirror")
        module = _fake_module(work / "fake-module")
        starts = _plan_starts_the_provider(work / "check", module, rc, bench)
        times: dict[str, list[float]] = {"raw": [], "reuse": [], "reinit": []}
        with _tfctl(work / "tfctl", rc, "fake", module, {}) as plan:
            plan(reinit=False)  # the first run initialises (page cache warm from the check)
            for rep in range(repeats):
                times["raw"].append(_raw_init(work / f"raw{rep}", module, rc, bench))
                times["reuse"].append(plan(reinit=False))
                times["reinit"].append(plan(reinit=True))
        raw = statistics.median(times["raw"])
        note = (f"median of {repeats}: {_spread(times['reuse'])}; raw {_spread(times['raw'])}; "
                f"{PROVIDER_MB} MB provider in a filesystem_mirror; {starts}")  # fmt: skip
        _record(bench, f"init reuse: tfctl plan until terraform plan, {PROVIDER_MB} MB provider, "
                "2nd+ plan", times["reuse"], raw, note)  # fmt: skip
        _record(bench, f"init every run: tfctl plan --reinit until terraform plan, "
                f"{PROVIDER_MB} MB provider", times["reinit"], raw,
                f"median of {repeats}: {_spread(times['reinit'])}")  # fmt: skip
        _complete_plans(work / "plans", bench, repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # hundreds of MB of generated files


def _complete_plans(work: Path, bench: ModuleType, repeats: int) -> None:
    """Whole `tfctl plan` runs (summary, plan file shared) of 100 `terraform_data`: reuse
    against --reinit, where init has nothing to install."""
    rc = work / "empty.tfrc"
    work.mkdir(parents=True)
    rc.write_text("")
    module = bench.module(work / "module")
    times: dict[str, list[float]] = {"reuse": [], "reinit": []}
    with _tfctl(work / "tfctl", rc, "plans", module, {"n": 100}, stop=False) as plan:
        plan(reinit=False)
        for _ in range(repeats):
            times["reuse"].append(plan(reinit=False))
            times["reinit"].append(plan(reinit=True))
    _record(bench, "init reuse: complete tfctl plan, 100 terraform_data, 2nd+ plan",
            times["reuse"], statistics.median(times["reinit"]),
            f"baseline: the same with --reinit; median of {repeats}: "
            f"{_spread(times['reuse'])}; --reinit {_spread(times['reinit'])}",
            baseline="tfctl plan --reinit")  # fmt: skip


# --- the generated provider and configuration --------------------------------------------


def _mirror(root: Path) -> Path:
    """A filesystem mirror holding the fake provider, and a CLI configuration using it."""
    package = root / "example.com" / "test" / "fake"
    package.mkdir(parents=True)
    target = package / "terraform-provider-fake_1.0.0_linux_amd64.zip"
    with (
        zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive,
        archive.open("terraform-provider-fake_v1.0.0", "w", force_zip64=True) as binary,
    ):
        for _ in range(PROVIDER_MB):
            binary.write(os.urandom(1 << 20))
    rc = root.parent / "mirror.tfrc"
    rc.write_text(
        "provider_installation {\n  filesystem_mirror {\n"
        f'    path    = "{root}"\n    include = ["example.com/*/*"]\n  }}\n'
        '  direct {\n    exclude = ["example.com/*/*"]\n  }\n}\n'
    )
    return rc


def _fake_module(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "main.tf").write_text(
        "terraform {\n  required_providers {\n"
        f'    fake = {{ source = "{SOURCE}" }}\n  }}\n}}\n\n'
        'resource "terraform_data" "r" {\n  input = "value"\n}\n'
    )
    return path


def _root(path: Path, module: Path) -> Path:
    path.mkdir(parents=True)
    (path / "main.tf").write_text(f'module "m" {{\n  source = "{module}"\n}}\n')
    return path


def _env(bench: ModuleType, home: Path, rc: Path) -> dict[str, str]:
    env: dict[str, str] = bench.base_env(home)
    env["TF_CLI_CONFIG_FILE"] = str(rc)
    return env


def _raw_init(root: Path, module: Path, rc: Path, bench: ModuleType) -> float:
    """`terraform init` in a fresh directory, timed; the directory removed afterwards."""
    _root(root, module)
    try:
        return float(bench.run(["terraform", "init", "-input=false", "-no-color"],
                               _env(bench, root.parent / "raw-home", rc), cwd=root))  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _plan_starts_the_provider(root: Path, module: Path, rc: Path, bench: ModuleType) -> str:
    """Check the premise: init installs the package without starting it; plan starts it."""
    _root(root, module)
    env = _env(bench, root.parent / "check-home", rc)
    try:
        init = subprocess.run(["terraform", "init", "-input=false", "-no-color"], cwd=root,
                              env=env, capture_output=True, text=True)  # fmt: skip
        if init.returncode != 0:
            raise RuntimeError(f"terraform init of the fake provider failed: {init.stderr}")
        plan = subprocess.run(["terraform", "plan", "-input=false", "-no-color"], cwd=root,
                              env=env, capture_output=True, text=True)  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if plan.returncode == 0:
        return "init installed the package; terraform plan ran too"
    errors = [line for line in plan.stderr.splitlines() if line.startswith("Error:")]
    return f"init installed it without starting it; terraform plan starts it ({errors[0]})"


# --- tfctl, in this process --------------------------------------------------------------


class _Stopwatch:
    """A run observer: the time from the run's start to terraform plan's start; with
    `stop`, the run is stopped there as a cancel (which keeps the initialised directory)."""

    def __init__(self, *, stop: bool) -> None:
        self.stop = stop
        self.started_at = self.until_plan = 0.0

    def started(self, run: Any) -> None:
        self.started_at = time.perf_counter()

    def phase(self, name: str) -> None:
        if name == "plan":
            self.until_plan = time.perf_counter() - self.started_at
            if self.stop:
                from tfctl import errors

                raise errors.Cancelled("bench: stopped before terraform plan")

    def line(self, stream: str, text: str) -> None:
        pass

    def finished(self, run: Any) -> None:
        pass


@contextlib.contextmanager
def _tfctl(
    home: Path, rc: Path, name: str, module: Path, variables: dict[str, Any], *, stop: bool = True
) -> Iterator[Any]:
    """`plan(reinit=...)` → seconds: a tfctl plan of a workspace `name` of a generic stack
    calling `module`, run in this process (its imports paid once, as a worker's are), on an
    embedded store in `home`. With `stop`: up to terraform plan; else the whole plan."""
    from tfctl import errors
    from tfctl.context import AppContext
    from tfctl.persistence.db import Store
    from tfctl.runs.service import RunService
    from tfctl.settings import Settings
    from tfctl.stacks import push_spec_file
    from tfctl.workspaces import create_workspace

    home.mkdir(parents=True)
    spec = home.parent / f"{name}.json"
    spec.write_text(json.dumps({"name": name, "kind": "generic", "module_source": str(module),
                                "variables": variables}))  # fmt: skip
    with _environment(TFCTL_HOME=str(home), TFCTL_TERRAFORM_CLI_CONFIG_FILE=str(rc),
                      CHECKPOINT_DISABLE="1"):  # fmt: skip
        store = Store.open(f"sqlite:///{home / 'tfctl.db'}", auto_upgrade=True)
        push_spec_file(store, spec, author="bench")
        create_workspace(store, name, stack=name, backend="local", backend_config={}, variables={})
        clock = _Stopwatch(stop=stop)
        service = RunService(AppContext(settings=Settings(), store=store), observer=clock)

        def plan(*, reinit: bool) -> float:
            started = time.perf_counter()
            try:
                service.plan(name, reinit=reinit)
            except errors.Cancelled:
                return clock.until_plan
            return time.perf_counter() - started

        try:
            yield plan
        finally:
            store.engine.dispose()


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- reporting ---------------------------------------------------------------------------


def _record(
    bench: ModuleType,
    name: str,
    values: list[float],
    baseline_value: float,
    note: str,
    *,
    baseline: str = "terraform init per run",
) -> None:
    value = statistics.median(values)
    bench.record(bench.Figure(name, value, "s", baseline, baseline_value, "-", None, note=note))


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f}-{max(values):.3f} s"


def _bench() -> ModuleType:
    """bench/run.py as it runs: a script, so `__main__` (importing `run` again would give
    a second FIGURES list that results.md never sees)."""
    main = sys.modules["__main__"]
    return main if hasattr(main, "record") else importlib.import_module("run")
