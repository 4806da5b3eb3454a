"""`nox -s bench -- large`: large stores and long logs (issue 18, item 5).

- `tfctl runs list` (the real command: unfiltered, --workspace, --status, both, and a page deep
  in the list with --before) on 1,000,000 runs against the same on 10,000 (target <= 1.5x),
  on SQLite and, when PostgreSQL's server programs are there, on a throwaway PostgreSQL;
- the API's run list (a real `tfctl serve` over HTTP, one request at a time) on 1,000,000 runs
  against 10,000: the first page, filtered pages and a page reached by a deep cursor;
- following a finished 100,000-line log, `tfctl runs logs RUN --follow` (peak RSS and time)
  and the server's SSE stream (the server's peak RSS), against a 1,000-line log (target:
  memory about 1.0x, i.e. constant).

Stores are filled in one transaction of bulk INSERTs (SQLite: executemany; PostgreSQL: COPY)
after `tfctl`'s own schema, stack and workspaces, so a million runs take well under a minute.
Called from bench/run.py's registry; `record` and `Figure` come from that module.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

SMALL, LARGE = 10_000, 1_000_000
WORKSPACES = 20
#: How often each status occurs among the generated runs (finished runs: nothing is queued).
STATUS_MIX = {"applied": 40, "no_changes": 35, "superseded": 8, "discarded": 6, "errored": 6,
              "cancelled": 3, "drifted": 2}  # fmt: skip
STEP_MS = 100  # one run every 0.1 s: a million runs span 28 hours
LIST_VARIANTS: list[list[str]] = [
    [],
    ["--workspace", "ws3"],
    ["--status", "errored"],
    ["--workspace", "ws3", "--status", "errored", "--status", "cancelled"],
]
REPEATS = 5
API_REQUESTS = 30
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters


def large_store(work: Path) -> None:
    kit = _kit()
    with ExitStack() as stack:
        backends: dict[str, Any] = {"sqlite": None}
        try:
            from pg import postgres_server  # tests/pg.py, on sys.path by bench/run.py

            backends["postgresql"] = stack.enter_context(postgres_server())
        except RuntimeError as exc:  # no PostgreSQL server programs here
            print(f"  (PostgreSQL skipped: {exc})", flush=True)
        for backend, pg in backends.items():
            stores = {size: _store(kit, work / f"{backend}-{size}", backend, size, pg)
                      for size in (SMALL, LARGE)}  # fmt: skip
            runs_list(kit, backend, stores)
            api_list(kit, backend, stores)
            if backend == "sqlite":
                followers(kit, stores[SMALL])


def _kit() -> ModuleType:
    """bench/run.py as it runs (its FIGURES table), not a second copy of it."""
    main = sys.modules.get("__main__")
    if main is not None and hasattr(main, "record") and hasattr(main, "Figure"):
        return main
    import run  # bench/ is on sys.path when bench/run.py runs

    return run


# --- filling a store -------------------------------------------------------------------------


class Store:
    """A tfctl store (home + URL) with WORKSPACES workspaces and `size` runs."""

    def __init__(self, kit: ModuleType, root: Path, url: str, size: int) -> None:
        self.root, self.url, self.size = root, url, size
        self.env = kit.base_env(root / "home", TFCTL_DATABASE_URL=url)
        self.middle_id = ""  # a run halfway down the list: where a deep page starts
        self.token = ""  # an admin token for `tfctl serve`, made on first use


class Serve:
    """`tfctl serve --port 0` on a store (a fresh process each time: its own peak RSS)."""

    def __init__(self, kit: ModuleType, store: Store) -> None:
        if not store.token:
            made = subprocess.run([kit.tfctl_bin(), "token", "create", "bench-large", "--role",
                                   "admin", "--json"], env=store.env, capture_output=True,
                                  text=True, check=True)  # fmt: skip
            store.token = json.loads(made.stdout)["token"]
        self.headers = {"Authorization": f"Bearer {store.token}"}
        self.proc = subprocess.Popen([kit.tfctl_bin(), "serve", "--port", "0", "--workers", "1"],
                                     env=store.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert self.proc.stderr is not None
        self.url = ""
        for line in self.proc.stderr:
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                self.url = found.group(1)
                break
        assert self.url, "tfctl serve did not start"
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep it drained

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def _store(kit: ModuleType, root: Path, backend: str, size: int, pg: Any) -> Store:
    if backend == "sqlite":
        url = f"sqlite:///{root / 'store.db'}"
        root.mkdir(parents=True)
    else:
        url = kit.fresh_pg_database(pg, f"large_{size}")
    store = Store(kit, root, url, size)
    started = time.perf_counter()
    workspace_ids = _schema_and_workspaces(root, url)
    store.middle_id = fill(url, workspace_ids, size)
    print(f"  filled {backend} with {size:,} runs in {time.perf_counter() - started:.1f} s",
          flush=True)  # fmt: skip
    return store


def _schema_and_workspaces(root: Path, url: str) -> list[str]:
    from tfctl.persistence.db import Store as TfctlStore
    from tfctl.stacks import push_spec_file
    from tfctl.workspaces import create_workspace

    module = root / "module"
    module.mkdir(parents=True, exist_ok=True)
    (module / "main.tf").write_text("# runs are generated: no terraform here\n")
    spec = root / "many.json"
    spec.write_text(json.dumps({"name": "many", "kind": "generic", "module_source": str(module)}))
    db = TfctlStore.open(url, auto_upgrade=True)
    push_spec_file(db, spec, author="bench")
    ids = [create_workspace(db, f"ws{i}", stack="many", backend="local", backend_config={},
                            variables={}).id for i in range(WORKSPACES)]  # fmt: skip
    db.engine.dispose()
    return ids


COLUMNS = ("id", "id_tail", "workspace_id", "spec_version_id", "operation", "plan_mode",
           "status", "actor", "host", "exit_code", "halted", "auto_apply", "reinit",
           "created_at", "started_at", "finished_at")  # fmt: skip


def fill(url: str, workspace_ids: list[str], count: int) -> str:
    """Insert `count` finished runs, one every STEP_MS, newest last, in one transaction;
    returns the id of the run halfway down the newest-first list."""
    from sqlalchemy import create_engine, text

    from tfctl.persistence.models import Run

    engine = create_engine(url)
    with engine.begin() as conn:
        version = conn.execute(text("SELECT id FROM spec_versions")).scalar_one()
        rows = generate(workspace_ids, version, count, postgres=engine.dialect.name != "sqlite")
        indexes = list(Run.__table__.indexes)  # type: ignore[attr-defined]
        for index in indexes:  # built once after the load: faster than row by row
            index.drop(conn)
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MB to build indexes
            placeholders = ", ".join("?" for _ in COLUMNS)
            sql = f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({placeholders})"
            conn.exec_driver_sql(sql, list(rows))  # one executemany
        else:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY runs ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        for index in indexes:
            index.create(conn)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # what autovacuum does after a bulk load
            conn.exec_driver_sql("ANALYZE runs")
    with engine.connect() as conn:
        middle = conn.execute(
            text("SELECT id FROM runs ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET :n"),
            {"n": count // 2},
        ).scalar_one()
    engine.dispose()
    return str(middle)


def generate(workspace_ids: list[str], version: str, count: int, *,
             postgres: bool) -> Iterator[tuple[Any, ...]]:  # fmt: skip
    """Run rows as tfctl writes them (time-ordered ids, UTC times), fast: a million in a few
    seconds, which tfctl.persistence.ids.new_id and datetime formatting per row are not."""
    rnd = random.Random(18)
    statuses = [status for status, weight in STATUS_MIX.items() for _ in range(weight)]
    start_ms = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    zone = "+00" if postgres else ""
    second, stamp = -1, ""
    for i in range(count):
        millis = start_ms + i * STEP_MS
        if millis // 1000 != second:
            second = millis // 1000
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")
        at = f"{stamp}.{millis % 1000:03d}000{zone}"
        bits = rnd.getrandbits(40)
        tail = _PAIRS[bits >> 30] + _PAIRS[(bits >> 20) & 1023] + _PAIRS[(bits >> 10) & 1023] + \
            _PAIRS[bits & 1023]  # fmt: skip
        run_id = f"run-{_base32(millis)}{tail}"
        yield (run_id, run_id[-4:], workspace_ids[i % len(workspace_ids)], version, "plan",
               "normal", rnd.choice(statuses), "bench", "host", 0, False, False, False, at, at,
               at)  # fmt: skip


def _base32(number: int) -> str:
    return (_PAIRS[(number >> 40) & 1023] + _PAIRS[(number >> 30) & 1023] +
            _PAIRS[(number >> 20) & 1023] + _PAIRS[(number >> 10) & 1023] + _PAIRS[number & 1023])  # fmt: skip


# --- runs list -------------------------------------------------------------------------------


def runs_list(kit: ModuleType, backend: str, stores: dict[int, Store]) -> None:
    """Each form of the command REPEATS times on each store, the two stores alternating (a
    2-core machine shared with others drifts: alternating keeps the drift out of the ratio)."""
    for args in [*LIST_VARIANTS, ["--before", "MIDDLE"]]:
        argvs = {size: [kit.tfctl_bin(), "runs", "list",
                        *[store.middle_id if a == "MIDDLE" else a for a in args]]
                 for size, store in stores.items()}  # fmt: skip
        times: dict[int, list[float]] = {size: [] for size in stores}
        for rep in range(REPEATS + 1):
            for size, store in stores.items():
                elapsed = kit.run(argvs[size], store.env)
                if rep:  # the first warms the page cache and .pyc files
                    times[size].append(elapsed)
        label = " ".join(["runs list", *args]).replace("MIDDLE", "<run halfway>")
        ratio_figure(kit, f"{label}, 1M runs, {backend}", times, "s")


def ratio_figure(kit: ModuleType, name: str, times: dict[int, list[float]], unit: str,
                 scale: float = 1.0) -> None:  # fmt: skip
    large, small = (statistics.median(times[n]) * scale for n in (LARGE, SMALL))
    note = (f"median of {len(times[LARGE])}: 1M {spread(times[LARGE], unit, scale)}, "
            f"10k {spread(times[SMALL], unit, scale)} {unit}")  # fmt: skip
    kit.record(kit.Figure(name, large, unit, "same, 10k runs", small, "<= 1.5x",
                          large <= 1.5 * small, note=note))  # fmt: skip


def spread(values: list[float], unit: str, scale: float = 1.0) -> str:
    """min-max, to the figure's precision (ms and MB to a tenth, seconds to a millisecond)."""
    digits = 3 if unit == "s" else 1
    return f"{min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f}"


# --- the API's run list ------------------------------------------------------------------------


def api_list(kit: ModuleType, backend: str, stores: dict[int, Store]) -> None:
    """Per request, one at a time, through a real `tfctl serve` (uvicorn) on 127.0.0.1 per
    store, the two servers asked in turn."""
    import httpx

    with ExitStack() as stack:
        servers = {size: Serve(kit, store) for size, store in stores.items()}
        for srv in servers.values():
            stack.callback(srv.stop)
        clients = {size: stack.enter_context(httpx.Client(base_url=srv.url,
                                                          headers=srv.headers, timeout=60))
                   for size, srv in servers.items()}  # fmt: skip
        paths = {size: dict(_api_paths(clients[size], store)) for size, store in stores.items()}
        for label in paths[SMALL]:
            times: dict[int, list[float]] = {size: [] for size in stores}
            for i in range(API_REQUESTS + 5):
                for size, client in clients.items():
                    elapsed = _get(client, paths[size][label])
                    if i >= 5:  # the first requests warm connections and caches
                        times[size].append(elapsed)
            ratio_figure(kit, f"API {label}, 1M runs, {backend}", times, "ms", scale=1000)


def _api_paths(http: Any, store: Store) -> Iterator[tuple[str, str]]:
    from tfctl.runs.views import encode_cursor

    yield "GET /terraform/runs", "/terraform/runs"
    yield "GET /terraform/runs?workspace=ws3", "/terraform/runs?workspace=ws3"
    yield "GET /terraform/runs?status=errored", "/terraform/runs?status=errored"
    middle = http.get(f"/terraform/runs/{store.middle_id}").json()
    cursor = encode_cursor(datetime.fromisoformat(middle["created_at"]), middle["id"])
    yield "GET /terraform/runs?after=<halfway>", f"/terraform/runs?after={cursor}"


def _get(http: Any, path: str) -> float:
    started = time.perf_counter()
    response = http.get(path)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


# --- following a long log ----------------------------------------------------------------------


def followers(kit: ModuleType, store: Store) -> None:
    """A finished 100,000-line log (and a 1,000-line one) read from its start by
    `tfctl runs logs --follow` and by the server's SSE stream, the two logs in turn."""
    runs = {lines: _logged_run(store, lines) for lines in (1_000, 100_000)}
    argvs = {lines: [kit.tfctl_bin(), "runs", "logs", run_id, "--follow"]
             for lines, run_id in runs.items()}  # fmt: skip
    took: dict[int, list[float]] = {lines: [] for lines in runs}
    rss: dict[int, list[float]] = {lines: [] for lines in runs}
    served: dict[int, list[float]] = {lines: [] for lines in runs}
    for rep in range(4):
        for lines, run_id in runs.items():
            seconds, peak = _follow(argvs[lines], store.env)
            if rep:  # the first warms the page cache
                took[lines].append(seconds)
                rss[lines].append(peak)
                served[lines].append(_sse_peak(kit, store, run_id))
    _log_figure(kit, "runs logs --follow peak RSS", rss, "MB", "<= 1.1x")
    _log_figure(kit, "runs logs --follow time", took, "s", "-")
    _log_figure(kit, "serve: SSE replay, server peak RSS", served, "MB", "<= 1.1x")


def _log_figure(kit: ModuleType, name: str, values: dict[int, list[float]], unit: str,
                target: str) -> None:  # fmt: skip
    long, short = statistics.median(values[100_000]), statistics.median(values[1_000])
    met = None if target == "-" else long <= 1.1 * short
    note = (f"median of {len(values[100_000])}: {spread(values[100_000], unit)}; 1,000 lines "
            f"{spread(values[1_000], unit)} {unit}")  # fmt: skip
    kit.record(kit.Figure(f"{name}, 100,000-line log", long, unit, "1,000-line log", short,
                          target, met, note=note))  # fmt: skip


def _logged_run(store: Store, lines: int) -> str:
    """A run of the store's first workspace with a log of `lines` lines, as the log sink
    writes them (one row per line, seq 1..lines)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(store.url)
    with engine.begin() as conn:
        run_id = conn.execute(text("SELECT id FROM runs WHERE status = 'applied'"
                                   " ORDER BY created_at LIMIT 1 OFFSET :n"),
                              {"n": lines % 997}).scalar_one()  # fmt: skip
        line = "module.m.terraform_data.r[{}]: Creation complete after 0s [id=6f1c2a4e-…]"
        rows = [(run_id, seq, "stdout", line.format(seq), "2026-01-01 00:00:00.000000")
                for seq in range(1, lines + 1)]  # fmt: skip
        conn.exec_driver_sql(
            "INSERT INTO run_logs (run_id, seq, stream, line, created_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    engine.dispose()
    return str(run_id)


def _follow(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of one follower process, its output discarded. The peak
    is the process's VmHWM, sampled every 2 ms once it runs tfctl: the rusage of a child
    would also count this (large) bench process, which it was forked from."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0.0
    while proc.poll() is None:
        with suppress(OSError):
            if b"\0logs\0" in Path(f"/proc/{proc.pid}/cmdline").read_bytes():  # exec'd
                peak = max(peak, _vm_hwm(proc.pid))
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return elapsed, peak


def _sse_peak(kit: ModuleType, store: Store, run_id: str) -> float:
    """A fresh server streams the whole log over SSE to one client; its peak RSS (MB)."""
    import httpx

    srv = Serve(kit, store)
    try:
        with (
            httpx.Client(base_url=srv.url, headers=srv.headers, timeout=300) as http,
            http.stream("GET", f"/terraform/runs/{run_id}/events") as response,
        ):
            for line in response.iter_lines():
                if line.startswith("data: ") and '"type": "end"' in line:
                    break
        return _vm_hwm(srv.proc.pid)
    finally:
        srv.stop()


def _vm_hwm(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+)", status)
    return int(found.group(1)) / 1024 if found else float("nan")
