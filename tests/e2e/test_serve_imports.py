"""The server stack loads only inside `tfctl serve`: help and the run commands' help import
none of FastAPI, Starlette or uvicorn (they would cost every command ~0.3 s)."""

from __future__ import annotations

import subprocess
import sys

SERVER_STACK = ("fastapi", "starlette", "uvicorn", "websockets", "tfctl.server.app")


def test_help_and_run_commands_do_not_import_the_server_stack() -> None:
    probe = (
        "import sys\n"
        "from tfctl.cli import main\n"
        "for argv in (['--help'], ['runs', '--help'], ['serve', '--help'], ['token', '--help'],\n"
        "             ['token', 'create', '--help'], ['plan', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print('LOADED', sorted(m for m in {SERVER_STACK!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert "LOADED []" in result.stdout
    assert "tfctl serve" not in result.stderr
