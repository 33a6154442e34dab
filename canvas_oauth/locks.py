"""Row locks for single-flight refresh, each database in the way it understands.

PostgreSQL and MariaDB/MySQL lock the token row with ``SELECT … FOR UPDATE`` and wait for
at most a bounded time. SQLite has no row locks: a per-process lock keeps threads from
queueing on SQLite itself, and for a database file a no-op ``UPDATE`` takes SQLite's
write lock, which other processes wait for (at most the same bounded time). An in-memory
SQLite database lives in one process, so the per-process lock is all it needs.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.db import connections, router, transaction

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import QuerySet

    from canvas_oauth.models import CanvasOAuth2Token

# Entries vanish once no thread holds or waits for the lock, so the map stays small.
_process_locks: weakref.WeakValueDictionary[tuple[str, int], threading.Lock] = (
    weakref.WeakValueDictionary()
)
_process_locks_guard = threading.Lock()


class LockTimeout(Exception):
    """The row lock was not granted within the allowed time."""


def _process_lock(key: tuple[str, int]) -> threading.Lock:
    with _process_locks_guard:
        lock = _process_locks.get(key)
        if lock is None:
            lock = _process_locks[key] = threading.Lock()
        return lock


@contextmanager
def locked_token(token: CanvasOAuth2Token, wait: float) -> Iterator[CanvasOAuth2Token | None]:
    """Yield the row of ``token`` freshly read under an exclusive lock, or None if gone.

    The lock is held until the block ends, inside one transaction; raise ``LockTimeout``
    (or the database's own lock-timeout error) when it cannot be had within ``wait``
    seconds.
    """
    model = type(token)
    # The lock must be taken where the row is written, whatever a router reads from.
    alias = router.db_for_write(model, instance=token)
    connection = connections[alias]
    deadline = time.monotonic() + wait
    guard = None
    if connection.vendor == "sqlite":
        guard = _process_lock((alias, token.pk))
        if not guard.acquire(timeout=wait):
            raise LockTimeout()
    try:
        rows = model._default_manager.db_manager(alias).filter(pk=token.pk)
        with transaction.atomic(using=alias):
            with _bounded_wait(connection, deadline - time.monotonic()):
                row = _lock_row(connection, rows, token)
            yield row
    finally:
        if guard is not None:
            guard.release()


def _lock_row(
    connection: BaseDatabaseWrapper, rows: QuerySet, token: CanvasOAuth2Token
) -> CanvasOAuth2Token | None:
    if connection.vendor != "sqlite":
        return rows.select_for_update().first()
    if not connection.is_in_memory_db():
        # Takes SQLite's write lock now rather than at the first real write.
        rows.update(domain=token.domain)
    return rows.first()


@contextmanager
def _bounded_wait(connection: BaseDatabaseWrapper, seconds: float) -> Iterator[None]:
    """Make lock requests in the block wait at most ``seconds``; restore the limit after.

    Only the lock request is bounded: a later wait (the commit taking SQLite's exclusive
    lock, say) has the connection's usual patience.
    """
    seconds = max(seconds, 0.001)
    vendor = connection.vendor
    if vendor == "postgresql":
        read = "SELECT current_setting('lock_timeout')"
        # Local to the transaction; "0ms" would mean no limit at all.
        bound = f"{math.ceil(seconds * 1000)}ms"
        write = "SELECT set_config('lock_timeout', %s, true)"
    elif vendor == "mysql":
        read = "SELECT @@SESSION.innodb_lock_wait_timeout"
        bound = max(1, math.ceil(seconds))  # whole seconds, at least one
        write = "SET SESSION innodb_lock_wait_timeout = %s"
    elif vendor == "sqlite" and not connection.is_in_memory_db():
        read = "PRAGMA busy_timeout"
        bound = math.ceil(seconds * 1000)
        write = "PRAGMA busy_timeout = %d"  # PRAGMA takes no parameters; values are ints
    else:
        yield
        return

    def set_limit(value: object) -> None:
        with connection.cursor() as cursor:
            if vendor == "sqlite":
                cursor.execute(write % int(value))  # type: ignore[call-overload]
            else:
                cursor.execute(write, [value])

    def put_back_in_broken_transaction(value: object) -> None:
        # Django refuses queries in a transaction marked for rollback (a failed UPDATE
        # marks it), but these limits belong to the connection, not the transaction: put
        # the limit back through the driver, or the lowered limit would outlive the
        # request on a persistent connection and hide the real error.
        raw = connection.connection.cursor()
        try:
            if vendor == "sqlite":
                raw.execute(write % int(value))  # type: ignore[call-overload]
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
