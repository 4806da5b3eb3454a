"""The command line: thin Typer commands that parse, call one core function, and render.

`main` is the console script. It answers `tfctl --version` before importing Typer, because
scripts call it in loops; everything else goes through `tfctl.cli.main.execute`.
"""

from __future__ import annotations

import sys
from typing import NoReturn


def main(argv: list[str] | None = None) -> NoReturn:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from tfctl import __version__

        print(f"tfctl {__version__}")
        sys.exit(0)
    from tfctl.cli.main import execute

    sys.exit(execute(args))
