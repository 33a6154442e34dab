"""A project that kept the 1.x migrations in MIGRATION_MODULES is told so (issue #19).

``manage.py check`` names the setting and the fix, the doctor names the missing columns,
and deleting a user works whatever state the token table is in.
"""

import io
import json
import logging
import pkgutil

import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.utils import timezone

from canvas_oauth import doctor, migrations
from canvas_oauth.checks import check_migration_modules
from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import made
from tests.setup.test_migrations import insert_original_row, original_schema  # noqa: F401


def w010(settings, modules):
    settings.MIGRATION_MODULES = modules
    return [m for m in check_migration_modules() if m.id == "canvas_oauth.W010"]


def test_vendored_1x_migrations_are_named_with_the_fix(settings):
    (warning,) = w010(settings, {"canvas_oauth": "tests.vendored_1x"})
    assert warning.level == checks.WARNING
    assert "MIGRATION_MODULES" in warning.msg and "'tests.vendored_1x'" in warning.msg
    assert "0003_token_per_domain" in warning.msg  # what the vendored copy lacks
    assert "0001_initial" not in warning.msg
    assert "Remove 'canvas_oauth' from MIGRATION_MODULES" in warning.hint
    assert "migrate canvas_oauth" in warning.hint and "keeps every token" in warning.hint


def test_manage_py_check_reports_it(settings):
    settings.MIGRATION_MODULES = {"canvas_oauth": "tests.vendored_1x"}
    err = io.StringIO()
    call_command("check", stderr=err, stdout=io.StringIO())
    assert "canvas_oauth.W010" in err.getvalue()


@pytest.mark.parametrize(
    "modules",
    [
        {},
        {"other_app": "tests.vendored_1x"},
        {"canvas_oauth": None},  # tables made from the models, as test settings do
        {"canvas_oauth": "canvas_oauth.migrations"},
    ],
)
def test_other_migration_modules_are_fine(settings, modules):
    assert w010(settings, modules) == []


def test_a_module_holding_every_migration_of_ours_is_fine(settings, tmp_path, monkeypatch):
    copy = tmp_path / "all_of_them"
    copy.mkdir()
    (copy / "__init__.py").write_text("")
    for module in pkgutil.iter_modules(migrations.__path__):
        (copy / f"{module.name}.py").write_text("")
    monkeypatch.syspath_prepend(tmp_path)
    assert w010(settings, {"canvas_oauth": "all_of_them"}) == []


def test_a_module_that_cannot_be_imported_is_reported_too(settings):
    (warning,) = w010(settings, {"canvas_oauth": "tests.no_such_module"})
    assert "0001_initial" in warning.msg


def test_a_disable_migrations_object_is_fine(settings):
    class DisableMigrations:  # the test-settings idiom: every app without migrations
        def __contains__(self, item):
            return True

        def __getitem__(self, item):
            return None

    assert w010(settings, DisableMigrations()) == []


@pytest.mark.django_db(transaction=True)
def test_deleting_a_user_works_with_the_1x_table(
    original_schema,  # noqa: F811
    django_user_model,
    caplog,
):
    ada = django_user_model.objects.create_user("ada")
    pk = ada.pk
    insert_original_row(pk, made("access"), made("refresh"), timezone.now())
    with caplog.at_level(logging.ERROR, "canvas_oauth.receivers"):
        ada.delete()
    assert not django_user_model.objects.filter(pk=pk).exists()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "canvas_oauth.receivers"]
    assert f"deleted user {pk} " in line and "not revoked at Canvas" in line
    assert "manage.py check" in line
    assert made("access") not in caplog.text and made("refresh") not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_doctor_names_the_columns_the_1x_table_lacks(original_schema):  # noqa: F811
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("canvas_oauth_doctor", "--json", stdout=out, stderr=io.StringIO())
    assert failed.value.returncode == 1
    report = json.loads(out.getvalue())
    (tables,) = [c for c in report["checks"] if c["check"] == "tables"]
    assert tables["status"] == "error"
    lacking = tables["details"]["missing_columns"][CanvasOAuth2Token._meta.db_table]
    assert {"domain", "scopes", "refresh_claim"} <= set(lacking)
    assert "canvas_oauth_canvasdeveloperkey" in tables["details"]["missing_tables"]
    assert "lacks domain" in tables["message"]
    assert "MIGRATION_MODULES" in tables["message"]


@pytest.mark.django_db
def test_a_database_that_cannot_be_read_is_reported_not_raised(fake_canvas, monkeypatch):
    def unreachable(cursor=None):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(connection.introspection, "table_names", unreachable)
    (tables,) = [f for f in doctor.examine().findings if f.check == "tables"]
    assert (tables.status, tables.message) == (
        "error",
        "The tables cannot be read (OperationalError).",
    )


@pytest.mark.django_db
def test_the_doctor_finds_every_column_after_migrate(fake_canvas):
    out = io.StringIO()
    call_command("canvas_oauth_doctor", "--json", stdout=out, stderr=io.StringIO())
    (tables,) = [c for c in json.loads(out.getvalue())["checks"] if c["check"] == "tables"]
    assert tables["status"] == "ok"
