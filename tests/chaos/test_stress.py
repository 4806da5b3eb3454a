"""4 workers, 50 queued plan-and-apply runs over 10 workspaces on PostgreSQL, workers killed
(SIGKILL) at random and replaced: every run ends exactly once, two state-changing runs of a
workspace never overlap (by their recorded start and finish times), none is left running,
and no state version is ever recorded over a newer one."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import time
from collections import defaultdict
from pathlib import Path

from chaos.chaoskit import CHURN_MODULE, Tfctl, base_env, postgres, workers
from chaos.test_store_outages import LEASE

WORKSPACES, RUNS, WORKERS, KILLS = 10, 50, 4, 8
ACTIVE = ("queued", "running", "awaiting_approval")


def test_random_worker_kills_under_load_end_every_run_exactly_once(tmp_path: Path) -> None:
    from tfctl.context import AppContext
    from tfctl.persistence.db import Store
    from tfctl.runs.service import RunService

    chance = random.Random(16)
    with postgres() as pg, workers() as started:
        home = tmp_path / "home"
        cli = Tfctl(base_env(home, pg.url(), lease=LEASE), tmp_path)
        cli("init")
        spec = tmp_path / "churn.json"
        spec.write_text(json.dumps({"name": "churn", "kind": "generic",
                                    "module_source": str(CHURN_MODULE)}))  # fmt: skip
        cli("stack", "push", str(spec))
        for n in range(WORKSPACES):
            (tmp_path / f"out{n}").mkdir()
            cli("workspace", "create", f"ws{n}", "--stack", "churn", "--var",
                f"dir={tmp_path / f'out{n}'}")  # fmt: skip
        store = Store.open(pg.url(), auto_upgrade=False)
        service = RunService(AppContext(store=store))
        plans = [service.enqueue_plan(f"ws{i % WORKSPACES}", auto_apply=True, actor="chaos").id
                 for i in range(RUNS)]  # fmt: skip
        store.engine.dispose()

        alive = {f"w{i}": cli.worker(f"w{i}") for i in range(WORKERS)}
        started += alive.values()
        kills, deadline, next_kill = 0, time.monotonic() + 900, time.monotonic() + 8
        while pg.query("SELECT count(*) FROM runs WHERE status = ANY(%s)", list(ACTIVE))[0][0]:
            assert time.monotonic() < deadline, "runs still active after 15 minutes"
            if kills < KILLS and time.monotonic() >= next_kill:
                victim = chance.choice(sorted(alive))
                os.kill(alive.pop(victim).pid, signal.SIGKILL)
                kills += 1
                name = f"w{WORKERS + kills}"
                alive[name] = cli.worker(name)
                started.append(alive[name])
                next_kill = time.monotonic() + chance.uniform(4, 10)
            time.sleep(0.5)

        runs = pg.query("SELECT id, workspace_id, operation, status, parent_run_id, started_at, "
                        "finished_at, worker FROM runs")  # fmt: skip
        by_id = {row[0]: row for row in runs}
        assert {row[3] for row in runs} <= {"applied", "errored"}, "a run did not end"
        assert set(plans) <= set(by_id)
        children: dict[str, list[str]] = defaultdict(list)
        for row in runs:
            if row[2] == "apply":
                children[row[4]].append(row[0])
        assert all(len(ids) == 1 for ids in children.values()), "a plan applied twice"
        for row in runs:  # each run executed by one process, once (one start in its log)
            executed = home / "runs" / row[0] / "stdout.log"
            if executed.exists():
                starts = [line for line in executed.read_text().splitlines()
                          if line.startswith(("rendered stack", "applying plan"))]  # fmt: skip
                assert len(starts) <= 1, (row, starts)  # 0: killed before it got that far
                assert len(starts) == 1 or row[3] == "errored", (row, starts)
        applied = [row for row in runs if row[2] == "apply" and row[3] == "applied"]
        assert applied, "nothing was applied"

        by_workspace: dict[str, list[tuple[object, object, str]]] = defaultdict(list)
        for row in runs:
            if row[2] == "apply" and row[5] is not None:
                assert row[6] is not None, row
                by_workspace[row[1]].append((row[5], row[6], row[0]))
        for intervals in by_workspace.values():
            intervals.sort()
            for (_, end, first), (start, _, second) in itertools.pairwise(intervals):
                assert end <= start, f"applies {first} and {second} of one workspace overlap"

        versions = pg.query("SELECT workspace_id, serial, run_id, created_at FROM state_versions "
                            "ORDER BY workspace_id, created_at")  # fmt: skip
        last: dict[str, int] = {}
        for workspace_id, serial, run_id, _ in versions:
            assert by_id[run_id][2] == "apply"
            assert serial > last.get(workspace_id, -1), "an older state recorded over a newer"
            last[workspace_id] = serial
        recorded = [row[2] for row in versions]
        assert len(recorded) == len(set(recorded)), "a run recorded two state versions"
        print(f"{len(runs)} runs, {len(applied)} applied, {kills} workers killed")
