"""``canvas_oauth.api``: the API session, against the fake Canvas.

Views go through the test client and ``OAuthMiddleware``; jobs use ``for_user``.
"""

import logging
import threading
import time

import pytest
import requests
import responses
from django.http import JsonResponse
from django.urls import include, path
from django.views.debug import ExceptionReporter

from canvas_oauth import api, canvas, pacing, tokens
from canvas_oauth.api import CanvasSession, canvas_session
from canvas_oauth.exceptions import (
    CanvasRequestError,
    CanvasThrottledError,
    CanvasUnavailableError,
    CanvasURLError,
    InvalidTokenError,
    MissingTokenError,
)
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.testing import FakeCanvas, mock_canvas
from canvas_oauth.testing.pytest_plugin import fake_from_settings
from canvas_oauth.testing.wire import json_response
from tests.conftest import callback_path, store_token

# Canvas's throttle, leaking a hundred times faster: pacing waits milliseconds, not seconds.
QUICK_BUCKET = pacing.Bucket(high_water=600.0, leak_rate=1000.0, up_front_cost=50.0)


def me(request):
    response = canvas_session(request, request.GET.get("domain")).get("users/self")
    return JsonResponse({"status": response.status_code, "body": response.json()})


def proxy(request):
    """A view that calls whatever URL it is given: the session must refuse other hosts."""
    response = canvas_session(request).get(request.GET["url"])
    return JsonResponse({"status": response.status_code})


urlpatterns = [
    path("oauth/", include("canvas_oauth.urls")),
    path("me/", me),
    path("proxy/", proxy),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def quick_session(user, domain=None):
    session = CanvasSession.for_user(user, domain)
    session.bucket = QUICK_BUCKET
    return session


# -- URLs -------------------------------------------------------------------------------------


def test_paths_are_relative_to_api_v1(fake_canvas, stored_token, user):
    session = CanvasSession.for_user(user)
    assert session.url_for("users/self") == "https://canvas.example.edu/api/v1/users/self"
    assert session.url_for("/api/v1/courses?x=1") == "https://canvas.example.edu/api/v1/courses?x=1"
    assert session.get("users/self").json()["name"] == "Ada Lovelace"
    same_origin = "https://CANVAS.example.edu:443/api/v1/users/self"
    assert session.get(same_origin).status_code == 200
    assert fake_canvas.calls["users_self"] == 2


@pytest.mark.parametrize(
    "path",
    [
        "../../login/oauth2/token",
        "courses/../../../login/oauth2/token",
        "%2e%2e/%2e%2e/login/oauth2/token",
        "%2E%2E/%2e./.%2E/login/oauth2/token",
        "./../../login/oauth2/token?x=1",
        "/api/v1/../../login/oauth2/token",
        "/api/v1/%2e%2e/%2e%2e/login/oauth2/token",
        "..",
        # Separators some servers read besides "/": a backslash, an encoded slash or backslash.
        "..%2f..%2flogin/oauth2/token",
        "courses/%2E%2E%2F%2e%2e%2F..%2Flogin/oauth2/token",
        "..\\..\\login/oauth2/token",
        "%2e%2e%5c%2e%2e%5clogin/oauth2/token",
        "/api/v1/..%2F..%2Flogin/oauth2/token",
    ],
)
def test_a_path_cannot_climb_out_of_api_v1(user, path):
    canvas = fake_from_settings()
    with mock_canvas(canvas) as mock:
        store_token(canvas, user)
        session = CanvasSession.for_user(user)
        with pytest.raises(CanvasURLError):
            session.get(path)
        assert len(mock.calls) == 0


@pytest.mark.parametrize(
    "path, url",
    [
        ("courses/1/../2", "/api/v1/courses/2"),
        ("courses/%2e%2e/users/self", "/api/v1/users/self"),
        ("../v1/users/self", "/api/v1/users/self"),
        ("files/a%2ejpg", "/api/v1/files/a%2ejpg"),  # a dot inside a name is no segment
        ("courses/.../x", "/api/v1/courses/.../x"),
        ("files/a%2fb..c", "/api/v1/files/a%2fb..c"),  # an encoded slash without dot segments
        ("%252e%252e/x", "/api/v1/%252e%252e/x"),  # decoded once: "%2e%2e", a name
        # Absolute URLs on the Canvas origin, and absolute paths, are the caller's choice.
        ("https://canvas.example.edu/files/1/download", "/files/1/download"),
        ("/login/oauth2/token", "/login/oauth2/token"),
    ],
)
def test_dot_segments_that_stay_in_api_v1_are_resolved(user, fake_canvas, path, url):
    assert CanvasSession.for_user(user).url_for(path) == "https://canvas.example.edu" + url


def test_an_http_origin_is_honoured(live_fake_canvas, user, settings):
    store_token(live_fake_canvas, user, domain=settings.CANVAS_OAUTH_CANVAS_DOMAIN)
    session = CanvasSession.for_user(user)
    assert session.url_for("users/self") == f"{live_fake_canvas.base_url}/api/v1/users/self"
    assert session.get("users/self").json()["name"] == "Ada Lovelace"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/api/v1/users/self",
        "//evil.example.com/api/v1/users/self",
        "http://canvas.example.edu/api/v1/users/self",
        "https://canvas.example.edu:8443/api/v1/users/self",
        "https://canvas.example.edu.evil.example.com/api/v1/users/self",
        "https://ada:pw@canvas.example.edu/api/v1/users/self",
        "https://canvas.example.edu:port/api/v1/users/self",
        "users/self HTTP/1.1\r\nHost: evil.example.com\r\n",
        "users/\x00self",
        42,
    ],
)
def test_other_hosts_are_refused_and_never_see_the_token(user, url):
    canvas = fake_from_settings()
    evil = FakeCanvas(base_url="https://evil.example.com")
    with mock_canvas(canvas, evil) as mock:
        store_token(canvas, user)
        session = CanvasSession.for_user(user)
        with pytest.raises(CanvasURLError):
            session.get(url)
        assert len(mock.calls) == 0
    assert sum(evil.calls.values()) == 0


def test_a_redirect_off_the_origin_drops_the_token(fake_canvas, user):
    session = CanvasSession.for_user(user)
    here = "https://canvas.example.edu/api/v1/files/1/download"
    assert session.should_strip_auth(here, "https://files.example.com/f/1") is True
    assert session.should_strip_auth(here, "https://canvas.example.edu/files/1/x") is False


def test_bytes_paths_and_reprs(fake_canvas, stored_token, user):
    session = CanvasSession.for_user(user)
    assert session.get(b"users/self").status_code == 200
    assert stored_token.access_token not in repr(session)
    assert session.should_strip_auth(session.origin, "https://canvas.example.edu:x/") is True


def test_a_dropped_connection_is_canvas_unavailable(fake_canvas, stored_token, user):
    fake_canvas.misbehave("api", "drop", times=1)
    with pytest.raises(CanvasUnavailableError, match="could not be reached"):
        CanvasSession.for_user(user).get("users/self")


def test_a_view_given_another_host_answers_400_not_500(browser, fake_canvas, stored_token):
    response = browser.get("/proxy/", {"url": "https://evil.example.com/api/v1/users/self"})
    assert response.status_code == 400
    assert b"not on this Canvas instance" in response.content


def test_nobody_logged_in_is_sent_to_log_in(client, fake_canvas):
    response = client.get("/me/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_an_instance_off_the_allow_list_is_refused(fake_canvas, user):
    from canvas_oauth.exceptions import UnknownCanvasInstanceError

    with pytest.raises(UnknownCanvasInstanceError):
        CanvasSession.for_user(user, "evil.example.com")


# -- Tokens and the 401 rule ------------------------------------------------------------------


def test_a_view_calls_canvas_as_its_user(browser, fake_canvas, stored_token):
    assert browser.get("/me/").json()["body"]["name"] == "Ada Lovelace"


def test_a_view_without_a_token_sends_the_user_to_canvas(browser, fake_canvas):
    response = browser.get("/me/")
    assert response.status_code == 302
    assert "/login/oauth2/auth?" in response["Location"]
    assert fake_canvas.calls["users_self"] == 0


def test_a_job_without_a_token_gets_the_authorize_url(fake_canvas, user):
    with pytest.raises(MissingTokenError) as caught:
        CanvasSession.for_user(user).get("users/self")
    assert caught.value.authorize_url == "/oauth/authorize?domain=canvas.example.edu"


def test_an_expiring_token_is_refreshed_before_the_call(fake_canvas, user):
    store_token(fake_canvas, user, expires_in=-10)
    fake_canvas.expire_access_tokens()
    assert CanvasSession.for_user(user).get("users/self").status_code == 200
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert fake_canvas.calls["users_self"] == 1


def test_a_token_that_died_early_is_refreshed_and_the_call_retried(fake_canvas, stored_token, user):
    fake_canvas.expire_access_tokens()  # Canvas says no; our row says an hour is left
    response = CanvasSession.for_user(user).get("users/self")
    assert response.status_code == 200
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert fake_canvas.calls["users_self"] == 2
    assert CanvasOAuth2Token.objects.get().access_token != stored_token.access_token


def test_a_token_another_process_refreshed_is_used_without_refreshing_again(
    fake_canvas, stored_token, user
):
    session = CanvasSession.for_user(user)
    assert session.get("users/self").status_code == 200
    # Another process refreshes: Canvas replaces the access token this session holds.
    tokens.refresh(CanvasOAuth2Token.objects.get(), force=True)
    assert session.get("users/self").status_code == 200
    assert fake_canvas.calls["token:refresh_token"] == 1  # the other process's only
    assert fake_canvas.calls["users_self"] == 3


def test_a_revoked_token_sends_a_job_to_the_authorize_url(fake_canvas, stored_token, user):
    fake_canvas.revoke_all()  # the user deleted the token in Canvas: refresh fails too
    with pytest.raises(MissingTokenError) as caught:
        CanvasSession.for_user(user).get("users/self")
    assert caught.value.authorize_url == "/oauth/authorize?domain=canvas.example.edu"
    assert not CanvasOAuth2Token.objects.exists()


def test_a_revoked_token_restarts_the_dance_in_a_view(browser, fake_canvas, stored_token):
    fake_canvas.revoke_all()
    response = browser.get("/me/")
    assert response.status_code == 302
    assert "/login/oauth2/auth?" in response["Location"]
    assert not CanvasOAuth2Token.objects.exists()


def test_canvas_refusing_the_refreshed_token_too_invalidates_it_for_a_job(
    fake_canvas, stored_token, user
):
    fake_canvas.misbehave("api", "invalid_token", times=2)
    with pytest.raises(InvalidTokenError) as caught:
        CanvasSession.for_user(user).get("users/self")
    assert caught.value.authorize_url == "/oauth/authorize?domain=canvas.example.edu"
    assert fake_canvas.calls["token:refresh_token"] == 1  # refreshed once, retried once
    assert fake_canvas.calls["users_self"] == 2
    assert not CanvasOAuth2Token.objects.exists()


def test_canvas_refusing_the_refreshed_token_too_restarts_the_dance_in_a_view(
    browser, fake_canvas, stored_token
):
    fake_canvas.misbehave("api", "invalid_token", times=2)
    response = browser.get("/me/")
    assert response.status_code == 302
    assert "/login/oauth2/auth?" in response["Location"]
    assert fake_canvas.calls["users_self"] == 2
    assert not CanvasOAuth2Token.objects.exists()
    # After the dance the view works again.
    back = browser.get(callback_path(fake_canvas.authorize(response["Location"])))
    assert back["Location"] == "/me/"
    assert browser.get("/me/").json()["body"]["name"] == "Ada Lovelace"


def test_a_token_rejected_once_is_refreshed_in_a_view(browser, fake_canvas, stored_token):
    fake_canvas.misbehave("api", "invalid_token", times=1)
    assert browser.get("/me/").json()["status"] == 200
    assert fake_canvas.calls["token:refresh_token"] == 1


@pytest.fixture
def scoped_canvas(fake_canvas_options):
    fake_canvas_options["require_scopes"] = True


def test_a_401_without_www_authenticate_is_returned_unchanged(
    scoped_canvas, fake_canvas, stored_token, user
):
    response = CanvasSession.for_user(user).get("users/self")  # the token lacks the scope
    assert response.status_code == 401
    assert "WWW-Authenticate" not in response.headers
    assert response.json() == {"errors": [{"message": "Insufficient scopes on access token."}]}
    assert fake_canvas.calls["token:refresh_token"] == 0
    assert fake_canvas.calls["users_self"] == 1
    assert CanvasOAuth2Token.objects.get().access_token == stored_token.access_token


def test_other_statuses_are_returned_as_they_are(fake_canvas, stored_token, user):
    response = CanvasSession.for_user(user).get("courses/42/no-such-endpoint")
    assert response.status_code == 404


# -- Throttling and timeouts ------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 403])  # hosted Canvas, then older Canvas
def test_a_throttled_call_is_retried(fake_canvas, stored_token, user, status):
    fake_canvas.throttle.status = status
    fake_canvas.misbehave("api", "throttle", times=1)
    response = quick_session(user).get("users/self")
    assert response.status_code == 200
    assert fake_canvas.calls["users_self"] == 2


def test_a_permission_403_is_returned_never_retried(fake_canvas, stored_token, user, monkeypatch):
    # Canvas's "authenticated but not permitted" answer (spec §4.2): JSON, not the throttle's.
    body = {"status": "unauthorized", "errors": [{"message": "user not authorized"}]}
    monkeypatch.setattr(fake_canvas, "_user", lambda *_: json_response(403, body))
    response = quick_session(user).get("users/self")
    assert (response.status_code, response.json()) == (403, body)
    assert fake_canvas.calls["users_self"] == 1


@pytest.mark.parametrize(
    ("status", "content_type", "body", "throttled"),
    [
        (429, "text/plain; charset=utf-8", b"429 Too Many Requests (Rate Limit Exceeded)\n", True),
        (429, "text/html", b"<h1>Slow down</h1>", True),  # a 429 is a throttle, whoever wrote it
        (403, "text/plain; charset=utf-8", b"403 Forbidden (Rate Limit Exceeded)\n", True),
        (403, "text/plain; charset=utf-8", b"403 Forbidden\n", False),
        (403, "application/json", b'{"errors": [{"message": "Rate Limit Exceeded"}]}', False),
        (401, "text/plain", b"403 Forbidden (Rate Limit Exceeded)\n", False),
    ],
)
def test_throttled_is_429_or_the_403_rate_limit_text(status, content_type, body, throttled):
    response = requests.Response()
    response.status_code, response._content = status, body
    response.headers["Content-Type"] = content_type
    assert canvas.is_throttled(response) is throttled


def test_after_a_refusal_the_retry_waits_as_long_as_canvas_needs(
    fake_canvas, stored_token, user, monkeypatch
):
    # Canvas's 10 units a second: a refusal saying 45 left is admitted 0.5 s later (and a
    # unit of margin), not after the 1 s that room for two requests would take.
    waits = []
    release = pacing.Pace.release

    def noting_release(pace, ticket, remaining, now=None):
        release(pace, ticket, remaining, now)
        if remaining is not None and remaining < 50:
            waits.append(pace.delay(time.monotonic()))

    monkeypatch.setattr(pacing.Pace, "release", noting_release)
    session = CanvasSession.for_user(user)
    assert session.get("users/self").status_code == 200  # reads the token
    fake_canvas.throttle.hwm = 95  # one request in flight leaves 45: the next is refused
    fake_canvas.latency["api"] = 0.3
    first = threading.Thread(target=session.get, args=("users/self",))
    first.start()
    while fake_canvas.calls["users_self"] < 2:
        time.sleep(0.001)
    assert session.get("users/self").status_code == 200
    first.join()
    assert fake_canvas.calls["throttled"] == 1
    assert waits[0] == pytest.approx(0.6, abs=0.05)


def test_a_429_without_canvass_figure_is_retried_after_a_backoff(user, monkeypatch):
    # A proxy or a gateway in front of Canvas may answer 429 on its own, with no figure.
    CanvasOAuth2Token.objects.create(
        user=user, access_token="a-token", refresh_token="r", expires=None
    )
    monkeypatch.setattr(api, "BACKOFF_FIRST", 0.01)
    url = "https://canvas.example.edu/api/v1/users/self"
    with responses.RequestsMock() as mock:
        mock.get(url, status=429, body="Too Many Requests")
        mock.get(url, status=429, body="Too Many Requests")
        mock.get(url, json={"id": 1})
        assert CanvasSession.for_user(user).get("users/self").json() == {"id": 1}
        assert len(mock.calls) == 3


def test_figures_canvas_cannot_report_never_hold_a_call_for_the_whole_budget(
    fake_canvas, stored_token, user, settings
):
    settings.CANVAS_OAUTH_API_RETRY_BUDGET = 30
    session = quick_session(user)
    session.bucket = pacing.Bucket(600.0, 1000.0, 50.0, maximum=800.0)
    pace = pacing.for_token(stored_token.access_token, session.bucket)
    pace.release(pace.acquire(0.0), remaining=-1e300)  # read as 200 over: 0.25 s here
    assert pace.delay(time.monotonic()) <= 0.251
    assert session.get("users/self").status_code == 200


def test_a_throttled_call_raises_once_the_budget_is_spent(
    fake_canvas, stored_token, user, settings
):
    settings.CANVAS_OAUTH_API_RETRY_BUDGET = 0.3
    fake_canvas.misbehave("api", "throttle")
    with pytest.raises(CanvasThrottledError):
        quick_session(user).get("users/self")
    assert fake_canvas.calls["users_self"] >= 2


def test_a_budget_of_zero_never_retries(fake_canvas, stored_token, user, settings):
    settings.CANVAS_OAUTH_API_RETRY_BUDGET = 0
    fake_canvas.misbehave("api", "throttle")
    with pytest.raises(CanvasThrottledError):
        quick_session(user).get("users/self")
    assert fake_canvas.calls["users_self"] == 1


def test_a_view_throttled_past_its_budget_gets_the_503_page(
    browser, fake_canvas, stored_token, settings
):
    settings.CANVAS_OAUTH_API_RETRY_BUDGET = 0
    fake_canvas.misbehave("api", "throttle")
    response = browser.get("/me/")
    assert response.status_code == 503


def test_a_view_may_name_the_instance(browser, fake_canvas, stored_token):
    assert browser.get("/me/", {"domain": "canvas.example.edu"}).json()["status"] == 200


def test_a_view_naming_an_unknown_instance_answers_400(browser, fake_canvas, stored_token):
    assert browser.get("/me/", {"domain": "evil.example.com"}).status_code == 400
    assert browser.get("/me/", {"domain": "not a host/"}).status_code == 400
    assert fake_canvas.calls["users_self"] == 0


def test_a_call_may_set_its_own_timeout(fake_canvas, stored_token, user):
    fake_canvas.misbehave("api", "slow", times=1, delay=5)
    with pytest.raises(CanvasUnavailableError):
        CanvasSession.for_user(user).get("users/self", timeout=0.5)


def test_every_call_has_the_api_timeout(fake_canvas, stored_token, user, settings):
    settings.CANVAS_OAUTH_API_TIMEOUT = 0.5
    fake_canvas.misbehave("api", "slow", times=1, delay=5)
    with pytest.raises(CanvasUnavailableError):
        CanvasSession.for_user(user).get("users/self")


def test_connections_are_kept_alive_and_shared_per_origin(live_fake_canvas, user, settings):
    store_token(live_fake_canvas, user, domain=settings.CANVAS_OAUTH_CANVAS_DOMAIN)
    first, second = CanvasSession.for_user(user), CanvasSession.for_user(user)
    url = first.url_for("users/self")
    assert first.get_adapter(url) is second.get_adapter(url)
    for session in (first, second, first):
        assert session.get("users/self").status_code == 200
    first.close()  # leaves the shared connections open
    assert second.get("users/self").status_code == 200
    pools = second.get_adapter(url).poolmanager.pools
    # urllib3's pool container refuses plain iteration; keys() it allows.
    assert [pools[key].num_connections for key in pools.keys()] == [1]  # noqa: SIM118


def test_no_token_reaches_a_log_or_a_page(browser, fake_canvas, stored_token, caplog, settings):
    caplog.set_level(logging.DEBUG)
    settings.CANVAS_OAUTH_API_RETRY_BUDGET = 0
    seen = {stored_token.access_token, stored_token.refresh_token}
    fake_canvas.misbehave("api", "invalid_token", times=1)
    pages = [browser.get("/me/")]  # refreshed and retried
    seen.add(CanvasOAuth2Token.objects.get().access_token)
    fake_canvas.misbehave("api", "throttle", times=1)
    pages.append(browser.get("/me/"))  # 503 page
    settings.CANVAS_OAUTH_API_TIMEOUT = 0.2
    fake_canvas.misbehave("api", "slow", times=1, delay=5)
    pages.append(browser.get("/me/"))  # 504 page
    pages.append(browser.get("/proxy/", {"url": "https://evil.example.com/"}))  # 400 page
    fake_canvas.misbehave("api", "invalid_token", times=2)
    pages.append(browser.get("/me/"))  # to Canvas again
    assert [page.status_code for page in pages] == [200, 503, 504, 400, 302]
    text = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    text += "".join(page.content.decode() + str(page.headers) for page in pages)
    assert "canvas_oauth.api" in {r.name for r in caplog.records}
    for secret in seen:
        assert secret not in text


# -- What error reports show (security round three, findings 3 and 5) --------------------------


@pytest.mark.parametrize(
    "call",
    [
        {"headers": {"X-Note": "snow \u2603"}},  # http.client: UnicodeEncodeError
        {"data": 42},  # requests: TypeError
        {"data": object()},
    ],
    ids=["non-latin-1-header", "int-data", "object-data"],
)
def test_an_error_below_the_send_is_ours_and_its_report_shows_no_token(
    live_fake_canvas, user, settings, rf, call
):
    settings.DEBUG = True  # every frame's variables, as the DEBUG page shows them
    token = store_token(live_fake_canvas, user, domain=settings.CANVAS_OAUTH_CANVAS_DOMAIN)
    session = CanvasSession.for_user(user)
    with pytest.raises(CanvasRequestError) as caught:
        session.post("users/self", **call)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__ is False
    assert caught.value.__context__ is None
    reporter = ExceptionReporter(rf.get("/"), caught.type, caught.value, caught.tb)
    report, text = reporter.get_traceback_html(), reporter.get_traceback_text()
    assert "_send" in report
    for shown in (report, text, str(caught.value)):
        assert token.access_token not in shown


FILE_HOST = "https://files.example.com/f/1"


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 401, "headers": {"WWW-Authenticate": 'Bearer realm="files"'}},
        {
            "status": 403,
            "content_type": "text/plain",
            "body": "403 Forbidden (Rate Limit Exceeded)",
        },
        {"status": 200, "headers": {"X-Rate-Limit-Remaining": "0"}},
        {"status": 200, "headers": {"X-Rate-Limit-Remaining": "-1e300"}},
    ],
    ids=["401", "throttle-403", "remaining-0", "remaining-huge-debt"],
)
def test_another_hosts_answer_after_a_redirect_is_not_canvass(user, answer):
    canvas = fake_from_settings()
    token = store_token(canvas, user)
    session = CanvasSession.for_user(user)
    download = session.url_for("files/1/download")
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, download, status=302, headers={"Location": FILE_HOST})
        mock.add(responses.GET, FILE_HOST, **answer)
        response = session.get("files/1/download")
        # Returned as it is: not refreshed, not retried, nothing sent to the token URL.
        assert response.status_code == answer["status"]
        assert [call.request.url for call in mock.calls] == [download, FILE_HOST]
        assert "Authorization" not in mock.calls[1].request.headers
    assert CanvasOAuth2Token.objects.get().access_token == token.access_token
    pace = pacing.for_token(token.access_token, session.bucket)
    assert pace.delay(time.monotonic()) == 0  # Canvas's next call is not held back


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 401, "headers": {"WWW-Authenticate": 'Bearer realm="canvas-lms"'}},
        {"status": 429, "headers": {"X-Rate-Limit-Remaining": "0"}},
        {"status": 200, "headers": {"X-Rate-Limit-Remaining": "-1e300"}},
    ],
    ids=["401", "throttled", "remaining-huge-debt"],
)
def test_an_answer_sent_back_to_canvas_by_another_host_is_not_about_our_token(user, answer):
    # The other host sends the call back to the Canvas origin with a token of its choosing
    # in the URL (Canvas reads ?access_token=): Canvas's answer is about that token.
    canvas = fake_from_settings()
    token = store_token(canvas, user)
    session = CanvasSession.for_user(user)
    download = session.url_for("files/1/download")
    back = session.url_for("users/self") + "?access_token=theirs"
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, download, status=302, headers={"Location": FILE_HOST})
        mock.add(responses.GET, FILE_HOST, status=302, headers={"Location": back})
        mock.add(responses.GET, back, **answer)
        response = session.get("files/1/download")
        assert response.status_code == answer["status"]
        assert len(mock.calls) == 3  # not refreshed, not retried
        assert "Authorization" not in mock.calls[2].request.headers
    assert CanvasOAuth2Token.objects.get().access_token == token.access_token
    pace = pacing.for_token(token.access_token, session.bucket)
    assert pace.delay(time.monotonic()) == 0


def test_paginate_follows_no_link_another_host_sent(user):
    # A list call redirected off the origin: the next link is that host's choice, and the
    # session would send the user's token wherever on Canvas it points.
    canvas = fake_from_settings()
    store_token(canvas, user)
    session = CanvasSession.for_user(user)
    courses = session.url_for("courses") + "?per_page=100"
    chosen = "https://canvas.example.edu/login/oauth2/token?grant_type=x"
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, courses, status=302, headers={"Location": FILE_HOST})
        mock.add(responses.GET, FILE_HOST, json=[], headers={"Link": f'<{chosen}>; rel="next"'})
        with pytest.raises(CanvasRequestError):
            list(session.paginate("courses"))
        assert len(mock.calls) == 2
