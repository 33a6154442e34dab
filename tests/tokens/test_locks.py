"""Bounded lock waits, each database in the way it understands (``canvas_oauth.locks``).

The tests on the default connection run on whichever database ``DATABASE_URL`` names
(SQLite in memory, PostgreSQL, MariaDB); the SQLite file and in-memory cases run on their
own connections beside it, whatever the default is.
"""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, OperationalError, connection, connections, transaction
from django.db.models import F

from canvas_oauth import locks
from canvas_oauth.locks import bounded_wait, patiently
from canvas_oauth.models import CanvasOAuth2Token
from tests.tokens.locking import lock_wait_setting, row_locked_elsewhere, sqlite_connections

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(user):
    return CanvasOAuth2Token.objects.create(user=user, access_token="a", refresh_token="r")


def touch(pk):
    """Write the row, as a claim's UPDATE does; return how many rows were written."""
    return CanvasOAuth2Token.objects.filter(pk=pk).update(domain=F("domain"))


def test_patiently_waits_for_another_writer_to_finish(token):
    """In memory, SQLite fails at once while another thread writes; others wait anyway."""
    with row_locked_elsewhere(token.pk) as release:

        def end_the_other_transaction(execute, sql, params, many, context):
            # At the first failure (SQLite in memory), or while the UPDATE waits (others).
            threading.Timer(0.2, release.set).start()
            try:
                return execute(sql, params, many, context)
            except DatabaseError:
                release.set()
                raise

        with connection.execute_wrapper(end_the_other_transaction):
            assert patiently("default", lambda: touch(token.pk)) == 1


def test_patiently_gives_up_on_an_in_memory_table_locked_too_long(token, monkeypatch):
    if not (connection.vendor == "sqlite" and connection.is_in_memory_db()):
        pytest.skip("only an in-memory SQLite database fails at once on a locked table")
    monkeypatch.setattr(locks, "TABLE_LOCK_WAIT", 0.1)
    with row_locked_elsewhere(token.pk), pytest.raises(OperationalError, match="table is locked"):
        patiently("default", lambda: touch(token.pk))


def test_patiently_raises_any_other_error_at_once(db):
    calls = []

    def query():
        calls.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    with pytest.raises(DatabaseError):
        patiently("default", query)
    assert calls == [1]


def test_a_lock_request_waits_no_longer_than_the_bound_and_the_limit_is_put_back(token):
    before = lock_wait_setting()
    with (
        row_locked_elsewhere(token.pk),
        pytest.raises(OperationalError, match=r"(?i)lock"),
        transaction.atomic(),
        bounded_wait(connection, 0.2),
    ):
        touch(token.pk)
    assert lock_wait_setting() == before


def test_the_bound_holds_in_the_block_and_is_put_back_after(token):
    before = lock_wait_setting()
    with transaction.atomic(), bounded_wait(connection, 0.2):
        inside = lock_wait_setting()
        assert touch(token.pk) == 1
    assert lock_wait_setting() == before
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        assert inside == before  # nothing to set: patiently() does the waiting
    else:
        # PostgreSQL counts in milliseconds, MySQL in whole seconds (one at least).
        assert inside in ("200ms", 1, 200)


def test_a_bound_of_zero_is_still_a_bound(token):
    with transaction.atomic(), bounded_wait(connection, 0):
        inside = lock_wait_setting()
    assert inside not in (0, "0", "0ms")  # 0 means "wait forever" to PostgreSQL


def test_a_sqlite_file_waits_boundedly_then_restores_its_patience(tmp_path, django_db_blocker):
    with (
        django_db_blocker.unblock(),
        sqlite_connections(str(tmp_path / "lock.db"), "writer"),
    ):
        writer = connections["writer"]
        with writer.cursor() as cursor:
            cursor.execute("CREATE TABLE t (x integer)")
        with transaction.atomic(using="writer"), bounded_wait(writer, 0.2):
            assert lock_wait_setting("writer") == 200
            with writer.cursor() as cursor:
                cursor.execute("INSERT INTO t VALUES (1)")
        assert lock_wait_setting("writer") == 20000


def test_a_failed_sqlite_lock_reports_its_own_error_and_puts_the_limit_back(
    tmp_path, django_db_blocker
):
    """A locked database fails the UPDATE, which marks the transaction for rollback.

    The real error must surface (not a TransactionManagementError from the clean-up), and
    the connection must keep its own patience for its later writes.
    """
    with (
        django_db_blocker.unblock(),
        sqlite_connections(str(tmp_path / "lock.db"), "holder", "waiter"),
    ):
        with connections["holder"].cursor() as cursor:
            cursor.execute("CREATE TABLE t (x integer)")
            cursor.execute("BEGIN IMMEDIATE")  # the write lock, as a refresh holds it
        waiter = connections["waiter"]
        with (
            pytest.raises(OperationalError, match="locked"),
            transaction.atomic(using="waiter"),
            bounded_wait(waiter, 0.2),
            # What QuerySet.update() does around its UPDATE.
            transaction.mark_for_rollback_on_error(using="waiter"),
            waiter.cursor() as cursor,
        ):
            cursor.execute("UPDATE t SET x = 1")
        assert lock_wait_setting("waiter") == 20000


def test_an_in_memory_sqlite_database_is_left_as_it_is(django_db_blocker):
    with django_db_blocker.unblock(), sqlite_connections(":memory:", "memory"):
        before = lock_wait_setting("memory")
        with bounded_wait(connections["memory"], 0.2):
            assert lock_wait_setting("memory") == before


def test_each_thread_puts_back_its_own_connections_limit(token):
    """Limits belong to a connection: a bound in one thread is not another's."""
    before = lock_wait_setting()
    seen = []

    def elsewhere():
        try:
            seen.append(lock_wait_setting())
        finally:
            connection.close()

    with transaction.atomic(), bounded_wait(connection, 0.2):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join(10)
    assert seen == [before]
