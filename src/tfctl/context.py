"""The application context: settings, the job store and the actor, each built on first use.

The CLI makes one per invocation; tests make their own with explicit settings. Nothing here
runs at import time, so `tfctl --help` reads no settings and opens no database.
"""

from __future__ import annotations

import getpass
import os
import socket
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tfctl.persistence.db import Store
    from tfctl.settings import Settings


class AppContext:
    def __init__(self, settings: Settings | None = None, store: Store | None = None) -> None:
        self._settings = settings
        self._store = store
        #: set by `plan --detailed-exitcode` when it exits 2 for "changes" (not a usage error)
        self.has_changes = False

    @cached_property
    def settings(self) -> Settings:
        if self._settings is not None:
            return self._settings
        from tfctl.settings import get_settings

        return get_settings()

    @cached_property
    def store(self) -> Store:
        """The job store, migrated: the embedded SQLite store upgrades itself; a shared
        PostgreSQL store must be upgraded by `tfctl db upgrade`."""
        if self._store is not None:
            return self._store
        from tfctl.persistence.db import Store

        settings = self.settings
        # a store that answered once is waited for through outages shorter than a lease
        return Store.open(settings.store_url, auto_upgrade=settings.uses_embedded_store,
                          patience=settings.heartbeat_timeout)  # fmt: skip

    @cached_property
    def actor(self) -> str:
        """Who acts: `TFCTL_ACTOR` (e.g. a CI job's identity), else the login name."""
        actor = os.environ.get("TFCTL_ACTOR")
        if actor:
            return actor
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return f"uid:{os.getuid()}"

    @cached_property
    def host(self) -> str:
        return socket.gethostname()
