"""The drift result where a user looks over HTTP: the workspace objects of the API and the
workspace list's badge, from real assessments."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from filestack import push_files
from serverkit import Api, files_setup
from tfctl.context import AppContext
from tfctl.runs.service import RunService

pytestmark = pytest.mark.terraform


def badge(api: Api) -> str:
    page = api.get("/infra/terraform", role="viewer")
    assert page.status_code == 200, page.text
    found = re.search(r'class="badge drift-[a-z-]+"[^>]*>([^<]+)<', page.text)
    assert found is not None, page.text
    return found.group(1)


def test_the_badge_and_the_api_say_what_the_latest_assessment_found(
    api: Api, tmp_path: Path
) -> None:
    files_setup(api.store, tmp_path)
    runs = RunService(AppContext(store=api.store))
    assert badge(api) == "not checked"
    runs.plan("dev")
    runs.apply("dev")
    runs.assess(["dev"])
    assert badge(api) == "in sync"
    push_files(api.store, tmp_path, names=["a", "b"])  # a newer spec version, not applied
    runs.assess(["dev"])
    assert badge(api) == "drifted"
    drift = api.get("/terraform/workspaces/dev", role="viewer").json()["drift"]
    assert drift["result"] == "drifted"
