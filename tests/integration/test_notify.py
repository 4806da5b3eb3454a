"""Webhook notifications against real HTTP servers on 127.0.0.1: what each event posts (and
never: a secret), new drift told once, and webhooks that hang or fail (500) costing a run
nothing."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from filestack import files_workspace, push_files
from tfctl import notify
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.persistence.kinds import Operation, RunStatus
from tfctl.runs.service import RunService
from tfctl.settings import get_settings, local_state_path

SECRET = "notify-test-secret-7d3a10"
PUBLIC = "https://tfctl.example.com"


class Hook:
    """A webhook receiver on 127.0.0.1 that answers `status` (or, with `hang`, nothing for
    a minute) and records every body it receives."""

    def __init__(self, status: int = 200, *, hang: bool = False) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._cond = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                with hook._cond:
                    hook.bodies.append(json.loads(data))
                    hook.paths.append(self.path)
                    hook._cond.notify_all()
                if hang:
                    time.sleep(60)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/s3cr3t-path"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, *, timeout: float = 30.0, event: str | None = None) -> list[Any]:
        """The bodies (of `event`, if given) once there are `count` of them."""

        def matching() -> list[dict[str, Any]]:
            return [b for b in self.bodies if event is None or b["event"] == event]

        with self._cond:
            assert self._cond.wait_for(lambda: len(matching()) >= count, timeout), self.bodies
            return matching()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks() -> Iterator[list[Hook]]:
    made: list[Hook] = []
    yield made
    for hook in made:
        hook.close()


def hook(hooks: list[Hook], status: int = 200, *, hang: bool = False) -> Hook:
    made = Hook(status, hang=hang)
    hooks.append(made)
    return made


def use(monkeypatch: pytest.MonkeyPatch, *urls: str) -> None:
    monkeypatch.setenv("TFCTL_NOTIFY_WEBHOOK_URL", ",".join(urls))
    monkeypatch.setenv("TFCTL_PUBLIC_URL", PUBLIC + "/")
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_VAR_token", SECRET)


@pytest.fixture
def workspace(store: Store, tmp_path: Path, out_dir: Path) -> str:
    push_files(store, tmp_path, names=["a", "b"])
    files_workspace(store, "dev", out_dir)
    return "dev"


# --- the events ------------------------------------------------------------------------------


@pytest.mark.terraform
def test_a_plan_awaiting_approval_is_posted_with_a_link_and_no_secret(
    runtime: RunService, workspace: str, hooks: list[Hook], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = hook(hooks)
    use(monkeypatch, receiver.url)
    plan = runtime.plan(workspace)
    [body] = receiver.wait(1)
    assert body["event"] == "plan_awaiting_approval"
    assert (body["workspace"], body["run_id"]) == (workspace, plan.id)
    assert body["summary"]["add"] == 3
    assert body["url"] == f"{PUBLIC}/infra/terraform/runs/{plan.id}"
    assert "awaits approval" in body["text"]
    assert body["url"] in body["text"]
    assert SECRET not in json.dumps(body)
    assert receiver.paths == ["/hooks/T000/s3cr3t-path"]


@pytest.mark.terraform
def test_a_failed_run_is_posted(
    runtime: RunService, workspace: str, hooks: list[Hook], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = hook(hooks)
    use(monkeypatch, receiver.url)
    monkeypatch.delenv("TF_VAR_token")  # a required variable missing: terraform fails
    with pytest.raises(Exception, match="token"):
        runtime.plan(workspace)
    [failed] = runtime.list_runs(workspace=workspace)
    assert failed.status == RunStatus.ERRORED
    [body] = receiver.wait(1)
    assert (body["event"], body["run_id"], body["workspace"]) == ("run_failed", failed.id,
                                                                  workspace)  # fmt: skip
    assert "failed" in body["text"]


@pytest.mark.terraform
def test_a_halt_is_posted(
    runtime: RunService, workspace: str, hooks: list[Hook], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = hook(hooks)
    use(monkeypatch, receiver.url)
    queued = runtime.enqueue(workspace, operation=Operation.PLAN)
    runtime.halt(reason="incident 42")
    [body] = receiver.wait(1)
    assert body["event"] == "halt"
    assert body["halted"] == [queued.id]
    assert body["reason"] == "incident 42"
    assert "incident 42" in body["text"]
    assert body["url"] == f"{PUBLIC}/infra/terraform"


@pytest.mark.terraform
def test_new_drift_is_posted_once_to_every_webhook(
    runtime: RunService,
    workspace: str,
    hooks: list[Hook],
    monkeypatch: pytest.MonkeyPatch,
    isolated_env: Path,
) -> None:
    first, second = hook(hooks), hook(hooks)
    use(monkeypatch, first.url, second.url)
    runtime.plan(workspace)
    runtime.apply(workspace)
    state = local_state_path(isolated_env, workspace)
    applied_state = state.read_text()

    def drop(key: str) -> None:
        doc = json.loads(state.read_text())
        resource = next(r for r in doc["resources"] if r["name"] == "file")
        resource["instances"] = [i for i in resource["instances"] if i["index_key"] != key]
        doc["serial"] += 1
        state.write_text(json.dumps(doc))

    drop("b")
    told = runtime.assess([workspace])[0]
    again = runtime.assess([workspace])[0]  # the same drift: not told again
    drop("a")
    more = runtime.assess([workspace])[0]  # more drift: told
    state.write_text(applied_state)
    assert runtime.assess([workspace])[0].result == "in_sync"
    drop("b")
    back = runtime.assess([workspace])[0]  # drifted again after being in sync: told
    assert [told.result, again.result, more.result, back.result] == ["drifted"] * 4

    for receiver in (first, second):
        bodies = receiver.wait(3, event="drift")
        time.sleep(3)  # anything sent for `again` would have arrived by now
        told_runs = [b["run_id"] for b in receiver.bodies if b["event"] == "drift"]
        assert told_runs == [told.run_id, more.run_id, back.run_id]
        assert bodies[0]["summary"] == {"changed_outside": 0, "would_change": 1, "outputs": 1}
        assert bodies[0]["resources"]["would_change"] == [
            {"address": 'module.stack.terraform_data.file["b"]', "action": "create"}
        ]
        assert "drifted" in bodies[0]["text"]
        assert SECRET not in json.dumps(receiver.bodies)


@pytest.mark.terraform
def test_a_webhook_that_hangs_or_fails_never_slows_or_fails_a_run(
    store: Store,
    runtime: RunService,
    workspace: str,
    hooks: list[Hook],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = time.monotonic()
    assert runtime.plan(workspace).status == RunStatus.AWAITING_APPROVAL
    baseline = time.monotonic() - started

    hanging, failing = hook(hooks, hang=True), hook(hooks, 500)
    use(monkeypatch, hanging.url, failing.url)
    runtime = RunService(AppContext(store=store))  # settings are read once per context
    started = time.monotonic()
    plan = runtime.plan(workspace)
    took = time.monotonic() - started
    assert plan.status == RunStatus.AWAITING_APPROVAL
    assert runtime.apply(workspace).status == RunStatus.APPLIED
    assert took < baseline + notify.TIMEOUT / 2, (took, baseline)  # nobody waited on them
    hanging.wait(1)
    failing.wait(2)  # retried by the delivery process, after the run is long done


# --- delivery --------------------------------------------------------------------------------


def test_delivery_retries_a_500_three_times_with_backoff(hooks: list[Hook]) -> None:
    failing = hook(hooks, 500)
    slept: list[float] = []
    result = notify.deliver([failing.url], {"event": "halt"}, sleep=slept.append)
    assert result == {failing.url: "HTTP 500 after 4 attempts"}
    assert len(failing.wait(4)) == 4
    assert slept == [1.0, 2.0, 4.0]


def test_delivery_gives_up_on_a_webhook_that_never_answers(hooks: list[Hook]) -> None:
    hanging = hook(hooks, hang=True)
    started = time.monotonic()
    result = notify.deliver([hanging.url], {"event": "halt"}, timeout=0.5, retries=1,
                            sleep=lambda _: None)  # fmt: skip
    assert result == {hanging.url: "ReadTimeout after 2 attempts"}
    assert time.monotonic() - started < 5
    assert len(hanging.wait(2)) == 2


def test_a_refused_notification_is_not_retried_and_logged_without_the_secret_path(
    hooks: list[Hook], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing, fine = hook(hooks, 404), hook(hooks)
    log = tmp_path / "notify.log"
    message = {"urls": [refusing.url, fine.url], "body": {"event": "drift"}, "log": str(log)}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(message)))
    assert notify.main() == 0
    assert len(refusing.bodies) == 1
    assert fine.bodies == [{"event": "drift"}]
    [line] = log.read_text().splitlines()
    port = refusing.server.server_address[1]
    assert line.endswith(f"drift to http://127.0.0.1:{port}/… not delivered: HTTP 404")
    assert "s3cr3t" not in line


def test_a_webhook_setting_that_is_not_a_url_is_skipped_without_showing_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    urls = notify.webhook_urls(" https://hooks.example.com/a , not-a-url-s3cr3t,,http://x/b")
    assert urls == ["https://hooks.example.com/a", "http://x/b"]
    assert "entry 2 is not an http(s) URL" in caplog.text
    assert "s3cr3t" not in caplog.text
