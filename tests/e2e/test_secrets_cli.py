"""Sensitive workspace variables through the installed `tfctl` command, on SQLite and on
PostgreSQL: `--var-sensitive` is write-only, encrypted at rest, reaches terraform, and after a
full plan / apply / destroy cycle its value is nowhere — not in the store, not under the tfctl
home (logs, run directories, state, plan files), not in anything any command printed."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from clihelp import tfctl
from pg import PostgresServer

pytestmark = pytest.mark.terraform

SECRET = "s3cr3t-Zq81vXw2-only-here"
MODULE = Path(__file__).resolve().parents[1] / "fixtures" / "modules" / "secretuse"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The embedded SQLite store in the home, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    with server.database() as url:
        monkeypatch.setenv("TFCTL_DATABASE_URL", url)
        yield url


class Cli:
    """Runs tfctl and keeps everything it printed."""

    def __init__(self) -> None:
        self.printed: list[str] = []

    def __call__(self, *args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
        result = tfctl(*args, env=env)
        self.printed += [result.stdout, result.stderr]
        assert result.returncode == code, (args, result.stdout, result.stderr)
        return str(result.stdout)


def push_stack(cli: Cli, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    spec = {"name": "secretuse", "kind": "generic", "module_source": str(MODULE)}
    (tmp_path / "secretuse.json").write_text(json.dumps(spec))
    cli("init")
    cli("stack", "push", str(tmp_path / "secretuse.json"))
    return out


def test_a_sensitive_variable_is_nowhere_after_a_full_cycle(
    isolated_env: Path, tmp_path: Path, store: str
) -> None:
    cli = Cli()
    out = push_stack(cli, tmp_path)
    cli("workspace", "create", "dev", "--stack", "secretuse", "--var", f"dir={out}",
        "--var-sensitive", f"api_token={SECRET}")  # fmt: skip
    shown = json.loads(cli("workspace", "show", "dev", "--json"))
    assert shown["sensitive_variables"] == ["api_token"]
    assert "api_token" not in shown["variables"]
    assert "api_token = (sensitive)" in cli("workspace", "show", "dev")
    cli("workspace", "list")
    cli("workspace", "list", "--json")

    plan = json.loads(cli("plan", "dev", "--json"))
    assert plan["status"] == "awaiting_approval"
    assert json.loads(cli("apply", "dev", "--auto-approve", "--json"))["status"] == "applied"
    assert (out / "used").read_text() == hashlib.sha256(SECRET.encode()).hexdigest() + "\n"
    cli("destroy", "dev", "--auto-approve", "--confirm", "dev", "--json")
    assert not (out / "used").exists()

    for run in json.loads(cli("runs", "list", "--json")):
        cli("runs", "show", run["id"], "--json")
        cli("runs", "logs", run["id"])
    for args in (("state", "show", "dev", "--json"), ("state", "outputs", "dev", "--json")):
        cli(*args)

    hits = [f"output {i}" for i, text in enumerate(cli.printed) if SECRET in text]
    hits += found_under(isolated_env)
    if store != "sqlite":  # the SQLite store is a file in the home, searched above
        hits += found_in_postgres(store)
    assert hits == []
    assert not (isolated_env / "secret.key").stat().st_mode & 0o077  # created by init, 0600


def found_under(root: Path) -> list[str]:
    """Files under `root` holding the secret, zip archives (plan files) opened."""
    needle = SECRET.encode()
    hits = []
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        if needle in data:
            hits.append(str(path))
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                hits += [f"{path}!{n}" for n in archive.namelist() if needle in archive.read(n)]
    return hits


def found_in_postgres(url: str) -> list[str]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    hits = []
    with psycopg.connect(dsn) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]  # fmt: skip
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                text = repr(row).encode() + b"".join(v for v in row if isinstance(v, bytes))
                if SECRET.encode() in text:
                    hits.append(f"table {table}")
    return hits


def test_rotate_key_re_encrypts_and_runs_still_read_the_values(
    isolated_env: Path, tmp_path: Path
) -> None:
    cli = Cli()
    out = push_stack(cli, tmp_path)
    cli("workspace", "create", "dev", "--stack", "secretuse", "--var", f"dir={out}")
    cli("workspace", "update", "dev", "--var-sensitive", "api_token",
        env={"TF_VAR_api_token": SECRET})  # fmt: skip  # NAME alone: from the environment
    key_file = isolated_env / "secret.key"
    before = key_file.read_text()

    rotated = json.loads(cli("secrets", "rotate-key", "--json"))
    assert (rotated["values"], rotated["workspaces"]) == (1, 1)
    after = key_file.read_text()
    assert after != before
    assert len(after.split()) == 1  # the old key left the file once everything moved
    assert key_file.stat().st_mode & 0o777 == 0o600

    cli("apply", "dev", "--auto-approve")
    assert (out / "used").read_text() == hashlib.sha256(SECRET.encode()).hexdigest() + "\n"

    key_file.write_text(before)  # the old key alone no longer opens the values
    failed = tfctl("plan", "dev")
    assert failed.returncode == 2, failed.stderr
    assert "sensitive variable api_token cannot be decrypted" in failed.stderr
    assert SECRET not in failed.stdout + failed.stderr


def test_rotate_key_with_one_key_in_the_environment_says_what_to_do(isolated_env: Path) -> None:
    key = tfctl("secrets", "keygen").stdout.strip()
    result = tfctl("secrets", "rotate-key", env={"TFCTL_SECRET_KEY": key})
    assert result.returncode == 2
    assert "TFCTL_SECRET_KEY holds one key" in result.stderr
    assert key not in result.stderr


def test_store_copy_carries_the_values_encrypted(
    isolated_env: Path, tmp_path: Path, pg_server: PostgresServer
) -> None:
    cli = Cli()
    out = push_stack(cli, tmp_path)
    cli("workspace", "create", "dev", "--stack", "secretuse", "--var", f"dir={out}",
        "--var-sensitive", f"api_token={SECRET}")  # fmt: skip
    with pg_server.database() as url:
        cli("store", "copy", "--to", url)
        assert found_in_postgres(url) == []
        env = {"TFCTL_DATABASE_URL": url}
        shown = json.loads(cli("workspace", "show", "dev", "--json", env=env))
        assert shown["sensitive_variables"] == ["api_token"]
        cli("apply", "dev", "--auto-approve", env=env)  # the same key opens them there
    assert (out / "used").read_text() == hashlib.sha256(SECRET.encode()).hexdigest() + "\n"


def test_sensitive_and_plain_of_one_name_are_refused(isolated_env: Path, tmp_path: Path) -> None:
    cli = Cli()
    out = push_stack(cli, tmp_path)
    result = tfctl("workspace", "create", "dev", "--stack", "secretuse", "--var", f"dir={out}",
                   "--var", "api_token=x", "--var-sensitive", f"api_token={SECRET}")  # fmt: skip
    assert result.returncode == 2
    assert "--var api_token and --var-sensitive api_token: pick one" in result.stderr
    assert SECRET not in result.stderr
    assert "TF_VAR_api_token" not in os.environ
    missing = tfctl("workspace", "create", "dev", "--stack", "secretuse", "--var",
                    f"dir={out}", "--var-sensitive", "api_token")  # fmt: skip
    assert missing.returncode == 2
    assert "give NAME=VALUE, or set TF_VAR_api_token" in missing.stderr
