"""`tfctl doctor` reports every problem of a set-up instead of dying on the first, and a store
URL that points nowhere is refused before anything is created."""

from __future__ import annotations

import getpass
import json
import re
import shutil
from pathlib import Path

import pytest

import tfctl
from clihelp import ok, refused
from clihelp import tfctl as run_tfctl

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None, reason="doctor checks terraform too"
)


def doctor(**env: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = run_tfctl("doctor", "--json", env=env)
    assert "Traceback" not in result.stderr
    assert "error" not in result.stderr, result.stderr  # problems are rows, not a crash
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize("url", ["::bad", "postgresql+psycopg://u:pw-9f2c@db:notaport/tfctl"])
def test_an_unparseable_database_url_is_a_problem_row(url: str) -> None:
    code, report = doctor(TFCTL_DATABASE_URL=url)
    assert code == 1
    assert report["store"]["ok"] is False
    assert "TFCTL_DATABASE_URL: cannot parse" in report["store"]["error"]
    assert report["terraform"]["ok"] is True  # the rest is still checked
    assert "pw-9f2c" not in json.dumps(report)

    text = run_tfctl("doctor", env={"TFCTL_DATABASE_URL": url})
    assert text.returncode == 1
    assert text.stderr == ""
    assert re.search(r"^store: PROBLEM .*\n  TFCTL_DATABASE_URL: cannot parse", text.stdout, re.M)


def test_the_effective_store_url_and_every_variable_tfctl_reads_are_listed(
    isolated_env: Path,
) -> None:
    ok("init")
    code, report = doctor()
    assert code == 0, report
    rows = {row["env_var"]: row for row in report["settings"]}
    assert rows["TFCTL_DATABASE_URL"]["value"] == f"sqlite:///{isolated_env / 'tfctl.db'}"
    assert rows["TFCTL_DATABASE_URL"]["source"] == "default"
    assert rows["TFCTL_ACTOR"]["value"] == getpass.getuser()
    assert rows["TFCTL_DEBUG"]["value"] == "off"
    source = "\n".join(path.read_text() for path in Path(tfctl.__file__).parent.rglob("*.py"))
    read = set(re.findall(r"\bTFCTL_[A-Z][A-Z_]*[A-Z]\b", source))
    assert read <= rows.keys(), read - rows.keys()

    _, report = doctor(TFCTL_ACTOR="ci-bot", TFCTL_DEBUG="1")
    rows = {row["env_var"]: row for row in report["settings"]}
    assert (rows["TFCTL_ACTOR"]["value"], rows["TFCTL_ACTOR"]["source"]) == (
        "ci-bot",
        "env TFCTL_ACTOR",
    )
    assert rows["TFCTL_DEBUG"]["value"] == "on"


def test_a_store_url_shows_with_its_password_masked(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://tfctl:hunter2@/tfctl?host={tmp_path / 'no-server'}"
    code, report = doctor(TFCTL_DATABASE_URL=url)
    assert code == 1
    rows = {row["env_var"]: row for row in report["settings"]}
    assert rows["TFCTL_DATABASE_URL"]["value"].startswith("postgresql+psycopg://tfctl:***@/")
    assert "hunter2" not in json.dumps(report)


def test_a_missing_terraform_cli_config_file_is_a_problem_with_the_fix(tmp_path: Path) -> None:
    absent = tmp_path / ".terraformrc"
    code, report = doctor(TF_CLI_CONFIG_FILE=str(absent))
    assert code == 1
    assert report["terraform"]["ok"] is False
    assert report["terraform"]["cli_config_file"] == str(absent)
    error = report["terraform"]["error"]
    assert f"TF_CLI_CONFIG_FILE={absent} does not exist" in error
    assert f"touch {absent}" in error

    present = tmp_path / "empty.tfrc"
    present.write_text("")
    # tfctl's own setting is what runs get: it is checked, terraform's variable is not.
    code, report = doctor(TF_CLI_CONFIG_FILE=str(present), TFCTL_TERRAFORM_CLI_CONFIG_FILE="x.rc")
    assert code == 1
    assert (
        "TFCTL_TERRAFORM_CLI_CONFIG_FILE=x.rc is not an absolute path"
        in (report["terraform"]["error"])
    )
    code, report = doctor(
        TF_CLI_CONFIG_FILE=str(absent), TFCTL_TERRAFORM_CLI_CONFIG_FILE=str(present)
    )
    assert report["terraform"]["ok"] is True, report["terraform"]


def test_a_sqlite_url_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    env = {"TFCTL_DATABASE_URL": f"sqlite:///{missing / 'tfctl.db'}"}
    for argv in (("stack", "list"), ("init",)):
        line = refused(*argv, env=env)
        assert f"directory {missing} does not exist" in line
        assert f"mkdir -p {missing}" in line
    assert not missing.exists()
    code, report = doctor(**env)
    assert code == 1
    assert f"directory {missing} does not exist" in report["store"]["error"]

    missing.mkdir()
    ok("init", env=env)
    assert (missing / "tfctl.db").exists()


def test_the_embedded_store_still_makes_its_home(tmp_path: Path) -> None:
    home = tmp_path / "not" / "yet"
    ok("stack", "list", env={"TFCTL_HOME": str(home)})
    assert (home / "tfctl.db").exists()
