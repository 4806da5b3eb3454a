"""The command line: thin Typer commands that parse, call one core function, and render.

`main` is the console script. It answers `tfctl --version` before importing Typer, because
scripts call it in loops; everything else goes through `tfctl.cli.main.execute`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn


def main(argv: list[str] | None = None) -> NoReturn:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from tfctl import __version__

        print(f"tfctl {__version__}")
        sys.exit(0)
    from tfctl.cli.main import execute

    code = execute(args)
    if argv is not None:  # called from Python (tests, embedding): a normal exit
        sys.exit(code)
    exit_without_teardown(code)


def exit_without_teardown(code: int) -> NoReturn:
    """Leave without the interpreter's teardown of ~1,000 imported modules (0.1-0.3 s on a
    2-core VM, paid by every command; measured again for the run-service change: 10 runs of
    `tfctl runs list` 9.6-10.2 s against 11.5-12.4 s with a normal exit): flush the output,
    close the store's connections and the log handlers, then `os._exit`. atexit handlers do
    not run: tfctl registers none, and its temporary directories are closed by `with`.
    Falls back to a normal exit while another non-daemon thread is still running."""
    import threading

    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    db = sys.modules.get("tfctl.persistence.db")
    if db is not None:
        db.dispose_open_engines()
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that went away (`| head`)
            stream.flush()
    os._exit(code)
