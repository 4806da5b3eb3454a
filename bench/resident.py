"""The resident path (`python bench/run.py resident`): runs executed by a warm `tfctl worker`.

A worker that has already executed a run pays no imports and no `terraform init` (the
workspace's initialised data directory is reused). Each repetition queues `tfctl apply W
--queue --wait --auto-approve` (a plan that the worker applies as soon as it is made) on an
empty state, then destroys what it made (not measured). Measured:

- the worker's own time: from the plan's claim (`started_at`, stamped by the store) to the
  apply's end (`finished_at`), against raw terraform doing the same steps in one directory
  that was initialised before (plan -out, show -json, apply): the overhead is the difference;
- the client's cost: the wall time of the `--queue --wait` command minus the worker's time
  (its start-up, queueing, the wait for a claim and its polling of the run).

Raw terraform and tfctl alternate, and medians are compared, as in `plan_apply`.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import time
from datetime import datetime
from pathlib import Path
from types import ModuleType

SIZES = {100: 0.15, 1000: 1.03}  # resources: target (s of overhead at 100, ratio at 1000)


def resident(work: Path, bench: ModuleType, repeats: int = 5) -> None:
    tf = bench.tfctl_bin()
    for n, target in SIZES.items():
        reps = repeats if n <= 100 else 3
        mod = bench.module(work / f"r{n}" / "module")
        home = work / f"r{n}" / "home"
        env = bench.base_env(home)
        name = f"res{n}"
        bench.tfctl_stack(home, env, mod, name, n)
        raw_dir = _raw_dir(work / f"r{n}" / "raw", mod, n, env)
        worker = subprocess.Popen([tf, "worker", "--name", "bench"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            _apply_and_destroy(tf, env, name)  # warm: imports, init, page cache
            raws: list[float] = []
            ours: list[float] = []
            clients: list[float] = []
            for _ in range(reps):
                raws.append(_raw_steps(raw_dir, env))
                started = time.perf_counter()
                bench.run([tf, "apply", name, "--queue", "--wait", "--auto-approve"], env)
                client = time.perf_counter() - started
                executed = _worker_time(home / "tfctl.db", name)
                ours.append(executed)
                clients.append(client - executed)
                _destroy(tf, env, name)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
        raw, mine = statistics.median(raws), statistics.median(ours)
        note = (f"median of {reps}: {min(ours):.3f}-{max(ours):.3f} s; raw "
                f"{min(raws):.3f}-{max(raws):.3f} s; overhead {mine - raw:+.3f} s")  # fmt: skip
        if n <= 100:
            met, shown = mine - raw <= target, f"<= +{target} s"
        else:
            met, shown = mine <= target * raw, f"<= {target}x"
        bench.record(bench.Figure(f"resident worker: plan+apply N={n}", mine, "s",
                                  "raw terraform (plan, show -json, apply)", raw, shown, met,
                                  note=note))  # fmt: skip
        client = statistics.median(clients)
        bench.record(bench.Figure(
            f"`apply --queue --wait` client's own cost, N={n}", client, "s",
            "tfctl runs list --limit 1 (start-up + a store read)",
            bench.median_of([tf, "runs", "list", "--limit", "1"], env, n=3), "-", None,
            note=f"median of {reps}: {min(clients):.3f}-{max(clients):.3f} s (wall time "
                 "minus the worker's time: start-up, queueing, claim wait, polling)",
        ))  # fmt: skip


def _apply_and_destroy(tf: str, env: dict[str, str], name: str) -> None:
    subprocess.run([tf, "apply", name, "--queue", "--wait", "--auto-approve"], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    _destroy(tf, env, name)


def _destroy(tf: str, env: dict[str, str], name: str) -> None:
    subprocess.run([tf, "destroy", name, "--queue", "--wait", "--auto-approve", "--confirm",
                    name], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def _raw_dir(root: Path, mod: Path, n: int, env: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    (root / "main.tf").write_text(f'module "m" {{\n  source = "{mod}"\n  n      = {n}\n}}\n')
    subprocess.run(["terraform", "init", "-input=false", "-no-color"], cwd=root, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return root


def _raw_steps(root: Path, env: dict[str, str]) -> float:
    """plan -out, show -json, apply on an empty state (initialised before), then destroy
    (not measured)."""
    (root / "terraform.tfstate").unlink(missing_ok=True)
    steps = [
        ["terraform", "plan", "-input=false", "-no-color", "-out", "tfplan"],
        ["sh", "-c", "terraform show -json tfplan > plan.json"],
        ["terraform", "apply", "-input=false", "-no-color", "tfplan"],
    ]
    took = 0.0
    for step in steps:
        started = time.perf_counter()
        subprocess.run(step, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)  # fmt: skip
        took += time.perf_counter() - started
    return took


def _worker_time(db: Path, workspace: str) -> float:
    """From the claim of the newest plan of `workspace` to the end of its apply."""
    with sqlite3.connect(db) as conn:
        plan_id, started = conn.execute(
            "SELECT r.id, r.started_at FROM runs r JOIN workspaces w ON w.id = r.workspace_id "
            "WHERE w.name = ? AND r.operation = 'plan' ORDER BY r.created_at DESC LIMIT 1",
            (workspace,),
        ).fetchone()
        (finished,) = conn.execute(
            "SELECT finished_at FROM runs WHERE parent_run_id = ? AND operation = 'apply'",
            (plan_id,),
        ).fetchone()
    return (_when(finished) - _when(started)).total_seconds()


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


if __name__ == "__main__":  # pragma: no cover - a quick look without run.py's table
    print(json.dumps({"see": "python bench/run.py resident"}))
