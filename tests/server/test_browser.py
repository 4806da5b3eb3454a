"""The web UI in a real browser: Playwright driving Debian's `chromium` (never a downloaded
browser) against one `tfctl serve` app under uvicorn, with real terraform on SQLite.

A person logs in with the URL `serve` prints, plans from the list, watches the log arrive
live on the run page until the plan awaits approval, applies it and sees the outputs; a
destroy plan is refused without the workspace's name; a slow apply is halted from the page.
Each page is saved as a screenshot in the test's tmp_path.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serverkit import SECRET, LiveServer, serve_options
from tfctl.context import AppContext
from tfctl.persistence.db import Store
from tfctl.server.app import create_app
from tfctl.server.tokens import create_token

playwright_api = pytest.importorskip("playwright.sync_api")
# CI installs chromium (.ci/run); elsewhere the tests are skipped without it.
NO_BROWSER = shutil.which("chromium") is None and os.environ.get("CI", "") != "true"
pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(NO_BROWSER, reason="needs Debian's chromium (apt-get install chromium)"),
]

# Records, across the reloads of a run page, how many log lines arrived through the live
# stream (appended to #log after the page loaded) and which statuses the badge showed.
WATCH_LIVE = """
addEventListener("DOMContentLoaded", () => {
  const log = document.getElementById("log");
  const badge = document.querySelector(".runline [data-status]");
  const seen = (key, value) => sessionStorage.setItem(key, value);
  if (log) new MutationObserver((changes) => {
    const added = changes.reduce((n, c) => n + c.addedNodes.length, 0);
    seen("streamed", String(Number(sessionStorage.getItem("streamed") || 0) + added));
  }).observe(log, {childList: true});
  if (badge) new MutationObserver(() => {
    const statuses = JSON.parse(sessionStorage.getItem("statuses") || "[]");
    statuses.push(badge.textContent);
    seen("statuses", JSON.stringify(statuses));
  }).observe(badge, {childList: true, characterData: true, subtree: true});
});
"""


class Site:
    def __init__(self, server: LiveServer, token: str, store: Store, out: dict[str, Path]):
        self.server, self.token, self.store, self.out = server, token, store, out

    @property
    def login_url(self) -> str:
        return f"{self.server.url}/login?token={self.token}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One server for the module: stacks `files` (two versions) and `files-slow`, workspaces
    `web` and `slow`, two embedded worker slots, an admin token."""
    root = tmp_path_factory.mktemp("browser")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TFCTL_HOME", str(root / "home"))
        store = Store.open(f"sqlite:///{root / 'store.db'}", auto_upgrade=True)
        ctx = AppContext(store=store)
        _ = ctx.settings.home  # settled now, with this module's home
    out = {name: root / f"out-{name}" for name in ("web", "slow")}
    for path in out.values():
        path.mkdir()
    setup(store, root, out)
    token = create_token(store, "alice", role="admin", created_by="test")[1]
    app = create_app(ctx, serve_options(workers=2))
    with LiveServer(app) as server:
        yield Site(server, token, store, out)
    store.engine.dispose()


def setup(store: Store, root: Path, out: dict[str, Path]) -> None:
    from filestack import FILES_MODULE
    from tfctl.stacks import push_spec_file
    from tfctl.workspaces import create_workspace

    def push(name: str, **variables: Any) -> None:
        spec = root / f"{name}.json"
        document = {"name": name, "kind": "generic", "module_source": str(FILES_MODULE),
                    "variables": variables}  # fmt: skip
        spec.write_text(json.dumps(document))
        push_spec_file(store, spec, author="test")

    push("files", names=["a"])
    push("files", names=["a", "b"], content="hello again")
    push("files-slow", names=["s"], sleep_seconds=30)
    for name, stack in (("web", "files"), ("slow", "files-slow")):
        create_workspace(store, name, stack=stack, backend="local", backend_config={},
                         variables={"dir": str(out[name])})  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=shutil.which("chromium"))
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(WATCH_LIVE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(site.login_url)
    page.wait_for_url("**/infra/terraform")
    yield page
    context.close()
    assert not [e for e in errors if "status of 4" not in e], errors  # refused calls are 4xx


def status_of(page: Any) -> Any:
    return page.locator(".runline [data-status]")


def shot(page: Any, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_plan_from_the_list_watch_it_live_apply_and_see_the_outputs(
    page: Any, site: Site, tmp_path: Path
) -> None:
    expect = playwright_api.expect
    row = page.locator('tr[data-workspace="web"]')
    expect(row).to_contain_text("files")
    expect(page.locator("header")).to_contain_text("alice (admin)")
    shot(page, tmp_path, "workspaces")

    row.locator('form:has(input[value="plan"]) button').click()
    page.wait_for_url("**/infra/terraform/runs/run-*")
    expect(status_of(page)).to_have_text("awaiting approval", timeout=90_000)
    streamed = int(page.evaluate("sessionStorage.getItem('streamed') || '0'"))
    assert streamed > 0, "no log line arrived through the live stream"
    seen = json.loads(page.evaluate("sessionStorage.getItem('statuses') || '[]'"))
    assert "awaiting approval" in seen
    expect(page.locator("#log")).to_contain_text("Plan: 3 to add")
    expect(page.locator("table.plan")).to_contain_text('terraform_data.file["b"]')
    expected = "Plan: 3 to add, 0 to change, 0 to destroy, 0 to replace."
    expect(page.locator(".counts")).to_have_text(expected)
    assert SECRET not in page.content()
    shot(page, tmp_path, "run-plan")

    # the list offers Apply for the plan awaiting approval, with its changes in words
    page.goto(f"{site.server.url}/infra/terraform")
    pending = row.locator(".pending")
    expect(pending).to_contain_text("plan awaiting approval")
    expect(pending).to_contain_text("+3 ~0 -0")
    pending.locator("form.apply button").click()
    page.wait_for_url("**/infra/terraform/runs/run-*")
    expect(status_of(page)).to_have_text("applied", timeout=90_000)
    outputs = page.locator("table.outputs")
    expect(outputs).to_contain_text(str(site.out["web"] / "b"))
    expect(outputs).to_contain_text("(sensitive)")
    assert SECRET not in page.content()
    assert (site.out["web"] / "b").read_text() == "hello again\n"
    shot(page, tmp_path, "run-apply")

    page.goto(f"{site.server.url}/infra/terraform/workspaces/web")
    expect(page.locator("table.outputs")).to_contain_text("hello again")
    expect(page.locator("table.runs")).to_contain_text("apply")
    shot(page, tmp_path, "workspace")


def test_a_destroy_plan_is_refused_without_the_workspace_name(
    page: Any, site: Site, tmp_path: Path
) -> None:
    expect = playwright_api.expect
    page.locator('tr[data-workspace="web"] form:has(input[value="destroy"]) button').click()
    page.wait_for_url("**/infra/terraform/runs/run-*")
    expect(status_of(page)).to_have_text("awaiting approval", timeout=90_000)
    plan_url = page.url
    apply = page.locator("form.apply")
    apply.locator("button").click()
    expect(apply.locator("output.error")).to_contain_text("workspace's name")
    apply.locator('input[name="confirm"]').fill("prod")
    apply.locator("button").click()
    expect(apply.locator("output.error")).to_contain_text("'prod' is not the workspace's name")
    assert page.url == plan_url
    expect(status_of(page)).to_have_text("awaiting approval")
    shot(page, tmp_path, "destroy-refused")
    assert (site.out["web"] / "a").exists()

    apply.locator('input[name="confirm"]').fill("web")
    apply.locator("button").click()
    page.wait_for_url(lambda url: url != plan_url)
    expect(status_of(page)).to_have_text("applied", timeout=90_000)
    assert not (site.out["web"] / "a").exists()


def test_halt_a_slow_apply_from_the_page(page: Any, site: Site, tmp_path: Path) -> None:
    expect = playwright_api.expect
    page.locator('tr[data-workspace="slow"] form:has(input[value="plan"]) button').click()
    expect(status_of(page)).to_have_text("awaiting approval", timeout=90_000)
    page.locator("form.apply button").click()
    page.wait_for_url("**/infra/terraform/runs/run-*")
    expect(page.locator("#log")).to_contain_text("Provisioning with 'local-exec'", timeout=90_000)
    expect(status_of(page)).to_have_text("running")
    apply_url = page.url

    page.locator("details#halt summary").click()
    halt = page.locator("details#halt form")
    halt.locator('select[name="workspace"]').select_option("slow")
    halt.locator('input[name="reason"]').fill("incident 12: bad deploy")
    halt.locator("button").click()
    expect(page.locator("#halt-banner")).to_contain_text("incident 12", timeout=30_000)
    expect(status_of(page)).to_have_text("cancelled (halted)", timeout=60_000)
    assert page.url == apply_url
    expect(page.locator(".facts")).to_contain_text("halted by alice: incident 12: bad deploy")
    shot(page, tmp_path, "halted")


def test_stacks_catalog_diff_and_a_phone_screen(page: Any, site: Site, tmp_path: Path) -> None:
    expect = playwright_api.expect
    page.goto(f"{site.server.url}/infra/terraform/stacks")
    files = page.locator("#stack-files")
    expect(files.locator("table.versions")).to_contain_text("v2")
    files.locator("form.diff-form button").click()
    diff = page.locator("#diff")
    expect(diff).to_contain_text('"hello again"')
    expect(diff.locator(".d-removed")).not_to_have_count(0)
    shot(page, tmp_path, "stacks")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{site.server.url}/infra/terraform")
    expect(page.locator('tr[data-workspace="slow"]')).to_contain_text("cancelled")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the list is {width}px wide on a 390px phone"
    shot(page, tmp_path, "workspaces-phone")
