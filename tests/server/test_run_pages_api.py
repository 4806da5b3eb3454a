"""The API's run lists a page at a time: the JSON array as before, and a `Link: rel="next"`
header whose URL (same filters, an opaque `after` cursor) gives the next page, until the
last page has none; a cursor that is not one is a 400 with one clear message."""

from __future__ import annotations

from typing import Any

from manyruns import make_runs
from serverkit import Api


def walk(api: Api, url: str) -> tuple[list[str], int]:
    seen: list[str] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        response = api.get(next_url, role="viewer")
        assert response.status_code == 200, response.text
        body: list[dict[str, Any]] = response.json()
        assert isinstance(body, list)
        seen += [run["id"] for run in body]
        pages += 1
        next_url = response.links.get("next", {}).get("url")
    return seen, pages


def test_runs_come_a_page_at_a_time_by_the_next_link(api: Api) -> None:
    made = make_runs(api.store, 14, tie=3)

    everything, pages = walk(api, "/terraform/runs?limit=4")
    assert everything == [run.id for run in made]
    assert pages == 4  # 4 + 4 + 4 + 2: the last page has no next link

    dev_failed = [r.id for r in made if r.workspace == "dev" and r.status in ("errored", "applied")]
    url = "/terraform/runs?workspace=dev&status=errored&status=applied&limit=2"
    assert walk(api, url)[0] == dev_failed

    listed = api.get("/terraform/runs", role="viewer")  # the parameters of before still work
    assert [run["id"] for run in listed.json()] == [run.id for run in made]
    assert "link" not in listed.headers
    assert set(listed.json()[0]) >= {"id", "workspace", "status", "created_at", "waiting_for"}

    in_workspace = [run.id for run in made if run.workspace == "prod"]
    assert walk(api, "/terraform/workspaces/prod/runs?limit=3")[0] == in_workspace


def test_a_bad_cursor_is_a_400_with_one_clear_message(api: Api) -> None:
    make_runs(api.store, 3)
    for path in ("/terraform/runs?after=bogus", "/terraform/workspaces/dev/runs?after=x%21"):
        response = api.get(path, role="viewer")
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert "is not one this list gave" in error["message"]
