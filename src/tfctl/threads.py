"""Background threads leave Ctrl-C and SIGTERM to the main thread.

The kernel delivers a process-directed signal to any thread that does not block it. Python
runs its handler in the main thread, but only once that thread gets control: if the signal
lands on a background thread (a log flusher, a lease keeper, a pipe reader) while the main
thread is blocked in a read — the `Apply plan …? [y/N]` prompt — the read is not interrupted
and Ctrl-C does nothing. Every thread tfctl starts calls `block_signals()` first, so these
signals always reach the main thread.
"""

from __future__ import annotations

import signal

SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def block_signals() -> None:
    """Block SIGINT and SIGTERM in the calling thread (never call it in the main thread)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
