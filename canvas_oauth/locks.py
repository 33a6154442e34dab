"""Row locks for single-flight refresh, each database in the way it understands.

PostgreSQL and MariaDB/MySQL lock the token row with ``SELECT … FOR UPDATE`` and wait for
at most a bounded time. SQLite has no row locks: a no-op ``UPDATE`` takes its database
write lock instead, and a per-process lock keeps threads from queueing on SQLite itself.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.db import connections, transaction

if TYPE_CHECKING:
    from canvas_oauth.models import CanvasOAuth2Token

_process_locks: dict[tuple[int, str], threading.Lock] = {}
_process_locks_guard = threading.Lock()


class LockTimeout(Exception):
    """The row lock was not granted within the allowed time."""


def _process_lock(key: tuple[int, str]) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


@contextmanager
def locked_token(token: CanvasOAuth2Token, wait: float) -> Iterator[CanvasOAuth2Token | None]:
    """Yield the row of ``token`` freshly read under an exclusive lock, or None if gone.

    The lock is held until the block ends, inside one transaction; raise ``LockTimeout``
    when it cannot be had within ``wait`` seconds.
    """
    model = type(token)
    alias = model.objects.db_manager().db
    vendor = connections[alias].vendor
    guard = _process_lock((token.user_id, token.domain)) if vendor == "sqlite" else None
    if guard is not None and not guard.acquire(timeout=wait):
        raise LockTimeout()
    try:
        with _bounded_lock_wait(alias, vendor, wait), transaction.atomic(using=alias):
            if vendor == "postgresql":
                with connections[alias].cursor() as cursor:
                    # SET LOCAL ends with the transaction.
                    cursor.execute("SET LOCAL lock_timeout = %s", [f"{int(wait * 1000)}ms"])
            rows = model.objects.using(alias).filter(pk=token.pk)
            if vendor == "sqlite":
                # Takes SQLite's write lock now rather than at the first real write.
                rows.update(domain=token.domain)
                yield rows.first()
            else:
                yield rows.select_for_update().first()
    finally:
        if guard is not None:
            guard.release()


@contextmanager
def _bounded_lock_wait(alias: str, vendor: str, wait: float) -> Iterator[None]:
    """Bound MySQL's lock wait, which is a session variable, and put it back after."""
    if vendor != "mysql":
        yield
        return
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT @@SESSION.innodb_lock_wait_timeout")
        (previous,) = cursor.fetchone()
        cursor.execute("SET SESSION innodb_lock_wait_timeout = %s", [max(1, math.ceil(wait))])
    try:
        yield
    finally:
        with connections[alias].cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = %s", [previous])
