"""The console script leaves without interpreter teardown, and loses nothing doing so."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def run(code: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          timeout=60)  # fmt: skip


def test_output_is_flushed_and_the_code_kept() -> None:
    done = run(
        """
        import logging, sys
        from tfctl.cli import exit_without_teardown
        logging.basicConfig(stream=sys.stderr)
        logging.getLogger("x").warning("to stderr")
        sys.stdout.write("x" * 200_000)  # more than any buffer
        exit_without_teardown(3)
        """
    )
    assert done.returncode == 3
    assert done.stdout == b"x" * 200_000
    assert b"to stderr" in done.stderr


def test_a_running_thread_is_waited_for(tmp_path: Path) -> None:
    marker = tmp_path / "written"
    done = run(
        f"""
        import threading, time
        from pathlib import Path
        from tfctl.cli import exit_without_teardown
        def later():
            time.sleep(0.3)
            Path({str(marker)!r}).write_text("done")
        threading.Thread(target=later).start()
        exit_without_teardown(0)
        """
    )
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "done"
