"""A database made by the original django-canvas-oauth upgrades with every token kept."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.oauth import get_oauth_token

APP = "canvas_oauth"
# Every test leaves the schema where the rest of the suite expects it: at the newest.
LATEST = MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes(APP)


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


@pytest.fixture
def original_schema(django_user_model):
    """Roll the app back to the original's 0001_initial; restore the latest afterwards."""
    migrate([(APP, "0001_initial")])
    yield
    migrate(LATEST)


def insert_original_row(user_id, access, refresh, expires):
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO canvas_oauth_canvasoauth2token "
            "(access_token, refresh_token, expires, created_on, updated_on, user_id) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [access, refresh, expires, now, now, user_id],
        )


def raw_tokens():
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM canvas_oauth_canvasoauth2token")
        return list(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_original_rows_upgrade_encrypted_and_usable(
    original_schema, django_user_model, fake_canvas, rf, settings
):
    settings.CANVAS_OAUTH_SCOPES = ["url:GET|/api/v1/users/:id"]
    ada = django_user_model.objects.create_user("ada")
    bob = django_user_model.objects.create_user("bob")
    fresh = fake_canvas.issue_token()
    stale = fake_canvas.issue_token()
    insert_original_row(
        ada.pk, fresh["access_token"], fresh["refresh_token"], timezone.now() + timedelta(hours=1)
    )
    insert_original_row(
        bob.pk, stale["access_token"], stale["refresh_token"], timezone.now() - timedelta(hours=1)
    )

    migrate(LATEST)

    assert all(value.startswith("fernet$") for row in raw_tokens() for value in row)
    ada_token = CanvasOAuth2Token.objects.get(user=ada)
    assert ada_token.domain == "canvas.example.edu"
    assert ada_token.scope_list == ["url:GET|/api/v1/users/:id"]
    request = rf.get("/")
    request.user = ada
    assert get_oauth_token(request) == fresh["access_token"]
    request = rf.get("/")
    request.user = bob
    fake_canvas.expire_access_tokens()
    assert fake_canvas.is_live(get_oauth_token(request))  # refreshed with the kept token
    assert CanvasOAuth2Token.objects.get(user=bob).refresh_token == stale["refresh_token"]


@pytest.mark.django_db(transaction=True)
def test_encryption_migration_reverses_to_plaintext(django_user_model, fake_canvas):
    user = django_user_model.objects.create_user("ada")
    body = fake_canvas.issue_token()
    CanvasOAuth2Token.objects.create(
        user=user,
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        expires=timezone.now(),
    )
    migrate([(APP, "0003_token_per_domain")])
    try:
        assert raw_tokens() == [(body["access_token"], body["refresh_token"])]
    finally:
        migrate(LATEST)
    assert raw_tokens()[0][0].startswith("fernet$")


@pytest.mark.django_db(transaction=True)
def test_upgrade_needs_the_domain_setting_when_rows_exist(
    original_schema, django_user_model, settings
):
    user = django_user_model.objects.create_user("ada")
    insert_original_row(user.pk, "a", "r", timezone.now())
    del settings.CANVAS_OAUTH_CANVAS_DOMAIN
    with pytest.raises(RuntimeError, match="CANVAS_OAUTH_CANVAS_DOMAIN"):
        migrate(LATEST)
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = "canvas.example.edu"
