"""Locks held elsewhere, for the tests of ``claims`` and ``locks``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, connections, transaction
from django.db.models import F

from canvas_oauth.models import CanvasOAuth2Token


@contextmanager
def row_locked_elsewhere(pk: int) -> Iterator[threading.Event]:
    """Hold the token row locked in another thread's open transaction (ATOMIC_REQUESTS,
    a key rotation) until the block ends, or the event it gives is set."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                CanvasOAuth2Token.objects.filter(pk=pk).update(domain=F("domain"))
                held.set()
                release.wait(15)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        yield release
    finally:
        release.set()
        holder.join(10)


def lock_wait_setting(using: str = "default") -> object:
    """Return the connection's lock-wait limit, as the database reports it."""
    queries = {
        "postgresql": "SHOW lock_timeout",
        "mysql": "SELECT @@SESSION.innodb_lock_wait_timeout",
        "sqlite": "PRAGMA busy_timeout",
    }
    with connections[using].cursor() as cursor:
        cursor.execute(queries[connections[using].vendor])
        return cursor.fetchone()[0]


@contextmanager
def sqlite_connections(path: str, *aliases: str) -> Iterator[None]:
    """Add connections to one SQLite database (20 s patience) beside the test database."""
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": {"timeout": 20}}
    # configure_settings() fills in every option Django expects, and wants a default.
    configs = connections.configure_settings(
        {"default": {**connections.settings["default"]}, **{alias: sqlite for alias in aliases}}
    )
    for alias in aliases:
        connections.settings[alias] = configs[alias]
    try:
        yield
    finally:
        for alias in aliases:
            connections[alias].close()
            del connections[alias]
            del connections.settings[alias]
