"""The installed `tfctl` command, driven as a user types it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

from clihelp import REPO, ok, refused, tfctl
from tfctl.resources import examples_dir


def row_counts(home: Path) -> dict[str, int]:
    with sqlite3.connect(home / "tfctl.db") as conn:
        tables = ("stacks", "spec_versions", "workspaces", "runs")
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_version_and_help() -> None:
    import tfctl

    assert ok("--version").strip() == f"tfctl {tfctl.__version__}"
    help_text = ok("--help")
    for group in ("stack", "workspace", "init", "doctor", "db"):
        assert group in help_text
    assert "--install-completion" in help_text


def test_help_imports_no_database_code(isolated_env: Path) -> None:
    probe = (
        "import sys\n"
        "from tfctl.cli import main\n"
        "for argv in (['--help'], ['stack', '--help'], ['workspace', 'create', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('sqlalchemy', 'sqlmodel', 'alembic', 'psycopg', 'httpx', 'jinja2')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert "HEAVY []" in result.stdout
    assert not (isolated_env / "tfctl.db").exists()  # --help opened no store


def test_init_push_list_show_diff_workspace(isolated_env: Path, tmp_path: Path) -> None:
    home = isolated_env
    first = json.loads(ok("init", "--json"))
    assert first["schema"] == json.loads(ok("init", "--json"))["schema"]  # twice is harmless
    assert (home / "tfctl.db").exists()

    spec = tmp_path / "hello.yaml"
    shutil.copytree(examples_dir() / "hello" / "module", tmp_path / "module")
    spec.write_text((examples_dir() / "hello" / "stack.yaml").read_text())
    pushed = json.loads(ok("stack", "push", str(spec), "--json"))
    assert (pushed["name"], pushed["version"], pushed["created"]) == ("hello", 1, True)
    assert len(pushed["hash"]) == 64

    # The same spec as JSON with its keys in another order is the same version.
    import yaml

    document = yaml.safe_load(spec.read_text())
    (tmp_path / "hello.json").write_text(json.dumps(dict(reversed(list(document.items())))))
    again = ok("stack", "push", str(tmp_path / "hello.json"))
    assert again.strip() == f"hello: version 1 unchanged (sha256 {pushed['hash']})"

    spec.write_text(spec.read_text().replace("hello from tfctl", "bonjour"))
    assert "version 2 created" in ok("stack", "push", str(spec))

    listed = json.loads(ok("stack", "list", "--json"))
    assert [(s["name"], s["version"]) for s in listed] == [("hello", 2)]
    shown = json.loads(ok("stack", "show", "hello", "--version", "1", "--json"))
    assert shown["spec"]["variables"]["greeting"] == "hello from tfctl"
    assert shown["spec"]["module_source"] == str(tmp_path / "module")
    diff = ok("stack", "diff", "hello", "1", "2")
    assert '-    "greeting": "hello from tfctl"' in diff
    assert '+    "greeting": "bonjour"' in diff

    created = json.loads(
        ok("workspace", "create", "hello-dev", "--stack", "hello", "--var", "greeting=3", "--json")
    )
    assert created["variables"] == {"greeting": 3}
    assert created["backend"] == "local"
    assert [w["name"] for w in json.loads(ok("workspace", "list", "--json"))] == ["hello-dev"]
    assert "stack:     hello" in ok("workspace", "show", "hello-dev")


def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    isolated_env: Path, tmp_path: Path
) -> None:
    ok("init")
    before = row_counts(isolated_env)

    (tmp_path / "kind.yaml").write_text("name: a\nkind: lambda\n")
    assert "field 'kind'" in refused("stack", "push", str(tmp_path / "kind.yaml"))
    (tmp_path / "type.yaml").write_text("name: a\nkind: generic\nmodule_source: x/y\ntags: [1]\n")
    assert "field 'tags'" in refused("stack", "push", str(tmp_path / "type.yaml"))
    (tmp_path / "syntax.yaml").write_text("name: a\nkind: [generic\n")
    line = refused("stack", "push", str(tmp_path / "syntax.yaml"))
    assert f"{tmp_path / 'syntax.yaml'}:" in line
    assert "YAML syntax error" in line
    assert "no such file" in refused("stack", "push", str(tmp_path / "absent.yaml"))
    assert "no stack named 'ghost'" in refused("stack", "show", "ghost")
    assert "no stack named 'ghost'" in refused("workspace", "create", "w", "--stack", "ghost")
    assert "no workspace named 'ghost'" in refused("workspace", "show", "ghost")
    assert "--var 'oops'" in refused("workspace", "create", "w", "--stack", "a", "--var", "oops")

    assert row_counts(isolated_env) == before


def test_debug_shows_the_traceback(isolated_env: Path) -> None:
    result = tfctl("--debug", "stack", "show", "ghost")
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert "StackNotFound" in result.stderr


def test_usage_errors_exit_2() -> None:
    result = tfctl("stack", "push")
    assert result.returncode == 2
    assert "Missing argument" in result.stderr


def test_no_color_is_honoured(isolated_env: Path, tmp_path: Path) -> None:
    ok("init")
    for version in ("a", "b"):
        (tmp_path / "s.yaml").write_text(f"name: s\nkind: storage\ndescription: {version}\n")
        ok("stack", "push", str(tmp_path / "s.yaml"))
    colored = tfctl("stack", "diff", "s", "1", "2", env={"FORCE_COLOR": "1"}).stdout
    plain = tfctl("stack", "diff", "s", "1", "2", env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert "\x1b[" in colored
    assert "\x1b[" not in plain


def test_doctor_reports_settings_terraform_and_store(isolated_env: Path) -> None:
    missing = tfctl("doctor", "--json")
    assert missing.returncode == 1  # not initialised yet
    assert "tfctl init" in json.loads(missing.stdout)["store"]["error"]
    assert not (isolated_env / "tfctl.db").exists()  # doctor creates nothing

    ok("init")
    report = json.loads(
        ok("doctor", "--json", env={"ALPHASWARM_TERRAFORM_PLUGIN_CACHE_DIR": "/tmp/plugins"})
    )
    assert report["ok"] is True
    settings = {s["name"]: s for s in report["settings"]}
    assert settings["home"]["source"] == "env TFCTL_HOME"
    assert settings["terraform_plugin_cache_dir"]["source"] == (
        "env ALPHASWARM_TERRAFORM_PLUGIN_CACHE_DIR"
    )
    assert settings["terraform_bin"]["source"] == "default"
    assert report["terraform"]["version"].startswith("1.")
    assert report["store"]["schema"] == report["store"]["head"]

    broken = tfctl("doctor", env={"TFCTL_TERRAFORM_BIN": "no-such-terraform"})
    assert broken.returncode == 1
    assert "no-such-terraform" in broken.stdout


def test_wheel_ships_templates_modules_and_examples(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("tfctl-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
        names = set(archive.namelist())
    assert "tfctl/templates/generic.tf.j2" in names
    assert "tfctl/examples/hello/stack.yaml" in names
    assert any(name.startswith("tfctl/modules/") for name in names)
    assert any(n.startswith("tfctl/persistence/migrations/versions/0001") for n in names)
    probe = "from tfctl import resources as r; print(r.templates_dir(), r.modules_dir())"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
    )
    templates, modules = (Path(p) for p in result.stdout.split())
    assert templates == tmp_path / "site" / "tfctl" / "templates"
    assert modules == tmp_path / "site" / "tfctl" / "modules"


def test_backend_credentials_are_refused_before_anything_is_stored(
    isolated_env: Path, tmp_path: Path
) -> None:
    ok("init")
    (tmp_path / "s.yaml").write_text("name: s\nkind: generic\nmodule_source: x/y\n")
    ok("stack", "push", str(tmp_path / "s.yaml"))
    before = row_counts(isolated_env)
    settings = ["--backend-config", "bucket=b", "--backend-config", "key=k",
                "--backend-config", "region=r"]  # fmt: skip
    line = refused("workspace", "create", "w", "--stack", "s", "--backend", "s3", *settings,
                   "--backend-config", "secret_key=abc")  # fmt: skip
    assert "AWS_SECRET_ACCESS_KEY" in line
    assert "abc" not in line
    line = refused("workspace", "create", "w", "--stack", "s", "--backend", "s3")
    assert "missing setting 'bucket'" in line
    assert row_counts(isolated_env) == before
    created = json.loads(ok("workspace", "create", "w", "--stack", "s", "--backend", "s3",
                            "--backend-config", "bucket=b", "--backend-config", "key=k",
                            "--backend-config", "region=r",
                            "--backend-config", "endpoints.s3=http://127.0.0.1:9",
                            "--json"))  # fmt: skip
    assert created["backend_config"]["endpoints"] == {"s3": "http://127.0.0.1:9"}
