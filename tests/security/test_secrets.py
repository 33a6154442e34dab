"""No access token, refresh token, code or client secret reaches a log or a page."""

import logging
from urllib.parse import parse_qs, urlsplit

import django
import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path
from django.utils.log import configure_logging

from canvas_oauth.api import canvas_session
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.signals import token_refreshed
from tests import views
from tests.conftest import MADE, callback_path, made, start_dance, store_token


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def walk_everything(browser, fake, settings):
    """Dance, refresh, fail, revoke; return every secret that was in play."""
    secrets = {settings.CANVAS_OAUTH_CLIENT_SECRET}
    location = fake.authorize(start_dance(browser))
    secrets.add(parse_qs(urlsplit(location).query)["code"][0])
    pages = [browser.get(callback_path(location))]
    token = CanvasOAuth2Token.objects.get()
    secrets |= {token.access_token, token.refresh_token}
    fake.expire_access_tokens()
    CanvasOAuth2Token.objects.update(expires="2000-01-01T00:00:00Z")
    fake.misbehave("token", "garbage", times=1)
    pages.append(browser.get("/canvas/"))  # refresh fails: 503 page
    pages.append(browser.get("/canvas/"))  # refresh works
    secrets.add(CanvasOAuth2Token.objects.get().access_token)
    fake.misbehave("token", "error", times=1)
    location = fake.authorize(browser.get("/oauth/authorize?next=/")["Location"])
    secrets.add(parse_qs(urlsplit(location).query)["code"][0])
    pages.append(browser.get(callback_path(location)))  # code exchange fails: 502 page
    pages.append(browser.post("/oauth/revoke"))
    return secrets, pages


def assert_no_secret(secrets, caplog, pages):
    text = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    for page in pages:
        text += page.content.decode(errors="replace")
    for secret in secrets:
        assert secret and secret not in text


def test_in_process_dance_refresh_and_revoke_log_no_secret(
    browser, fake_canvas, settings, all_logs
):
    secrets, pages = walk_everything(browser, fake_canvas, settings)
    assert len(all_logs.records) > 5
    assert_no_secret(secrets, all_logs, pages)


def test_over_real_http_nothing_leaks_either(browser, live_fake_canvas, settings, all_logs):
    secrets, pages = walk_everything(browser, live_fake_canvas, settings)
    assert any(r.name.startswith("urllib3") for r in all_logs.records)
    assert_no_secret(secrets, all_logs, pages)


def test_reprs_hide_tokens(user, fake_canvas):
    from canvas_oauth import instances
    from canvas_oauth.canvas import TokenGrant
    from tests.conftest import store_token

    token = store_token(fake_canvas, user)
    grant = TokenGrant("access-secret", "refresh-secret", 3600, None)
    client = instances.get("canvas.example.edu").client()
    for shown in (repr(token), str(token), repr(grant), repr(client)):
        assert token.access_token not in shown
        assert "secret" not in shown


def test_error_reports_hide_the_code_and_the_secret(rf):
    import sys

    from django.views.debug import ExceptionReporter

    from canvas_oauth import instances

    class Broken:
        def request(self, *args, **kwargs):
            raise RuntimeError("an unexpected bug")

    client = instances.get("canvas.example.edu").client()
    client.http = Broken()
    try:
        client.exchange_code(made("code"), "https://x/cb", code_verifier=made("verifier"))
    except RuntimeError:
        report = ExceptionReporter(rf.get("/"), *sys.exc_info()).get_traceback_html()
    assert "exchange_code" in report and "Local vars" in report
    for secret in (MADE["code"], MADE["verifier"], client.client_secret):
        assert secret not in report


def code_of(location):
    return parse_qs(urlsplit(location).query)["code"][0]


def test_admin_email_of_a_failed_code_exchange_shows_no_code(
    browser, fake_canvas, settings, mailoutbox
):
    # Django 6 takes addresses alone (and deprecates the pairs that 5.2 needs).
    settings.ADMINS = (
        ["ops@example.edu"] if django.VERSION >= (6, 0) else [("Ops", "ops@example.edu")]
    )
    location = fake_canvas.authorize(start_dance(browser))
    fake_canvas.misbehave("token", "unavailable")
    assert browser.get(callback_path(location)).status_code == 502
    (mail,) = mailoutbox
    state = parse_qs(urlsplit(location).query)["state"][0]
    assert "/oauth/oauth-callback" in mail.body
    for secret in (code_of(location), state):
        assert secret not in mail.subject + mail.body


def test_debug_page_of_a_crash_in_the_callback_shows_no_code(browser, fake_canvas, settings):
    from canvas_oauth.signals import token_obtained

    def buggy_receiver(sender, **kwargs):
        raise RuntimeError("a bug in the project's receiver")

    settings.DEBUG = True
    browser.raise_request_exception = False
    location = fake_canvas.authorize(start_dance(browser))
    token_obtained.connect(buggy_receiver)
    try:
        page = browser.get(callback_path(location)).content.decode()
    finally:
        token_obtained.disconnect(buggy_receiver)
    assert "a bug in the project&#x27;s receiver" in page and "Local vars" in page
    token = CanvasOAuth2Token.objects.get()
    state = parse_qs(urlsplit(location).query)["state"][0]
    for secret in (code_of(location), state, token.access_token, token.refresh_token):
        assert secret not in page


def test_anonymous_callback_sends_to_login_without_code_or_state(client, settings):
    settings.LOGIN_URL = "https://sso.example.edu/login"
    response = client.get("/oauth/oauth-callback?code=the-code&state=the-state")
    assert response.status_code == 302
    assert response["Location"].startswith("https://sso.example.edu/login?next=")
    assert "the-code" not in response["Location"]
    assert "the-state" not in response["Location"]


@pytest.fixture
def buggy_receiver():
    from canvas_oauth.signals import token_obtained

    def receiver(sender, **kwargs):
        raise RuntimeError("a bug in the project's receiver")

    token_obtained.connect(receiver)
    yield
    token_obtained.disconnect(receiver)


def crash_popup_complete(browser, fake):
    """Walk a popup dance whose claim crashes in a receiver; return the secrets and page."""
    body = browser.get("/oauth/authorize", {"popup": "1"}, HTTP_ACCEPT="application/json").json()
    location = fake.authorize(body["authorize_url"])
    assert Client().get(callback_path(location)).status_code == 200
    browser.raise_request_exception = False
    page = browser.post("/oauth/complete", {"state": body["state"]})
    assert page.status_code == 500
    token = CanvasOAuth2Token.objects.get()
    verifier = fake.last_token_request["code_verifier"]
    secrets = (code_of(location), body["state"], verifier, token.access_token, token.refresh_token)
    return secrets, page.content.decode()


def test_debug_page_of_a_crash_in_popup_complete_shows_no_secret(
    browser, fake_canvas, settings, buggy_receiver
):
    settings.DEBUG = True
    secrets, page = crash_popup_complete(browser, fake_canvas)
    assert "a bug in the project&#x27;s receiver" in page and "Local vars" in page
    assert "exchange_and_store" in page
    for secret in secrets:
        assert secret not in page


def test_html_admin_mail_of_a_crash_in_popup_complete_shows_no_secret(
    browser, fake_canvas, settings, mailoutbox, buggy_receiver
):
    settings.ADMINS = (
        ["ops@example.edu"] if django.VERSION >= (6, 0) else [("Ops", "ops@example.edu")]
    )
    settings.LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "mail_admins": {"class": "django.utils.log.AdminEmailHandler", "include_html": True}
        },
        "loggers": {"django.request": {"handlers": ["mail_admins"], "level": "ERROR"}},
    }
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    try:
        secrets, _ = crash_popup_complete(browser, fake_canvas)
    finally:
        logging.getLogger("django.request").handlers.clear()
    # Django's own handler (text) and the HTML one above.
    sent = "".join(
        m.subject + m.body + "".join(str(content) for content, _ in m.alternatives)
        for m in mailoutbox
    )
    assert "exchange_and_store" in sent and "<td>dance</td>" in sent  # frames, with variables
    for secret in secrets:
        assert secret not in sent


def me(request):
    return HttpResponse(canvas_session(request).get("users/self").content)


urlpatterns = [
    path("oauth/", include("canvas_oauth.urls")),
    path("canvas/", views.canvas_page),
    path("me/", me),
]


@pytest.mark.parametrize(
    "url, expires_in",
    [
        ("/canvas/", -10),  # get_oauth_token refreshes an expired token
        ("/me/", 3600),  # a CanvasSession refreshes a token Canvas answered 401 to
    ],
)
@pytest.mark.urls(__name__)
def test_debug_page_of_a_crash_in_a_refresh_shows_no_token(
    browser, fake_canvas, user, settings, url, expires_in
):
    settings.DEBUG = True
    browser.raise_request_exception = False
    stored = store_token(fake_canvas, user, expires_in=expires_in)
    fake_canvas.expire_access_tokens()  # Canvas no longer takes the stored access token
    refreshed = []

    def buggy_receiver(sender, **kwargs):
        refreshed.append(CanvasOAuth2Token.objects.get(pk=stored.pk))
        raise RuntimeError("a bug in the project's receiver")

    token_refreshed.connect(buggy_receiver)
    try:
        page = browser.get(url).content.decode()
    finally:
        token_refreshed.disconnect(buggy_receiver)
    assert "a bug in the project&#x27;s receiver" in page and "Local vars" in page
    (new,) = refreshed
    for secret in (stored.access_token, stored.refresh_token, new.access_token):
        assert secret not in page
