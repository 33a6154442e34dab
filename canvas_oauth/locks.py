"""Bounded lock waits, each database in the way it understands.

A refresh claims its token row with one short UPDATE (``canvas_oauth.claims``). That
UPDATE can meet a row or database locked by someone else's transaction: a request running
under ``ATOMIC_REQUESTS``, a key rotation, another process's write on SQLite. It must wait
a bounded time, not the database's default (PostgreSQL: forever).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar, cast

from django.db import OperationalError, connections

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper

T = TypeVar("T")

# How long a query on an in-memory SQLite database retries while its table is locked.
TABLE_LOCK_WAIT = 1.0


def patiently(alias: str, query: Callable[[], T]) -> T:
    """Run ``query``, again while an in-memory SQLite database says its table is locked.

    Threads sharing an in-memory database (test suites, mostly) get "database table is
    locked" at once while another thread writes, instead of waiting as they would for a
    database file; every other database waits by itself.
    """
    deadline = time.monotonic() + TABLE_LOCK_WAIT
    while True:
        try:
            return query()
        except OperationalError as exc:
            connection = connections[alias]
            if not (
                connection.vendor == "sqlite"
                and cast("SQLiteWrapper", connection).is_in_memory_db()
                and "table is locked" in str(exc)
                and time.monotonic() < deadline
            ):
                raise
        time.sleep(0.005)


@contextmanager
def bounded_wait(connection: BaseDatabaseWrapper, seconds: float) -> Iterator[None]:
    """Make lock requests in the block wait at most ``seconds``; restore the limit after.

    Only the lock request is bounded: a later wait (the commit taking SQLite's exclusive
    lock, say) has the connection's usual patience.
    """
    seconds = max(seconds, 0.001)
    vendor = connection.vendor
    bound: int | str
    if vendor == "postgresql":
        read = "SELECT current_setting('lock_timeout')"
        # Local to the transaction; "0ms" would mean no limit at all.
        bound = f"{math.ceil(seconds * 1000)}ms"
        write = "SELECT set_config('lock_timeout', %s, true)"
    elif vendor == "mysql":
        read = "SELECT @@SESSION.innodb_lock_wait_timeout"
        bound = max(1, math.ceil(seconds))  # whole seconds, at least one
        write = "SET SESSION innodb_lock_wait_timeout = %s"
    elif vendor == "sqlite" and not cast("SQLiteWrapper", connection).is_in_memory_db():
        read = "PRAGMA busy_timeout"
        bound = math.ceil(seconds * 1000)
        write = "PRAGMA busy_timeout = %d"  # PRAGMA takes no parameters; values are ints
    else:
        yield
        return

    def set_limit(value: int | str) -> None:
        with connection.cursor() as cursor:
            if vendor == "sqlite":
                cursor.execute(write % int(value))
            else:
                cursor.execute(write, [value])

    def put_back_in_broken_transaction(value: int | str) -> None:
        # Django refuses queries in a transaction marked for rollback (a failed UPDATE
        # marks it), but these limits belong to the connection, not the transaction: put
        # the limit back through the driver, or the lowered limit would outlive the
        # request on a persistent connection and hide the real error.
        raw = connection.connection.cursor()
        try:
            if vendor == "sqlite":
                raw.execute(write % int(value))
            else:
                raw.execute(write, [value])
        finally:
            raw.close()

    with connection.cursor() as cursor:
        cursor.execute(read)
        (previous,) = cursor.fetchone()
    set_limit(bound)
    granted = False
    try:
        yield
        granted = True
    finally:
        # A failed lock request aborts a PostgreSQL transaction, and its rollback undoes
        # the setting; the other databases keep it until it is put back.
        if granted:
            set_limit(previous)
        elif vendor != "postgresql":
            put_back_in_broken_transaction(previous)
