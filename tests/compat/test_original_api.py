"""Code written against the original django-canvas-oauth 1.1.x keeps working.

Each test is a pattern from the original's README, tests or typical projects: tokens made
by hand, its module-level functions, its user attribute, its exceptions and error page.
"""

import logging
import threading
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.test import override_settings
from django.utils import timezone

from canvas_oauth import tokens
from canvas_oauth.canvas import (
    ACCESS_TOKEN_URL_PATTERN,
    AUTHORIZE_URL_PATTERN,
    get_access_token,
    get_oauth_login_url,
)
from canvas_oauth.exceptions import (
    CanvasOAuthError,
    CanvasUnavailableError,
    InvalidOAuthReturnError,
    InvalidOAuthStateError,
    MissingTokenError,
    TokenRefreshError,
)
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.oauth import get_oauth_token, refresh_oauth_token, render_oauth_error
from canvas_oauth.settings import get_required_setting
from tests.conftest import store_token

SCOPES = ["url:GET|/api/v1/courses", "url:GET|/api/v1/users/:id"]
REDIRECT_URI = "https://tool.example.edu/oauth/oauth-callback"


def as_request(rf, user):
    request = rf.get("/canvas/")
    request.user = user
    return request


# -- 1. Tokens made by hand -------------------------------------------------------------


@pytest.mark.django_db
def test_a_token_made_by_hand_is_used_when_scopes_are_configured(rf, user, fake_canvas, settings):
    settings.CANVAS_OAUTH_SCOPES = SCOPES
    token = store_token(fake_canvas, user)  # objects.create(user=…, access_token=…, …)
    assert token.scopes is None  # not recorded
    assert get_oauth_token(as_request(rf, user)) == token.access_token
    assert fake_canvas.calls["token:refresh_token"] == 0


@pytest.mark.django_db
def test_an_expired_token_made_by_hand_is_refreshed_when_scopes_are_configured(
    rf, user, fake_canvas, settings
):
    settings.CANVAS_OAUTH_SCOPES = SCOPES
    token = store_token(fake_canvas, user, expires_in=-10)
    fake_canvas.expire_access_tokens()
    fresh = get_oauth_token(as_request(rf, user))
    assert fresh != token.access_token
    assert fake_canvas.is_live(fresh)
    assert CanvasOAuth2Token.objects.get(pk=token.pk).scopes is None  # still not recorded


@pytest.mark.django_db
def test_a_token_granted_no_scopes_is_a_scope_drift(rf, user, fake_canvas, settings):
    store_token(fake_canvas, user, scopes="")  # recorded: nothing was asked for
    settings.CANVAS_OAUTH_SCOPES = SCOPES
    with pytest.raises(MissingTokenError):
        get_oauth_token(as_request(rf, user))


@pytest.mark.django_db
def test_a_token_from_the_dance_records_its_scopes_and_drift_still_asks_again(
    browser, user, fake_canvas, settings
):
    from tests.conftest import dance

    settings.CANVAS_OAUTH_SCOPES = SCOPES[:1]
    assert dance(browser, fake_canvas).status_code == 302
    assert CanvasOAuth2Token.objects.get(user=user).scope_list == SCOPES[:1]
    assert browser.get("/canvas/").status_code == 200
    settings.CANVAS_OAUTH_SCOPES = SCOPES
    response = browser.get("/canvas/")
    assert response.status_code == 302
    assert "/login/oauth2/auth?" in response["Location"]


# -- 2. The per-request reuse follows the user --------------------------------------------


@pytest.mark.django_db
def test_a_request_whose_user_changes_never_gets_the_previous_users_token(
    rf, user, other_user, fake_canvas
):
    ada = store_token(fake_canvas, user)
    request = as_request(rf, user)
    assert get_oauth_token(request) == ada.access_token
    request.user = other_user  # an impersonation tool
    with pytest.raises(MissingTokenError):
        get_oauth_token(request)
    grace = store_token(fake_canvas, other_user)
    assert get_oauth_token(request) == grace.access_token
    request.user = user
    assert get_oauth_token(request) == ada.access_token


@pytest.mark.django_db
def test_login_within_a_request_switches_the_token(browser, user, other_user, fake_canvas):
    ada = store_token(fake_canvas, user)
    body = browser.get("/switch-user/?as=grace").json()
    assert body == {"first": ada.access_token, "second": None}
    grace = store_token(fake_canvas, other_user)
    browser.force_login(user)
    body = browser.get("/switch-user/?as=grace").json()
    assert body == {"first": ada.access_token, "second": grace.access_token}


# -- 3. The original's module-level names -------------------------------------------------


def test_the_url_patterns_are_the_originals():
    assert AUTHORIZE_URL_PATTERN % "canvas.example.edu" == (
        "https://canvas.example.edu/login/oauth2/auth"
    )
    assert ACCESS_TOKEN_URL_PATTERN % "canvas.example.edu" == (
        "https://canvas.example.edu/login/oauth2/token"
    )


def test_get_oauth_login_url_points_at_the_configured_canvas():
    url = get_oauth_login_url(
        "10000000000001", REDIRECT_URI, state="abc", scopes=SCOPES, purpose="Grades"
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://canvas.example.edu/login/oauth2/auth"
    )
    assert parse_qsl(parts.query) == [  # sorted by name, as the original sent them
        ("client_id", "10000000000001"),
        ("purpose", "Grades"),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", " ".join(SCOPES)),
        ("state", "abc"),
    ]


@pytest.mark.parametrize("scopes", [None, [], ""])
def test_get_oauth_login_url_leaves_out_what_is_unset(scopes):
    url = get_oauth_login_url(101, REDIRECT_URI, scopes=scopes)
    assert dict(parse_qsl(urlsplit(url).query)) == {
        "client_id": "101",
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
    }


@override_settings(CANVAS_OAUTH_CANVAS_DOMAIN="http://127.0.0.1:9000")
def test_get_oauth_login_url_honours_an_origin_and_force_login():
    url = get_oauth_login_url(101, REDIRECT_URI, force_login=True)
    assert url.startswith("http://127.0.0.1:9000/login/oauth2/auth?")
    assert dict(parse_qsl(urlsplit(url).query))["force_login"] == "1"


@override_settings(CANVAS_OAUTH_CANVAS_DOMAIN=None)
def test_the_module_functions_need_the_canvas_domain():
    with pytest.raises(ImproperlyConfigured):
        get_oauth_login_url(101, REDIRECT_URI)


@override_settings(
    CANVAS_OAUTH_CANVAS_DOMAIN=None,
    CANVAS_OAUTH_INSTANCES={
        "canvas.east.edu": {"client_id": "10000000000011", "client_secret": "e" * 64}
    },
)
def test_the_module_functions_use_a_single_instance_as_the_default_as_everything_else_does():
    url = get_oauth_login_url(101, REDIRECT_URI)
    assert url.startswith("https://canvas.east.edu/login/oauth2/auth?")


def code_from_fake(fake_canvas):
    fake_canvas.client.redirect_uris.append(REDIRECT_URI)  # the tool's developer key lists it
    location = fake_canvas.authorize(
        get_oauth_login_url(fake_canvas.client_id, REDIRECT_URI, state="s1")
    )
    return dict(parse_qsl(urlsplit(location).query))["code"]


@pytest.mark.django_db
def test_get_access_token_trades_a_code(fake_canvas, settings, caplog):
    caplog.set_level(logging.DEBUG)
    code = code_from_fake(fake_canvas)
    before = timezone.now()
    access, expires, refresh = get_access_token(
        grant_type="authorization_code",
        client_id=settings.CANVAS_OAUTH_CLIENT_ID,
        client_secret=settings.CANVAS_OAUTH_CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        code=code,
    )
    assert fake_canvas.is_live(access)
    assert isinstance(expires, datetime) and timezone.is_aware(expires)
    assert before + timedelta(seconds=3599) <= expires <= timezone.now() + timedelta(hours=1)
    assert refresh
    assert fake_canvas.last_token_request["client_secret"] == settings.CANVAS_OAUTH_CLIENT_SECRET
    for secret in (access, refresh, code, settings.CANVAS_OAUTH_CLIENT_SECRET):
        assert secret not in caplog.text


@pytest.mark.django_db
def test_get_access_token_refreshes_and_gives_none_when_canvas_sends_no_refresh_token(
    fake_canvas, settings
):
    grant = fake_canvas.issue_token()
    access, expires, refresh = get_access_token(
        "refresh_token",
        settings.CANVAS_OAUTH_CLIENT_ID,
        settings.CANVAS_OAUTH_CLIENT_SECRET,
        REDIRECT_URI,
        refresh_token=grant["refresh_token"],
    )
    assert fake_canvas.is_live(access) and access != grant["access_token"]
    assert timezone.is_aware(expires)
    assert refresh is None  # Canvas keeps the refresh token and does not send it again


@pytest.mark.django_db
def test_get_access_token_raises_the_originals_error_when_canvas_refuses(
    fake_canvas, settings, caplog
):
    with pytest.raises(InvalidOAuthReturnError) as refused:
        get_access_token(
            "authorization_code",
            settings.CANVAS_OAUTH_CLIENT_ID,
            "a-wrong-secret",
            REDIRECT_URI,
            code="no-such-code",
        )
    assert "authorization_code request failed to get a token" in str(refused.value)
    assert "a-wrong-secret" not in caplog.text
    fake_canvas.misbehave("token", "error", times=1)
    with pytest.raises(InvalidOAuthReturnError):
        get_access_token(
            "refresh_token",
            settings.CANVAS_OAUTH_CLIENT_ID,
            settings.CANVAS_OAUTH_CLIENT_SECRET,
            REDIRECT_URI,
            refresh_token=fake_canvas.issue_token()["refresh_token"],
        )


@pytest.mark.django_db
def test_get_access_token_says_when_canvas_cannot_be_reached(fake_canvas, settings):
    fake_canvas.misbehave("token", "drop", times=1)
    with pytest.raises(CanvasUnavailableError):
        get_access_token(
            "refresh_token",
            settings.CANVAS_OAUTH_CLIENT_ID,
            settings.CANVAS_OAUTH_CLIENT_SECRET,
            REDIRECT_URI,
            refresh_token="r",
        )


def test_render_oauth_error_renders_the_error_page_with_403():
    response = render_oauth_error("access_denied")
    assert response.status_code == 403
    assert b"We could not connect to Canvas" in response.content
    assert b"access_denied" in response.content


def test_render_oauth_error_uses_a_project_template(tmp_path):
    (tmp_path / "oauth_error.html").write_text("MINE: {{ message }}")
    templates = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [str(tmp_path)],
            "APP_DIRS": True,
        }
    ]
    with override_settings(TEMPLATES=templates):
        response = render_oauth_error("<b>nope</b>")
    assert response.status_code == 403
    assert response.content == b"MINE: &lt;b&gt;nope&lt;/b&gt;"


def test_render_oauth_error_is_plain_text_when_no_template_can_be_found():
    templates = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": []}]
    with override_settings(TEMPLATES=templates):
        response = render_oauth_error("<b>nope</b>")
    assert response.status_code == 403
    assert response.content == b"Error: <b>nope</b>"
    assert response["Content-Type"].startswith("text/plain")  # never rendered as HTML


def test_get_required_setting(settings):
    assert get_required_setting("CANVAS_OAUTH_CLIENT_ID") == settings.CANVAS_OAUTH_CLIENT_ID
    del settings.CANVAS_OAUTH_CLIENT_ID
    with pytest.raises(ImproperlyConfigured, match="CANVAS_OAUTH_CLIENT_ID"):
        get_required_setting("CANVAS_OAUTH_CLIENT_ID")


@pytest.mark.django_db
def test_refresh_oauth_token_refreshes_a_token_that_is_not_expiring(rf, user, fake_canvas):
    token = store_token(fake_canvas, user, expires_in=3600)
    refreshed = refresh_oauth_token(as_request(rf, user))
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert refreshed.access_token != token.access_token
    assert fake_canvas.is_live(refreshed.access_token)
    assert refreshed.expires > timezone.now() + timedelta(minutes=59)
    assert CanvasOAuth2Token.objects.get(pk=token.pk).access_token == refreshed.access_token


@pytest.mark.django_db
def test_refresh_oauth_token_on_an_expiring_token_refreshes_or_raises(
    rf, user, fake_canvas, settings
):
    """Called directly it refreshes now, as the original's did, and a failure is raised.

    ``get_oauth_token``, which calls it for an expiring token, still serves the token
    while it is valid when the early refresh fails.
    """
    settings.CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER = timedelta(minutes=5)
    token = store_token(fake_canvas, user, expires_in=120)  # within the buffer, still valid
    fake_canvas.misbehave("token", "error", times=2)
    assert get_oauth_token(as_request(rf, user)) == token.access_token
    with pytest.raises(TokenRefreshError):
        refresh_oauth_token(as_request(rf, user))
    assert CanvasOAuth2Token.objects.get(pk=token.pk).access_token == token.access_token  # kept
    refreshed = refresh_oauth_token(as_request(rf, user))
    assert refreshed.access_token != token.access_token
    assert fake_canvas.is_live(refreshed.access_token)


@pytest.mark.django_db
def test_refresh_oauth_token_without_a_token_is_a_missing_token(rf, user, fake_canvas):
    with pytest.raises(MissingTokenError):
        refresh_oauth_token(as_request(rf, user))


@pytest.mark.django_db
def test_a_forced_refresh_queued_behind_another_shares_its_result(user, fake_canvas):
    """A caller that read the token before another refreshed it does not refresh again."""
    token = store_token(fake_canvas, user)
    seen = CanvasOAuth2Token.objects.get(pk=token.pk)  # read, then queued for the lock
    first = tokens.refresh(CanvasOAuth2Token.objects.get(pk=token.pk), force=True)
    second = tokens.refresh(seen, force=True)
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert second.access_token == first.access_token


@pytest.mark.django_db(transaction=True)
def test_threads_forcing_a_refresh_at_once_make_one_refresh(rf, user, fake_canvas):
    token = store_token(fake_canvas, user)
    fake_canvas.latency["token"] = 0.2
    barrier = threading.Barrier(6)
    results, errors = [], []

    def work():
        try:
            barrier.wait(timeout=10)
            results.append(refresh_oauth_token(as_request(rf, user)).access_token)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert len(set(results)) == 1 and results[0] != token.access_token


@pytest.mark.django_db
def test_the_users_old_one_to_one_attribute_still_answers(user, other_user, fake_canvas):
    token = store_token(fake_canvas, user)
    with pytest.warns(DeprecationWarning, match="canvas_oauth2_tokens"):
        assert user.canvas_oauth2_token == token
    with pytest.warns(DeprecationWarning):
        assert hasattr(user, "canvas_oauth2_token")
    with pytest.warns(DeprecationWarning):
        assert not hasattr(other_user, "canvas_oauth2_token")
    with pytest.warns(DeprecationWarning), pytest.raises(CanvasOAuth2Token.DoesNotExist):
        other_user.canvas_oauth2_token  # noqa: B018 -- the original's get_oauth_token did this
    with pytest.raises(AttributeError, match="read-only"):
        user.canvas_oauth2_token = token


@pytest.mark.django_db
def test_the_old_attribute_answers_for_the_default_instance_only(user, fake_canvas, settings):
    store_token(fake_canvas, user, domain="canvas.west.edu")
    with pytest.warns(DeprecationWarning):
        assert not hasattr(user, "canvas_oauth2_token")


@pytest.mark.django_db
def test_the_old_attribute_answers_for_a_single_instance_of_the_mapping(user, settings):
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = None
    settings.CANVAS_OAUTH_INSTANCES = {"canvas.east.edu": {"client_id": "1", "client_secret": "e"}}
    token = CanvasOAuth2Token.objects.create(
        user=user, domain="canvas.east.edu", access_token="a", refresh_token="r"
    )
    with pytest.warns(DeprecationWarning):
        assert user.canvas_oauth2_token == token


@pytest.mark.django_db
def test_the_old_attribute_is_absent_when_there_is_no_default_instance(user, settings):
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = None
    settings.CANVAS_OAUTH_INSTANCES = {
        "canvas.east.edu": {"client_id": "1", "client_secret": "east"},
        "canvas.west.edu": {"client_id": "2", "client_secret": "west"},
    }
    CanvasOAuth2Token.objects.create(
        user=user, domain="canvas.east.edu", access_token="a", refresh_token="r"
    )
    with pytest.warns(DeprecationWarning):
        assert not hasattr(user, "canvas_oauth2_token")
    with pytest.warns(DeprecationWarning), pytest.raises(CanvasOAuth2Token.DoesNotExist):
        user.canvas_oauth2_token  # noqa: B018 -- as a reverse one-to-one with no row


def test_the_errors_take_any_positional_arguments():
    error = CanvasOAuthError("a", "b")
    assert error.args == ("a", "b")
    assert str(error) == "a" == error.message
    assert str(MissingTokenError("No token found for user 5")) == "No token found for user 5"
    assert str(InvalidOAuthStateError("OAuth state mismatch!")) == "OAuth state mismatch!"
    assert str(InvalidOAuthReturnError()) == InvalidOAuthReturnError.default_message
    assert MissingTokenError("x", authorize_url="/oauth/authorize").authorize_url == (
        "/oauth/authorize"
    )


def test_a_plain_canvas_oauth_error_from_a_view_is_a_403_page(browser):
    response = browser.get("/raise/plain/")
    assert response.status_code == 403
    assert b"Your Canvas course is not set up for this tool." in response.content
    scripted = browser.get("/raise/plain/", HTTP_ACCEPT="application/json")
    assert scripted.status_code == 403
    assert scripted.json()["error"] == "canvas_oauth_error"


def test_subclasses_keep_their_own_statuses(browser):
    assert browser.get("/raise/refresh/").status_code == TokenRefreshError.status_code == 503


# -- 4. Error templates --------------------------------------------------------------------


def test_the_app_ships_its_page_under_its_own_name_only():
    assert get_template("canvas_oauth/oauth_error.html")
    with pytest.raises(TemplateDoesNotExist):
        get_template("oauth_error.html")


@pytest.mark.django_db
def test_a_project_apps_oauth_error_page_wins_whatever_the_app_order(browser, settings):
    # canvas_oauth comes before the project's app here.
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.project_pages"]
    response = browser.get("/oauth/oauth-callback?code=x&state=y")
    assert response.status_code == 400
    assert response.content.strip() == b"PROJECT APP PAGE 400"


@pytest.mark.django_db
def test_a_missing_configured_template_falls_back_to_the_shipped_page(browser, settings):
    settings.CANVAS_OAUTH_ERROR_TEMPLATE = "myapp/no_such_page.html"
    response = browser.get("/oauth/oauth-callback?code=x&state=y")
    assert response.status_code == 400
    assert b"We could not connect to Canvas" in response.content
    warnings = [m for m in checks.run_checks() if m.id == "canvas_oauth.W003"]
    assert len(warnings) == 1 and "myapp/no_such_page.html" in warnings[0].msg


def test_a_broken_configured_template_falls_back_too(browser, settings, tmp_path):
    (tmp_path / "broken.html").write_text("{% if %}")
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [str(tmp_path)],
            "APP_DIRS": True,
        }
    ]
    settings.CANVAS_OAUTH_ERROR_TEMPLATE = "broken.html"
    response = browser.get("/raise/plain/")
    assert response.status_code == 403
    assert b"We could not connect to Canvas" in response.content
    assert [m.id for m in checks.run_checks() if m.id == "canvas_oauth.W003"] == [
        "canvas_oauth.W003"
    ]


def test_the_template_check_is_quiet_for_the_default_and_for_a_found_template(settings):
    assert not [m for m in checks.run_checks() if m.id == "canvas_oauth.W003"]
    settings.CANVAS_OAUTH_ERROR_TEMPLATE = "canvas_oauth/oauth_error.html"
    assert not [m for m in checks.run_checks() if m.id == "canvas_oauth.W003"]


# -- 6. What the upgrade notes promise -----------------------------------------------------


@pytest.mark.django_db
def test_a_dance_started_before_the_upgrade_ends_with_the_start_again_page(browser, fake_canvas):
    session = browser.session
    session["canvas_oauth_request_state"] = "RandomState100"  # the original's session keys
    session["canvas_oauth_initial_uri"] = "/canvas/"
    session["canvas_oauth_redirect_uri"] = "http://testserver/oauth/oauth-callback"
    session.save()
    response = browser.get("/oauth/oauth-callback?code=red-green-blue&state=RandomState100")
    assert response.status_code == 400
    assert b"Please start again." in response.content
    assert fake_canvas.calls["token:authorization_code"] == 0


def test_the_model_str_names_the_user_id_and_domain():
    token = CanvasOAuth2Token(user_id=7, domain="canvas.example.edu")
    assert str(token) == "Canvas token of 7 on canvas.example.edu"


@pytest.mark.django_db
def test_lookups_go_through_the_plural_relation(user, fake_canvas, django_user_model):
    from django.core.exceptions import FieldError

    store_token(fake_canvas, user)
    found = django_user_model.objects.filter(canvas_oauth2_tokens__domain="canvas.example.edu")
    assert list(found) == [user]
    with pytest.raises(FieldError):
        list(django_user_model.objects.filter(canvas_oauth2_token__expires__isnull=False))
    with pytest.raises(FieldError):
        list(django_user_model.objects.select_related("canvas_oauth2_token"))
