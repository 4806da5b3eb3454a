"""tfctl benchmarks (`nox -s bench`): each figure against a baseline measured in the same run.

Measurements, not tests: nothing here fails on a timing. The table is printed and written
to bench/results.md with the machine named. Run a subset with `nox -s bench -- startup runs`.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from init_reuse import init_reuse
from large_store import large_store

if TYPE_CHECKING:
    from tfctl.persistence.db import Store

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))  # the throwaway PostgreSQL server of the tests


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    target: str
    met: bool | None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("nan")


FIGURES: list[Figure] = []


def record(figure: Figure) -> None:
    FIGURES.append(figure)
    mark = {True: "met", False: "MISSED", None: "-"}[figure.met]
    print(f"  {figure.name}: {figure.value:.4g} {figure.unit} vs {figure.baseline} "
          f"{figure.baseline_value:.4g} ({figure.ratio:.2f}x) target {figure.target}: {mark}",
          flush=True)  # fmt: skip


# --- helpers -----------------------------------------------------------------------------


def tfctl_bin() -> str:
    found = Path(sys.executable).parent / "tfctl"
    return str(found) if found.exists() else "tfctl"


def base_env(home: Path, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    rc = home.parent / "empty.tfrc"
    rc.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TFCTL_", "TF_"))}
    env.update(TFCTL_HOME=str(home), TF_CLI_CONFIG_FILE=str(rc), CHECKPOINT_DISABLE="1",
               CI="true", **extra)  # fmt: skip
    return env


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def median_of(argv: list[str], env: dict[str, str], n: int = 7) -> float:
    run(argv, env)  # warm the page cache and .pyc files
    return statistics.median(run(argv, env) for _ in range(n))


def module(path: Path, *, count_var: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "main.tf").write_text(
        'variable "n" {\n  type = number\n}\n\nvariable "generation" {\n  type    = string\n'
        '  default = "1"\n}\n\nresource "terraform_data" "r" {\n  count            = var.n\n'
        '  input            = "value-${count.index}"\n  triggers_replace = var.generation\n}\n'
    )
    return path


def tfctl_stack(home: Path, env: dict[str, str], mod: Path, name: str, n: int) -> None:
    spec = home.parent / f"{name}.json"
    spec.write_text(json.dumps({"name": name, "kind": "generic", "module_source": str(mod),
                                "variables": {"n": n}}))  # fmt: skip
    tf = tfctl_bin()
    run([tf, "init"], env)
    run([tf, "stack", "push", str(spec)], env)
    run([tf, "workspace", "create", name, "--stack", name], env)


# --- figures -----------------------------------------------------------------------------


def startup(work: Path) -> None:
    env = base_env(work / "home")
    terraform = median_of(["terraform", "version"], env)
    python = median_of([sys.executable, "-c", "pass"], env)
    for args in (["--help"], ["--version"]):
        value = median_of([tfctl_bin(), *args], env)
        record(Figure(f"tfctl {args[0]}", value, "s", "terraform version", terraform,
                      "<= 3x", value <= 3 * terraform,
                      note=f"python -c pass: {python:.3f} s"))  # fmt: skip


def plan_apply(work: Path, repeats: int = 3) -> None:
    """Two user paths: `tfctl plan` then `tfctl apply --auto-approve` (review in between, two
    processes), and `tfctl apply --auto-approve` alone (plans and applies in one process,
    like `terraform apply -auto-approve`). Both do what the raw baseline does and more:
    the run records, logs, summary, policy check and state version. Raw, two-command and
    one-command runs alternate `repeats` times from scratch and the medians are compared,
    because a 1,000-resource apply alone varies by seconds from run to run on a small VM."""
    tf = tfctl_bin()
    for n in (1, 100, 1000):
        target = {1000: 1.05, 100: 1.5}.get(n)
        mod = module(work / f"pa{n}" / "module")
        times: dict[str, list[float]] = {"raw": [], "two commands": [], "one command": []}
        for rep in range(repeats):
            root = work / f"pa{n}" / f"rep{rep}"
            times["raw"].append(raw_plan_apply(root / "raw", mod, n, base_env(root / "rh")))
            for form in ("two commands", "one command"):
                home = root / form.replace(" ", "-") / "home"
                env = base_env(home)
                tfctl_stack(home, env, mod, f"pa{n}", n)
                if form == "two commands":
                    ours = run([tf, "plan", f"pa{n}"], env)
                    ours += run([tf, "apply", f"pa{n}", "--auto-approve"], env)
                else:
                    ours = run([tf, "apply", f"pa{n}", "--auto-approve"], env)
                times[form].append(ours)
        raw = statistics.median(times["raw"])
        for form in ("two commands", "one command"):
            ours = statistics.median(times[form])
            spread = f"{min(times[form]):.2f}-{max(times[form]):.2f} s"
            note = f"median of {repeats}: {spread}; raw {min(times['raw']):.2f}-{max(times['raw']):.2f} s"
            record(Figure(f"plan+apply N={n}, {form}", ours, "s", "raw terraform", raw,
                          f"<= {target}x" if target else "-",
                          None if target is None else ours <= target * raw, note=note))  # fmt: skip


def raw_plan_apply(root: Path, mod: Path, n: int, env: dict[str, str]) -> float:
    root.mkdir(parents=True)
    (root / "main.tf").write_text(f'module "m" {{\n  source = "{mod}"\n  n      = {n}\n}}\n')
    steps = [
        ["terraform", "init", "-input=false", "-no-color"],
        ["terraform", "plan", "-input=false", "-no-color", "-out", "tfplan"],
        ["sh", "-c", "terraform show -json tfplan > plan.json"],
        ["terraform", "apply", "-input=false", "-no-color", "tfplan"],
    ]
    return sum(run(step, env, cwd=root) for step in steps)


def summary(work: Path) -> None:
    import tracemalloc

    from tfctl.terraform.summary import read_plan

    root = work / "summary"
    env = base_env(work / "home")
    mod = module(root / "module")
    raw_plan_apply(root / "raw", mod, 1000, env)
    raw = root / "raw"
    (raw / "main.tf").write_text(
        f'module "m" {{\n  source     = "{mod}"\n  n          = 1000\n  generation = "2"\n}}\n'
    )
    run(["terraform", "plan", "-input=false", "-no-color", "-out", "replace"], env, cwd=raw)
    started = time.perf_counter()
    with (raw / "replace.json").open("wb") as out:
        subprocess.run(["terraform", "show", "-json", "replace"], cwd=raw, env=env, stdout=out,
                       check=True)  # fmt: skip
    show = time.perf_counter() - started
    show_size = (raw / "replace.json").stat().st_size
    # No plan file exists for the generated 50,000-resource JSON (a real plan that size takes
    # terraform many minutes here), so its show time is the 1000 plan's, scaled by file size.
    for label, path in (("1000 replace-all", raw / "replace.json"),
                        ("50,000 generated", scale_plan(raw / "replace.json", 50))):  # fmt: skip
        read_plan(path)  # warm: page cache, lazy imports
        elapsed = statistics.median(timed(lambda p=path: read_plan(p)) for _ in range(3))
        tracemalloc.start()  # a second pass: tracemalloc slows Python down several times
        read_plan(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        size = path.stat().st_size
        baseline, base_value = "show -json of the 1000 plan", show
        if size != show_size:
            baseline = "show -json, 1000 plan's rate x size"
            base_value = show * size / show_size
        record(Figure(f"summary {label} time", elapsed, "s", baseline, base_value, "<= 0.5x",
                      elapsed <= 0.5 * base_value, note=f"{size / 1e6:.1f} MB"))  # fmt: skip
        record(Figure(f"summary {label} peak memory", peak / 1e6, "MB", "file size", size / 1e6,
                      "<= 3x", peak <= 3 * size))  # fmt: skip


def scale_plan(path: Path, factor: int) -> Path:
    """The plan's resource changes repeated `factor` times under distinct module addresses."""
    doc = json.loads(path.read_text())
    changes = doc.get("resource_changes", [])
    scaled = []
    for copy in range(factor):
        for change in changes:
            item = dict(change, address=f"module.copy{copy}.{change['address']}",
                        module_address=f"module.copy{copy}")  # fmt: skip
            scaled.append(item)
    doc["resource_changes"] = scaled
    out = path.with_name(f"scaled{factor}.json")
    out.write_text(json.dumps(doc))
    return out


def runs_list(work: Path) -> None:
    home = work / "runs-list" / "home"
    home.mkdir(parents=True)
    env = base_env(home)
    mod = module(work / "runs-list" / "module")
    tfctl_stack(home, env, mod, "many", 1)
    fill_runs(home / "tfctl.db", 100_000)
    version = median_of([tfctl_bin(), "--version"], env, n=5)
    for args in ([], ["--workspace", "many"], ["--status", "no_changes"]):
        listed = median_of([tfctl_bin(), "runs", "list", *args], env, n=5)
        record(Figure(" ".join(["runs list", *args]) + ", 100,000 runs", listed, "s",
                      "tfctl --version", version, "<= +1 s", listed <= version + 1.0))  # fmt: skip


def fill_runs(db: Path, count: int) -> None:
    import sqlite3
    from datetime import UTC, datetime, timedelta

    from tfctl.persistence.ids import new_id

    with sqlite3.connect(db) as conn:
        ws_id, version_id = conn.execute(
            "SELECT w.id, v.id FROM workspaces w JOIN spec_versions v ON v.stack_id = w.stack_id"
        ).fetchone()
        start = datetime.now(UTC) - timedelta(days=30)
        moments = [start + timedelta(seconds=i) for i in range(count)]
        ids = [new_id("run", millis=int(at.timestamp() * 1000)) for at in moments]
        rows = [
            (run_id, run_id[-4:], ws_id, version_id, "plan", "normal", "no_changes", "bench",
             "host", 0, 0, 0, at.strftime("%Y-%m-%d %H:%M:%S.%f"))
            for run_id, at in zip(ids, moments, strict=True)
        ]  # fmt: skip
        conn.executemany(  # id_tail as tfctl writes it (runs.id_tail, migration 0011)
            "INSERT INTO runs (id, id_tail, workspace_id, spec_version_id, operation, plan_mode,"
            " status, actor, host, exit_code, halted, auto_apply, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def halt_latency(work: Path, repeats: int = 3) -> None:
    root = work / "halt"
    home = root / "home"
    home.mkdir(parents=True)
    env = base_env(home)
    mod = root / "module"
    mod.mkdir()
    (mod / "main.tf").write_text(
        'resource "terraform_data" "slow" {\n  provisioner "local-exec" {\n'
        '    command = "sleep 60"\n  }\n}\n'
    )
    baselines, ours = [], []
    for rep in range(repeats):
        baselines.append(raw_sigint_shutdown(root / f"raw{rep}", mod, env))
        rep_home = home / f"rep{rep}"
        rep_env = base_env(rep_home)
        tfctl_stack_module(rep_home, rep_env, mod)
        ours.append(tfctl_halt_shutdown(rep_env, rep_home))
    baseline, value = statistics.median(baselines), statistics.median(ours)
    record(Figure("halt → process group gone", value, "s", "terraform SIGINT shutdown",
                  baseline, "<= +1 s", value <= baseline + 1.0,
                  note=f"median of {repeats}: {min(ours):.2f}-{max(ours):.2f} s"))  # fmt: skip


def tfctl_stack_module(home: Path, env: dict[str, str], mod: Path) -> None:
    spec = home.parent / "slow.json"
    spec.write_text(json.dumps({"name": "slow", "kind": "generic", "module_source": str(mod)}))
    tf = tfctl_bin()
    run([tf, "init"], env)
    run([tf, "stack", "push", str(spec)], env)
    run([tf, "workspace", "create", "slow", "--stack", "slow"], env)
    run([tf, "plan", "slow"], env)


def raw_sigint_shutdown(root: Path, mod: Path, env: dict[str, str]) -> float:
    root.mkdir()
    (root / "main.tf").write_text(f'module "m" {{\n  source = "{mod}"\n}}\n')
    run(["terraform", "init", "-input=false"], env, cwd=root)
    proc = subprocess.Popen(["terraform", "apply", "-auto-approve", "-input=false", "-no-color"],
                            cwd=root, env=env, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Provisioning with" in line:
            break
    time.sleep(1)
    started = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate()
    group_gone(proc.pid)
    return time.perf_counter() - started


def tfctl_halt_shutdown(env: dict[str, str], root: Path) -> float:
    tf = tfctl_bin()
    proc = subprocess.Popen([tf, "apply", "slow", "--auto-approve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:
        if "Provisioning with" in line:
            break
    time.sleep(1)
    groups = terraform_groups(root)
    started = time.perf_counter()
    run([tf, "halt", "--reason", "bench"], env)
    for pgid in groups:
        group_gone(pgid)
    elapsed = time.perf_counter() - started
    proc.communicate(timeout=60)
    return elapsed


def terraform_groups(root: Path) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if argv and argv[0].endswith(b"terraform") and cwd.startswith(str(root)):
            found.append(os.getpgid(int(proc.name)))
    return found


def group_gone(pgid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) == pgid and stat[0] != "Z":
                alive = True
                break
        if not alive:
            return
        time.sleep(0.02)


def workers(work: Path, repeats: int = 3) -> None:
    from pg import postgres_server

    with postgres_server() as server:
        for backend in ("sqlite", "postgresql"):
            one = None
            for count in (1, 2, 4):
                rates, with_startup = [], []
                for rep in range(repeats):
                    root = work / f"workers-{backend}-{count}-{rep}"
                    home = root / "home"
                    home.mkdir(parents=True)
                    url = (f"sqlite:///{home / 'store.db'}" if backend == "sqlite"
                           else fresh_pg_database(server, f"bench_{count}_{rep}"))  # fmt: skip
                    steady, started = worker_throughput(root, url, count)
                    rates.append(steady)
                    with_startup.append(started)
                rate = statistics.median(rates)
                one = one or rate
                target = ">= 1.6x" if backend == "postgresql" and count == 2 else "-"
                met = rate >= 1.6 * one if target != "-" else None
                note = (f"median of {repeats}: {min(rates):.2f}-{max(rates):.2f}; with worker "
                        f"start-up: {statistics.median(with_startup):.2f} runs/s")  # fmt: skip
                record(Figure(f"queued runs/s, {count} worker(s), {backend}", rate, "runs/s",
                              "1 worker", one, target, met, note=note))  # fmt: skip
            claim_latency(work, backend, server)


def fresh_pg_database(server: object, name: str) -> str:
    import psycopg

    with psycopg.connect(server.psql_url(), autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(server.url(name))  # type: ignore[attr-defined]


def queued_plans(root: Path, url: str, count: int) -> tuple[Store, dict[str, str]]:
    """A migrated store at `url` with `count` workspaces of an empty configuration, a plan
    queued in each (in-process, so setting up costs seconds), and the CLI env for it."""
    from tfctl.context import AppContext
    from tfctl.persistence.db import Store
    from tfctl.persistence.kinds import Operation
    from tfctl.runs.service import RunService
    from tfctl.stacks import push_spec_file
    from tfctl.workspaces import create_workspace

    env = base_env(root / "home", TFCTL_DATABASE_URL=url)
    run([tfctl_bin(), "db", "upgrade"], env)
    empty = root / "empty"
    empty.mkdir()
    (empty / "main.tf").write_text("# an empty configuration: the job store is what is measured\n")
    spec = root / "empty.json"
    spec.write_text(json.dumps({"name": "empty", "kind": "generic", "module_source": str(empty)}))
    store = Store.open(url, auto_upgrade=False)
    push_spec_file(store, spec, author="bench")
    runtime = RunService(AppContext(store=store))
    for i in range(count):
        create_workspace(store, f"ws{i}", stack="empty", backend="local", backend_config={},
                         variables={})  # fmt: skip
        runtime.enqueue(f"ws{i}", operation=Operation.PLAN)
    return store, env


def worker_throughput(root: Path, url: str, count: int, runs: int = 36) -> tuple[float, float]:
    """Runs per second from the first claim to the last finish, read from the runs' own
    timestamps (the steady state of the queue, without the workers' one-off start-up), and
    from starting the worker processes to their exit."""
    from tfctl.runs.views import list_runs

    store, env = queued_plans(root, url, runs)
    started = time.perf_counter()
    procs = [subprocess.Popen([tfctl_bin(), "worker", "--burst", "--name", f"w{i}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(count)]  # fmt: skip
    for proc in procs:
        proc.wait()
    wall = time.perf_counter() - started
    done = [r for r in list_runs(store, limit=runs * 2) if r.status == "no_changes"]
    store.engine.dispose()
    assert len(done) == runs, f"{len(done)} of {runs} runs finished"
    first = min(r.started_at for r in done if r.started_at is not None)
    last = max(r.finished_at for r in done if r.finished_at is not None)
    return runs / (last - first).total_seconds(), runs / wall


def claim_latency(work: Path, backend: str, server: object) -> None:
    from tfctl.persistence.runs import claim_next

    root = work / f"claim-{backend}"
    (root / "home").mkdir(parents=True)
    url = (f"sqlite:///{root / 'home' / 'store.db'}" if backend == "sqlite"
           else fresh_pg_database(server, "bench_claim"))  # fmt: skip
    store, _ = queued_plans(root, url, 200)
    samples = []
    for _ in range(200):
        started = time.perf_counter()
        with store.write() as session:
            claim_next(session=session, worker="bench")
        samples.append((time.perf_counter() - started) * 1000)
    store.engine.dispose()
    p50 = statistics.median(samples)
    record(Figure(f"claim latency p50, {backend}", p50, "ms", "target", 20.0, "<= 20 ms",
                  p50 <= 20.0, note=f"p95 {statistics.quantiles(samples, n=20)[18]:.1f} ms"))  # fmt: skip


POLICY = """package main

import rego.v1

deny contains msg if {{
    some change in input.resource_changes
    change.type == "terraform_data"
    change.change.after.input == "forbidden-{i}"
    msg := sprintf("%s is forbidden", [change.address])
}}

warn contains msg if {{
    count(input.resource_changes) > 5000
    msg := "a very large plan"
}}
"""


def policy(work: Path) -> None:
    from tfctl.policy.checker import PolicyChecker
    from tfctl.policy.model import EnforcementLevel, PolicyRef

    root = work / "policy"
    env = base_env(work / "home")
    mod = module(root / "module")
    raw = root / "raw"
    raw.mkdir(parents=True)
    (raw / "main.tf").write_text(f'module "m" {{\n  source = "{mod}"\n  n      = 1000\n}}\n')
    run(["terraform", "init", "-input=false"], env, cwd=raw)
    run(["terraform", "plan", "-input=false", "-out", "tfplan"], env, cwd=raw)
    with (raw / "plan.json").open("wb") as out:
        subprocess.run(["terraform", "show", "-json", "tfplan"], cwd=raw, env=env, stdout=out,
                       check=True)  # fmt: skip
    refs = []
    for i in range(10):
        path = root / f"p{i}.rego"
        path.write_text(POLICY.format(i=i))
        refs.append(PolicyRef(source=path, level=EnforcementLevel.HARD_MANDATORY))
    checker = PolicyChecker()
    checker.check(refs[:1], raw / "plan.json")  # load the engine once
    one = statistics.median(
        timed(lambda: checker.check(refs[:1], raw / "plan.json")) for _ in range(5)
    )
    ten = statistics.median(timed(lambda: checker.check(refs, raw / "plan.json")) for _ in range(5))
    record(Figure("policy check, N=1000 plan, 10 policies", ten * 1000, "ms", "1 policy",
                  one * 1000, "<= 100 ms total", ten * 1000 <= 100))  # fmt: skip


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def serve(work: Path) -> None:
    """`tfctl serve` under load: bench/server.py."""
    import server  # bench/ is this script's directory

    server.measure(work, sys.modules[__name__])


def resident_path(work: Path) -> None:
    """Runs executed by a warm `tfctl worker`: bench/resident.py."""
    import resident

    resident.resident(work, sys.modules[__name__])


# --- main --------------------------------------------------------------------------------

ALL: dict[str, Callable[[Path], None]] = {
    "startup": startup,
    "plan_apply": plan_apply,
    "summary": summary,
    "runs": runs_list,
    "halt": halt_latency,
    "workers": workers,
    "policy": policy,
    "server": serve,
    "init": init_reuse,
    "resident": resident_path,
    "large": large_store,
}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())  # fmt: skip
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    tf = subprocess.run(["terraform", "version", "-json"], capture_output=True, text=True)
    version = json.loads(tf.stdout)["terraform_version"] if tf.returncode == 0 else "?"
    return (f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, "
            f"{platform.platform()}, Python {platform.python_version()}, Terraform {version}")  # fmt: skip


def write_results(header: str, subset: list[str] | None = None) -> str:
    """The table of this run's figures. A subset run (`nox -s bench -- runs`) keeps the
    rows of bench/results.md it did not measure again, and says which rows it replaced."""
    if subset:
        return _merge_results(header, subset)
    lines = [
        "# tfctl benchmark results", "", f"Machine: {header}", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `nox -s bench`.", "",
        "| figure | value | baseline | ratio | target | met | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]  # fmt: skip
    for f in FIGURES:
        met = {True: "yes", False: "**no**", None: "-"}[f.met]
        lines.append(f"| {f.name} | {f.value:.4g} {f.unit} | {f.baseline}: "
                     f"{f.baseline_value:.4g} | {f.ratio:.2f}x | {f.target} | {met} | {f.note} |")  # fmt: skip
    text = "\n".join(lines) + "\n"
    (HERE / "results.md").write_text(text)
    return text


def _row(f: Figure) -> str:
    met = {True: "yes", False: "**no**", None: "-"}[f.met]
    return (f"| {f.name} | {f.value:.4g} {f.unit} | {f.baseline}: {f.baseline_value:.4g} | "
            f"{f.ratio:.2f}x | {f.target} | {met} | {f.note} |")  # fmt: skip


def _merge_results(header: str, subset: list[str]) -> str:
    path = HERE / "results.md"
    if not path.is_file():
        return write_results(header)
    new = {f.name: _row(f) for f in FIGURES}
    lines = path.read_text().splitlines()
    kept = []
    for line in lines:
        name = line.split("|")[1].strip() if line.startswith("| ") else None
        if name in new:
            kept.append(new.pop(name))
        else:
            kept.append(line)
    table_end = max(i for i, line in enumerate(kept) if line.startswith("|")) + 1
    kept[table_end:table_end] = list(new.values())
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    kept.append("")
    kept.append(f"Re-measured {when} by `python bench/run.py {' '.join(subset)}` on {header}: "
                f"{', '.join(f.name for f in FIGURES)}.")  # fmt: skip
    text = "\n".join(kept) + "\n"
    path.write_text(text)
    return text


def main(argv: list[str]) -> int:
    if shutil.which("terraform") is None:
        print("terraform is not on PATH", file=sys.stderr)
        return 1
    chosen = argv or list(ALL)
    header = machine()
    print(f"machine: {header}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tfctl-bench-") as tmp:
        os.chmod(tmp, 0o755)
        for name in chosen:
            print(f"{name}:", flush=True)
            ALL[name](Path(tmp) / name)
    print(write_results(header, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
