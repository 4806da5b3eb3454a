"""Running the server: bind the port, make the first admin token if none exists, serve with
uvicorn, and drain on SIGTERM / Ctrl-C."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from tfctl import errors
from tfctl.server.app import ServeOptions, create_app, stop_server_work
from tfctl.server.tokens import ensure_first_admin

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tfctl.context import AppContext


class _Server(uvicorn.Server):
    """uvicorn, draining the server's own work first when a signal asks it to stop: the
    worker slots stop claiming and cancel their runs, open streams end, then uvicorn stops
    accepting and waits for the requests in flight. Exits normally (no re-raised signal)."""

    def __init__(
        self, config: uvicorn.Config, app: FastAPI, say: Callable[[str], None],
        banner: Callable[[], None],
    ) -> None:  # fmt: skip
        super().__init__(config)
        self.app, self.say, self.banner = app, say, banner

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.banner()  # only now: the signal handlers that drain are in place

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            name = signal.Signals(sig).name
            self.say(f"tfctl serve: {name}: draining (runs in progress are cancelled gracefully)")
            reason = f"tfctl serve received {name}"
            threading.Thread(target=stop_server_work, args=(self.app,), kwargs={"reason": reason},
                             daemon=True).start()  # fmt: skip
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port` (0: a free port); `InvalidInput` if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without, a response written in two parts (headers,
    # body) waits ~40 ms for the client's delayed ACK (Nagle), capping a client at ~25 req/s.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise errors.InvalidInput(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror}); "
            "choose another --port, or stop what uses it"
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run_server(ctx: AppContext, options: ServeOptions, *, say: Callable[[str], None]) -> None:
    """Serve until stopped. Prints where, and, when no token existed, the one-time login URL
    of the admin token it creates."""
    sock = bind(options.host, options.port)
    port = sock.getsockname()[1]
    url = base_url(options.host, port)
    first = ensure_first_admin(ctx.store, created_by=ctx.actor)
    app = create_app(ctx, options)
    slots = f"{options.workers} worker slot(s)" if options.workers else "no worker slots"

    def banner() -> None:
        say(f"tfctl serve: listening on {url} (store {ctx.store.url}, {slots})")
        if first is not None:
            token, secret = first
            say(f"tfctl serve: no token existed; created the admin token '{token.name}'. "
                "Log in with this URL (shown only once):")  # fmt: skip
            print(f"{url}/login?token={secret}", flush=True)

    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="auto",
                            timeout_graceful_shutdown=10, server_header=False)  # fmt: skip
    _Server(config, app, say, banner).run(sockets=[sock])
    say("tfctl serve: stopped")
