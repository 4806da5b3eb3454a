"""Hosts cut off and disks that fill: the store on a host of its own and two workers on two
others (network namespaces joined by veth pairs on a private subnet; traffic only between
them), one worker's link cut mid-apply; and the disk holding TFCTL_HOME full mid-run."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chaos.chaoskit import (
    Tfctl,
    base_env,
    fill,
    hosts,
    postgres,
    push_files,
    terraform_in,
    tmpfs,
    wait_until,
    workers,
)
from chaos.test_store_outages import (
    LEASE,
    creating_apply,
    ended,
    live_workers,
    run_row,
    stored_log,
)
from procs import provisioner_sleeps


def test_a_worker_cut_off_from_the_store_is_fenced_and_the_other_takes_the_next_run(
    tmp_path: Path,
) -> None:
    with (
        hosts(workers=2) as net,
        postgres(tcp=(net.store_address(1), net.store_address(2)), netns=net.store) as pg,
        workers() as started,
    ):
        home, out = tmp_path / "home", tmp_path / "out"
        out.mkdir()
        cli = Tfctl(base_env(home, pg.url(), lease=LEASE), tmp_path)  # the test: unix socket
        cli("init")
        push_files(cli, tmp_path, "files", names=["a"], sleep_seconds=60)
        cli("workspace", "create", "dev", "--stack", "files", "--var", f"dir={out}")
        for i in (1, 2):  # each worker on its own host, reaching the store over its own link
            url = pg.url(net.store_address(i))
            started.append(cli.worker(f"w{i}", netns=net.worker(i), TFCTL_DATABASE_URL=url))
        wait_until(lambda: live_workers(pg) == 2, within=60, what="both workers")

        first = cli.json("apply", "dev", "--queue", "--auto-approve")
        child = wait_until(lambda: creating_apply(pg), within=90, what="the apply to create")
        cut = int(run_row(pg, child)["worker"][1:])
        other = f"w{3 - cut}"
        push_files(cli, tmp_path, "files", names=["a"], sleep_seconds=0)
        second = cli.json("destroy", "dev", "--queue", "--auto-approve", "--confirm", "dev")
        beat = run_row(pg, child)["heartbeat_at"]

        net.cut(cut)
        wait_until(lambda: not provisioner_sleeps(out) and not terraform_in(home),
                   within=LEASE, what="terraform to be stopped", every=0.05)  # fmt: skip
        expires = beat + timedelta(seconds=LEASE)
        assert datetime.now(UTC) < expires, "terraform outlived its lease"

        final = wait_until(lambda: ended(pg, second["id"]), within=180, what="the next run")
        assert (final["status"], final["worker"]) == ("applied", other), final
        lost = run_row(pg, child)
        assert lost["status"] == "errored"
        assert f"worker w{cut} stopped heartbeating" in lost["message"], lost
        assert final["started_at"] >= expires

        net.restore(cut)  # the fenced worker records what it kept: its log, nothing over others
        wait_until(lambda: any("Interrupt received" in row[2] for row in stored_log(pg, child)),
                   within=60, what="the cut-off worker's log to arrive")  # fmt: skip
        time.sleep(2)
        assert run_row(pg, child)["message"] == lost["message"]
        assert run_row(pg, first["id"])["status"] == "errored"
        assert all(proc.poll() is None for proc in started)  # both workers go on
        third = cli.json("plan", "dev", "--queue")
        wait_until(lambda: run_row(pg, third["id"])["status"] not in ("queued", "running"),
                   within=120, what="a run after that")  # fmt: skip
        assert run_row(pg, third["id"])["status"] == "awaiting_approval"


def test_a_full_disk_under_tfctl_home_errors_the_run_clearly_and_keeps_the_store_consistent(
    tmp_path: Path,
) -> None:
    with postgres() as pg, tmpfs("8m") as disk, workers() as started:
        home, out = disk / "home", tmp_path / "out"
        out.mkdir()
        cli = Tfctl(base_env(home, pg.url(), lease=30.0), tmp_path)
        cli("init")
        names = [f"f{i:02}" for i in range(12)]  # the state grows as they are created
        push_files(cli, tmp_path, "files", names=names, sleep_seconds=4)
        cli("workspace", "create", "dev", "--stack", "files", "--var", f"dir={out}")
        started.append(cli.worker("w1"))
        plan = cli.json("apply", "dev", "--queue", "--auto-approve")
        child = wait_until(lambda: creating_apply(pg), within=90, what="the apply to create")

        filler = fill(disk)
        row = wait_until(lambda: ended(pg, child), within=120, what="the apply to end")
        assert row["status"] == "errored", row
        assert "no space left on device" in row["message"].lower(), row["message"]
        assert run_row(pg, plan["id"])["status"] == "errored"
        assert pg.query("SELECT count(*) FROM runs WHERE status IN ('queued', 'running')") == [(0,)]
        assert pg.query("SELECT locked_by_run_id FROM workspaces") == [(None,)]
        log = [line for _, _, line in stored_log(pg, child)]
        assert any("no space left on device" in line.lower() for line in log)
        assert started[0].poll() is None

        filler.unlink()
        (disk / "filler-tail").unlink(missing_ok=True)
        # terraform's local backend left a truncated state file (it printed the state into
        # the run's log for recovery): the next run fails on it, and the worker goes on
        assert any("printed above as a JSON object" in line for line in log)
        again = cli.json("plan", "dev", "--queue")
        done = wait_until(lambda: ended(pg, again["id"]), within=120, what="the next run")
        assert done["status"] == "errored", done
        assert "state" in done["message"]
        assert started[0].poll() is None
