"""`nox -s bench -- server`: `tfctl serve` under load, each figure against a baseline from the
same run (ratios, never a pass/fail on CI).

- requests/s of `GET /terraform/runs` (50 newest of 100,000 runs) and of one run's detail,
  against `GET /healthz` on the same server (the framework's own floor);
- time from terraform printing a line to a WebSocket client receiving it, p50 and p99, with
  1 and 50 clients on one run, against a poller reading the store directly every 50 ms;
- the server's memory with 50 clients streaming, against the same server idle.

Called from bench/run.py's registry with that module (`kit`) for `record`, `Figure` and the
helpers, so the figures land in the one results table.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

TICKS = 40
TICK_MODULE = """
resource "terraform_data" "ticker" {
  triggers_replace = timestamp()

  provisioner "local-exec" {
    command = "for i in $(seq 1 TICKS); do echo \\"tick $(date +%s.%N)\\"; sleep 0.25; done"
  }
}
""".replace("TICKS", str(TICKS))
TICK = re.compile(r"tick (\d+\.\d+)")


class Server:
    """A `tfctl serve --port 0` process on the bench's home, with an admin token."""

    def __init__(self, kit: ModuleType, env: dict[str, str]) -> None:
        created = subprocess.run([kit.tfctl_bin(), "token", "create", "bench", "--role", "admin",
                                  "--json"], env=env, capture_output=True, text=True, check=True)  # fmt: skip
        self.token = json.loads(created.stdout)["token"]
        self.proc = subprocess.Popen([kit.tfctl_bin(), "serve", "--port", "0", "--workers", "1"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)  # fmt: skip
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                self.url = found.group(1)
                break
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=60)


def measure(work: Path, kit: ModuleType) -> None:
    home = work / "home"
    home.mkdir(parents=True)
    env = kit.base_env(home)
    kit.tfctl_stack(home, env, kit.module(work / "module"), "many", 1)
    kit.fill_runs(home / "tfctl.db", 100_000)
    ticker = work / "ticker"
    ticker.mkdir()
    (ticker / "main.tf").write_text(TICK_MODULE)
    (work / "ticker.json").write_text(json.dumps({"name": "ticker", "kind": "generic",
                                                  "module_source": str(ticker)}))  # fmt: skip
    subprocess.run([kit.tfctl_bin(), "stack", "push", str(work / "ticker.json")], env=env,
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run([kit.tfctl_bin(), "workspace", "create", "ticker", "--stack", "ticker"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    server = Server(kit, env)
    try:
        requests_per_second(kit, server)
        stream_latency(kit, server, home)
    finally:
        server.stop()


# --- requests per second -----------------------------------------------------------------


def requests_per_second(kit: ModuleType, server: Server) -> None:
    import httpx

    with httpx.Client(base_url=server.url, headers=server.headers) as client:
        run_id = client.get("/terraform/runs?limit=1").json()[0]["id"]
    health = rate(server, "/healthz")
    for label, path in (("GET /terraform/runs (100,000 runs)", "/terraform/runs"),
                        ("GET /terraform/runs/{id}", f"/terraform/runs/{run_id}")):  # fmt: skip
        value = rate(server, path)
        kit.record(kit.Figure(f"serve: {label}", value, "req/s", "GET /healthz", health, "-",
                              None, note="8 concurrent clients, 5 s"))  # fmt: skip


def rate(server: Server, path: str, *, clients: int = 8, seconds: float = 5.0) -> float:
    import httpx

    async def client_loop(deadline: float, counts: list[int]) -> None:
        async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as client:
            while time.monotonic() < deadline:
                response = await client.get(path)
                assert response.status_code == 200, response.text
                counts.append(1)

    async def main() -> float:
        counts: list[int] = []
        await asyncio.gather(*(client_loop(time.monotonic() + 1.0, []) for _ in range(2)))
        started = time.monotonic()
        await asyncio.gather(*(client_loop(started + seconds, counts) for _ in range(clients)))
        return len(counts) / (time.monotonic() - started)

    return asyncio.run(main())


# --- line-to-client latency and memory ------------------------------------------------------


def stream_latency(kit: ModuleType, server: Server, home: Path) -> None:
    idle = server.rss_mb()
    for clients in (1, 50):
        ours, store, peak = ticker_run(kit, server, home, clients)
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            value, base = quantile(ours, q) * 1000, quantile(store, q) * 1000
            kit.record(kit.Figure(f"serve: line → WebSocket {label}, {clients} client(s)", value,
                                  "ms", "line in the store (50 ms poll)", base, "-", None,
                                  note=f"{len(ours)} lines received"))  # fmt: skip
        if clients == 50:
            kit.record(kit.Figure("serve: memory with 50 clients streaming", peak, "MB",
                                  "the same server idle", idle, "-", None))  # fmt: skip


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ticker_run(kit: ModuleType, server: Server, home: Path,
               clients: int) -> tuple[list[float], list[float], float]:  # fmt: skip
    """Plan and apply the ticker (a provisioner printing a timestamp every 0.25 s) and follow
    the apply with `clients` WebSocket clients and one direct store poller."""
    import httpx

    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as http:
        plan = http.post("/terraform/workspaces/ticker/runs", json={"operation": "plan"}).json()
        wait(http, plan["id"], "awaiting_approval")
        apply = http.post(f"/terraform/runs/{plan['id']}/actions/apply", json={}).json()
    poller: list[float] = []
    peak = [server.rss_mb()]
    done = threading.Event()
    threads = [threading.Thread(target=poll_store, args=(home, apply["id"], poller, done)),
               threading.Thread(target=sample_rss, args=(server, peak, done))]  # fmt: skip
    for thread in threads:
        thread.start()
    try:
        received = asyncio.run(follow(server, apply["id"], clients))
    finally:
        done.set()
        for thread in threads:
            thread.join()
    return received, poller, max(peak)


def wait(http: Any, run_id: str, status: str) -> None:
    deadline = time.monotonic() + 300
    while http.get(f"/terraform/runs/{run_id}").json()["status"] != status:
        assert time.monotonic() < deadline
        time.sleep(0.2)


async def follow(server: Server, run_id: str, clients: int) -> list[float]:
    import websockets

    url = server.url.replace("http://", "ws://") + f"/terraform/ws/runs/{run_id}"
    latencies: list[float] = []

    async def one() -> None:
        async with websockets.connect(url, additional_headers=server.headers,
                                      max_size=None) as ws:  # fmt: skip
            async for message in ws:
                event = json.loads(message)
                found = TICK.search(event.get("text", "")) if event["type"] == "log" else None
                if found and "Executing" not in event["text"]:
                    latencies.append(time.time() - float(found.group(1)))

    await asyncio.gather(*(one() for _ in range(clients)))
    return latencies


def poll_store(home: Path, run_id: str, out: list[float], done: threading.Event) -> None:
    from tfctl.context import AppContext
    from tfctl.persistence.db import Store
    from tfctl.runs.service import RunService

    store = Store.open(f"sqlite:///{home / 'tfctl.db'}", auto_upgrade=False)
    service, after = RunService(AppContext(store=store)), 0
    while not done.is_set():
        page = service.logs(run_id, after=after)
        now = time.time()
        for line in page.lines:
            found = TICK.search(line.text)
            if found and "Executing" not in line.text:
                out.append(now - float(found.group(1)))
        after = page.next
        if page.finished:
            break
        time.sleep(0.05)
    store.engine.dispose()


def sample_rss(server: Server, peak: list[float], done: threading.Event) -> None:
    while not done.wait(0.2):
        peak.append(server.rss_mb())
