"""The fake Canvas served in-process (mock_canvas) and over loopback HTTP (LiveFakeCanvas)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import responses

from canvas_oauth.testing import FakeCanvas, LiveFakeCanvas, mock_canvas
from canvas_oauth.testing.provider import DEFAULT_REDIRECT_URI
from canvas_oauth.testing.server import build_parser, fake_from_options, main
from tests.conftest import PATIENCE, wait_until

CALLBACK = DEFAULT_REDIRECT_URI
# A slow fault's delay that no read timeout of these tests comes near.
SLOW = 30


@pytest.fixture(params=["mock", "live"])
def fake(request) -> Iterator[FakeCanvas]:
    """Yield a fake served by each adapter in turn."""
    fake = FakeCanvas()
    if request.param == "mock":
        with mock_canvas(fake):
            yield fake
    else:
        with LiveFakeCanvas(fake):
            yield fake


@pytest.fixture
def live() -> Iterator[LiveFakeCanvas]:
    with LiveFakeCanvas(FakeCanvas()) as server:
        yield server


def auth_url(fake: FakeCanvas, **params: str) -> str:
    query = {
        "client_id": fake.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "state": "s1",
        **params,
    }
    return f"{fake.base_url}/login/oauth2/auth?" + urlencode(query)


def post_token(fake: FakeCanvas, timeout: float | tuple[float, float] = 5, **form: str):
    fields = {"client_id": fake.client_id, "client_secret": fake.client_secret, **form}
    return requests.post(f"{fake.base_url}/login/oauth2/token", data=fields, timeout=timeout)


def users_self(fake: FakeCanvas, token: str, timeout: float | tuple[float, float] = 5):
    return requests.get(
        f"{fake.base_url}/api/v1/users/self",
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def code_from(location: str) -> str:
    return parse_qs(urlsplit(location).query)["code"][0]


# -- the whole dance over HTTP --------------------------------------------------------------


def consent_page(browser: requests.Session, fake: FakeCanvas) -> requests.Response:
    """Follow Canvas's redirect from the authorize URL to the consent page."""
    start = browser.get(auth_url(fake), allow_redirects=False, timeout=5)
    assert start.status_code == 302
    assert start.headers["Location"] == f"{fake.base_url}/login/oauth2/confirm"
    return browser.get(start.headers["Location"], allow_redirects=False, timeout=5)


def test_full_dance_with_requests(fake):
    browser = requests.Session()
    page = consent_page(browser, fake)
    assert page.status_code == 200
    assert 'id="authorize"' in page.text and 'id="cancel"' in page.text
    token = re.search(r'name="custom_csrf_token" value="([^"]+)"', page.text).group(1)
    accepted = browser.post(
        f"{fake.base_url}/login/oauth2/accept",
        data={"custom_csrf_token": token},
        allow_redirects=False,
        timeout=5,
    )
    assert accepted.status_code == 302
    location = accepted.headers["Location"]
    assert location.startswith(CALLBACK + "?code=") and location.endswith("&state=s1")

    response = post_token(fake, grant_type="authorization_code", code=code_from(location))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert users_self(fake, body["access_token"]).json()["name"] == "Ada Lovelace"

    refreshed = post_token(fake, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert "refresh_token" not in refreshed.json()

    revoked = requests.delete(
        f"{fake.base_url}/login/oauth2/token",
        headers={"Authorization": "Bearer " + refreshed.json()["access_token"]},
        timeout=5,
    )
    assert (revoked.status_code, revoked.json()) == (200, {})
    dead = users_self(fake, refreshed.json()["access_token"])
    assert dead.status_code == 401
    assert dead.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    assert dead.json() == {"errors": [{"message": "Revoked access token."}]}
    assert dead.headers["X-Rate-Limit-Remaining"] and dead.headers["X-Request-Cost"]
    assert fake.calls == {
        "authorize": 1,
        "token": 2,
        "token:authorization_code": 1,
        "token:refresh_token": 1,
        "revoke": 1,
        "users_self": 2,
    }


def test_cancel_link_over_http(fake):
    browser = requests.Session()
    consent_page(browser, fake)
    denied = browser.get(f"{fake.base_url}/login/oauth2/deny", allow_redirects=False, timeout=5)
    assert denied.headers["Location"] == CALLBACK + "?error=access_denied&state=s1"


def test_basic_auth_and_json_body_over_http(fake):
    code = code_from(fake.authorize(auth_url(fake)))
    response = requests.post(
        f"{fake.base_url}/login/oauth2/token",
        json={"grant_type": "authorization_code", "code": code},
        auth=(fake.client_id, fake.client_secret),
        timeout=5,
    )
    assert response.status_code == 200
    assert fake.last_token_request == {"grant_type": "authorization_code", "code": code}


def test_rendered_auth_error_over_http(fake):
    response = requests.get(auth_url(fake, client_id="1"), allow_redirects=False, timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Canvas OAuth 2.0"
    assert response.json() == {"error": "invalid_client", "error_description": "unknown client"}


def test_token_error_over_http(fake):
    response = post_token(fake, grant_type="authorization_code", code="0" * 128)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "authorization_code not found",
    }


def test_unknown_path_is_404(fake):
    assert requests.get(f"{fake.base_url}/api/v1/accounts", timeout=5).status_code == 404


def test_paging_through_courses_over_each_adapter(fake):
    fake.add_courses(n=23)
    headers = {"Authorization": "Bearer " + fake.issue_token()["access_token"]}
    url = f"{fake.base_url}/api/v1/courses?per_page=10"
    seen = []
    while url:
        response = requests.get(url, headers=headers, timeout=5)
        assert response.status_code == 200
        assert response.headers["X-Request-Cost"] == "0.05"
        seen += [course["id"] for course in response.json()]
        assert response.links["current"]["url"].startswith(fake.base_url + "/api/v1/courses?")
        url = response.links.get("next", {}).get("url")
    assert seen == list(range(1, 24))
    assert fake.calls["courses"] == 3


# -- faults through both adapters -------------------------------------------------------------


def test_fault_error_is_500_html(fake):
    fake.misbehave("token", "error", times=1)
    response = post_token(fake, grant_type="refresh_token", refresh_token="x")
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")
    assert post_token(fake, grant_type="refresh_token", refresh_token="x").status_code == 400


def test_fault_unavailable_is_503(fake):
    fake.misbehave("revoke", "unavailable")
    for _ in range(2):
        response = requests.delete(f"{fake.base_url}/login/oauth2/token", timeout=5)
        assert response.status_code == 503
    fake.behave()
    assert requests.delete(f"{fake.base_url}/login/oauth2/token", timeout=5).status_code == 400


def test_fault_garbage_is_200_with_unparseable_json(fake):
    fake.misbehave("token", "garbage", times=1)
    response = post_token(fake, grant_type="authorization_code", code="x")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_fault_html_is_200_html_page(fake):
    fake.misbehave("api", "html", times=1)
    response = users_self(fake, fake.issue_token()["access_token"])
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html" in response.text


def test_fault_wrong_type_keeps_the_json_body(fake):
    code = code_from(fake.authorize(auth_url(fake)))
    fake.misbehave("token", "wrong_type", times=1)
    response = post_token(fake, grant_type="authorization_code", code=code)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "access_token" in response.json()


def test_fault_missing_token_leaves_the_code_unused(fake):
    code = code_from(fake.authorize(auth_url(fake)))
    fake.misbehave("token", "missing_token", times=1)
    response = post_token(fake, grant_type="authorization_code", code=code)
    assert response.status_code == 200
    assert "access_token" not in response.json()
    assert post_token(fake, grant_type="authorization_code", code=code).status_code == 200


def test_fault_drop_is_a_connection_error(fake):
    fake.misbehave("token", "drop", times=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        post_token(fake, grant_type="authorization_code", code="x")
    assert post_token(fake, grant_type="authorization_code", code="x").status_code == 400


def test_fault_throttle_is_the_throttles_text_429_or_403_on_older_canvas(fake):
    fake.misbehave("api", "throttle", times=1)
    response = users_self(fake, "1~x")
    assert response.status_code == 429
    assert response.text == "429 Too Many Requests (Rate Limit Exceeded)\n"
    assert response.headers["X-Rate-Limit-Remaining"] == "0.0"
    fake.throttle.status = 403
    fake.misbehave("api", "throttle", times=1)
    response = users_self(fake, "1~x")
    assert response.status_code == 403
    assert response.text == "403 Forbidden (Rate Limit Exceeded)\n"


def test_fault_invalid_token_is_the_401_of_a_dead_token(fake):
    token = fake.issue_token()["access_token"]
    fake.misbehave("api", "invalid_token", times=1)
    response = users_self(fake, token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    assert response.json() == {"errors": [{"message": "Invalid access token."}]}
    assert users_self(fake, token).status_code == 200


@pytest.mark.parametrize("timeout", [0.1, (5, 0.1)])
def test_fault_slow_times_out_a_short_read_timeout(fake, timeout):
    token = fake.issue_token()["access_token"]
    # Far beyond the read timeout, so that no scheduling delay lets the answer arrive in
    # time; stopping the live server wakes the request.
    fake.misbehave("api", "slow", times=1, delay=SLOW)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        users_self(fake, token, timeout=timeout)
    assert time.monotonic() - started < SLOW  # the client gave up before the answer came
    # The live server counts the call on its own thread, which a loaded machine may not
    # have run yet when the client gives up: wait for it, don't race it.
    wait_until(lambda: fake.calls["users_self"] == 1, "the server counting the call")


def test_fault_slow_answers_late_within_the_timeout(fake):
    token = fake.issue_token()["access_token"]
    fake.misbehave("api", "slow", times=1, delay=0.1)
    started = time.monotonic()
    response = users_self(fake, token, timeout=SLOW)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.1


def test_fault_slow_without_timeout_waits(fake):
    fake.misbehave("api", "slow", times=1, delay=0.05)
    started = time.monotonic()
    response = requests.get(f"{fake.base_url}/api/v1/users/self")
    assert response.status_code == 401
    assert time.monotonic() - started >= 0.05


def test_latency_delays_every_call(fake):
    fake.latency["token"] = 0.05
    started = time.monotonic()
    for _ in range(2):
        post_token(fake, grant_type="nope")
    assert time.monotonic() - started >= 0.1


def test_wildcard_faults_spare_the_browser_pages(fake):
    fake.misbehave("*", "error", times=3)
    assert requests.get(auth_url(fake), allow_redirects=False, timeout=5).status_code == 302
    assert post_token(fake, grant_type="x").status_code == 500
    assert requests.delete(f"{fake.base_url}/login/oauth2/token", timeout=5).status_code == 500
    assert users_self(fake, "x").status_code == 500
    assert users_self(fake, "x").status_code == 401


def test_faults_on_the_authorize_pages(fake):
    fake.misbehave("authorize", "unavailable", times=1)
    assert requests.get(auth_url(fake), allow_redirects=False, timeout=5).status_code == 503


@pytest.mark.parametrize(
    ("endpoint", "mode", "times"),
    [("tokens", "error", None), ("token", "explode", None), ("token", "error", 0)],
)
def test_misbehave_rejects_unknown_names(endpoint, mode, times):
    with pytest.raises(ValueError):
        FakeCanvas().misbehave(endpoint, mode, times=times)


def refresh_statuses(fake: FakeCanvas, calls: int) -> list[str]:
    """Refresh one live token ``calls`` times in-process; name what each answer was."""
    refresh_token = fake.issue_token()["refresh_token"]
    form = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    seen = []
    for _ in range(calls):
        response = fake.dispatch("POST", "/login/oauth2/token", {}, form, {})
        if response.status == 500:
            seen.append("error")
        elif response.status == 200 and not response.body.startswith(b"{"):
            seen.append("garbage")
        elif response.delay:
            seen.append("slow")
        else:
            assert response.status == 200 and "access_token" in response.json()
            seen.append("ok")
    return seen


def test_rate_faults_fail_their_share_of_the_calls_each_mode_its_part():
    fake = FakeCanvas()
    fake.random.seed(12)
    fake.misbehave("token", "error", rate=0.1)
    fake.misbehave("token", "garbage", rate=0.1)
    fake.misbehave("token", "slow", rate=0.05, delay=7)
    seen = refresh_statuses(fake, 2000)
    # Binomial(2000, p): these bounds are more than five standard deviations wide.
    assert 130 < seen.count("error") < 270
    assert 130 < seen.count("garbage") < 270
    assert 50 < seen.count("slow") < 150
    assert seen.count("ok") == 2000 - seen.count("error") - seen.count("garbage") - seen.count(
        "slow"
    )
    assert fake.calls["token:refresh_token"] == 2000


def test_rate_faults_repeat_with_the_same_seed():
    runs = []
    for _ in range(2):
        fake = FakeCanvas()
        fake.random.seed(3)
        fake.misbehave("token", "error", rate=0.3)
        runs.append(refresh_statuses(fake, 50))
    assert runs[0] == runs[1]
    assert "error" in runs[0] and "ok" in runs[0]


def test_rate_fault_times_counts_only_the_calls_it_hit():
    fake = FakeCanvas()
    fake.random.seed(5)
    fake.misbehave("token", "error", rate=0.5, times=3)
    seen = refresh_statuses(fake, 60)
    assert seen.count("error") == 3
    assert seen[-20:] == ["ok"] * 20


def test_calls_a_rate_spares_go_on_to_a_fault_without_rate():
    fake = FakeCanvas()
    fake.random.seed(8)
    fake.misbehave("token", "error", rate=0.5)
    fake.misbehave("token", "garbage")
    seen = refresh_statuses(fake, 40)
    assert set(seen) == {"error", "garbage"}


def test_rate_of_one_hits_every_call():
    fake = FakeCanvas()
    fake.misbehave("token", "error", rate=1.0, times=2)
    assert refresh_statuses(fake, 3) == ["error", "error", "ok"]


@pytest.mark.parametrize("rate", [0, -0.1, 1.5])
def test_misbehave_rejects_rates_outside_zero_to_one(rate):
    with pytest.raises(ValueError):
        FakeCanvas().misbehave("token", "error", rate=rate)


# -- adapter specifics ----------------------------------------------------------------------------


def test_mock_refuses_other_hosts_and_yields_the_requests_mock():
    fake = FakeCanvas()
    with mock_canvas(fake) as mock:
        assert isinstance(mock, responses.RequestsMock)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get("https://elsewhere.example/", timeout=5)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get("https://canvas.example.edu.evil.example/", timeout=5)
        mock.get("https://elsewhere.example/ok", json={"ok": True})
        assert requests.get("https://elsewhere.example/ok", timeout=5).json() == {"ok": True}
        assert requests.get(fake.base_url, timeout=5).status_code == 404


def test_mock_latency_beyond_the_timeout_is_a_read_timeout():
    fake = FakeCanvas()
    fake.latency["*"] = 1.0
    with mock_canvas(fake), pytest.raises(requests.exceptions.ReadTimeout):
        post_token(fake, timeout=0.5, grant_type="x")


def test_live_server_sets_base_url_and_stops_idempotently():
    fake = FakeCanvas()
    server = LiveFakeCanvas(fake)
    server.stop()  # stopping a server that never ran is harmless
    assert server.start() is server.start()
    assert fake.base_url == server.url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
    assert requests.head(f"{server.url}/api/v1/users/self", timeout=5).status_code == 401
    server.stop()
    server.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{server.url}/", timeout=1)


def test_live_server_stop_does_not_wait_for_a_slow_fault(live):
    live.fake.misbehave("api", "slow", delay=SLOW)
    with pytest.raises(requests.exceptions.ReadTimeout):
        users_self(live.fake, "x", timeout=0.1)
    wait_until(lambda: live.fake.calls["users_self"] == 1, "the server taking the request")
    started = time.monotonic()
    live.stop()
    assert time.monotonic() - started < SLOW / 3  # woken, not waited for


def test_stopping_a_server_interrupted_while_starting_does_not_hang(monkeypatch):
    live = LiveFakeCanvas(FakeCanvas())

    def interrupted(thread: threading.Thread) -> None:
        raise KeyboardInterrupt  # Ctrl-C just as the serving thread was to start

    monkeypatch.setattr(threading.Thread, "start", interrupted)
    with pytest.raises(KeyboardInterrupt):
        live.start()
    monkeypatch.undo()
    stopping = threading.Thread(target=live.stop, daemon=True)
    stopping.start()
    stopping.join(PATIENCE)
    assert not stopping.is_alive()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{live.url}/", timeout=5)  # and the port is closed


def test_live_server_counts_concurrent_calls_exactly(live):
    fake = live.fake
    token = fake.issue_token()["access_token"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: users_self(fake, token).status_code, range(24)))
    assert statuses == [200] * 24
    assert fake.calls["users_self"] == 24


def test_live_consent_page_works_with_relative_form_actions(live):
    fake = live.fake
    session = requests.Session()
    page = consent_page(session, fake)
    action = re.search(r'<form method="post" action="([^"]+)">', page.text).group(1)
    token = re.search(r'name="custom_csrf_token" value="([^"]+)"', page.text).group(1)
    response = session.post(
        live.url + action, data={"custom_csrf_token": token}, allow_redirects=False, timeout=5
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith(CALLBACK + "?code=")


# -- the command line ----------------------------------------------------------------------------


def test_main_serves_until_stopped(capsys):
    stop = threading.Event()
    argv = ["--port", "0", "--client-id", "42", "--client-secret", "s", "--auto-approve"]
    argv += ["--verbose", "--user-name", "Grace Hopper", "--redirect-uri", CALLBACK]
    thread = threading.Thread(target=main, args=(argv, stop))
    thread.start()
    try:
        printed: list[str] = []

        def listening() -> bool:
            printed.append(capsys.readouterr().out)
            return "listening on" in "".join(printed)

        wait_until(listening, "the server saying where it listens")
        url = re.search(r"http://127\.0\.0\.1:\d+", "".join(printed)).group(0)
        query = urlencode({"client_id": "42", "redirect_uri": CALLBACK, "response_type": "code"})
        browser = requests.Session()
        response = browser.get(f"{url}/login/oauth2/auth?{query}", allow_redirects=False, timeout=5)
        assert response.headers["Location"] == f"{url}/login/oauth2/confirm"
        response = browser.get(response.headers["Location"], allow_redirects=False, timeout=5)
        code = code_from(response.headers["Location"])
        token = requests.post(
            f"{url}/login/oauth2/token",
            data={"code": code, "client_id": "42", "client_secret": "s"},
            timeout=5,
        ).json()
        assert token["user"]["name"] == "Grace Hopper"
    finally:
        stop.set()
        thread.join(timeout=PATIENCE)
    assert "Fake Canvas stopped" in capsys.readouterr().out
    assert not thread.is_alive()


def test_command_line_key_lists_the_demo_callback_unless_told_otherwise():
    fake = fake_from_options(build_parser().parse_args([]))
    assert fake.client.redirect_uris == ["http://127.0.0.1:8000/oauth/oauth-callback"]
    assert fake.client.redirect_uri is None
    argv = ["--redirect-uri", "https://a/cb", "--redirect-uri", "https://b/cb"]
    argv += ["--legacy-redirect-uri", "http://127.0.0.1/"]
    fake = fake_from_options(build_parser().parse_args(argv))
    assert fake.client.redirect_uris == ["https://a/cb", "https://b/cb"]
    any_port = auth_url(fake, redirect_uri="http://127.0.0.1:9000/oauth/oauth-callback")
    assert "code=" in fake.authorize(any_port)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_main_in_the_main_thread_stops_on_signals(capsys, signum):
    before = signal.getsignal(signal.SIGTERM)

    def signal_once_handled() -> None:
        # A SIGTERM sent before main() handles it would end pytest itself.
        wait_until(lambda: signal.getsignal(signal.SIGTERM) is not before, "main() handling it")
        os.kill(os.getpid(), signum)

    sender = threading.Thread(target=signal_once_handled)
    sender.start()
    try:
        assert main(["--port", "0"]) == 0
    finally:
        sender.join(timeout=PATIENCE)
    assert "Fake Canvas stopped" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before


def test_live_server_survives_a_crashing_handler(live, monkeypatch, capsys):
    def crash(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(live.fake, "handle", crash)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{live.url}/", timeout=5)
    monkeypatch.undo()
    assert requests.get(f"{live.url}/", timeout=5).status_code == 404


def test_the_package_names_the_live_server_lazily_and_nothing_else():
    import canvas_oauth.testing as testing

    assert testing.LiveFakeCanvas is LiveFakeCanvas
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        testing.NoSuchThing  # noqa: B018


def test_command_line_seeds_users_and_courses():
    argv = ["--courses", "25", "--user", "Grace Hopper", "--user", "Alan Turing"]
    fake = fake_from_options(build_parser().parse_args(argv))
    assert [user.name for user in fake.users] == ["Ada Lovelace", "Grace Hopper", "Alan Turing"]
    assert [len(user.courses) for user in fake.users] == [25, 25, 25]
    ids = [course.id for user in fake.users for course in user.courses]
    assert len(set(ids)) == 75
    assert all(not user.courses for user in fake_from_options(build_parser().parse_args([])).users)


@pytest.mark.parametrize("count", ["-1", "many"])
def test_command_line_refuses_a_course_count_that_is_not_a_count(count, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--courses", count])
    assert "is not a whole number, 0 or more" in capsys.readouterr().err


def token_from(url: str, client_id: str, client_secret: str) -> str:
    """Walk an auto-approving fake's dance over HTTP; return the access token."""
    query = urlencode({"client_id": client_id, "redirect_uri": CALLBACK, "response_type": "code"})
    response = requests.get(f"{url}/login/oauth2/auth?{query}", allow_redirects=False, timeout=5)
    browser_cookie = response.cookies
    response = requests.get(
        response.headers["Location"], cookies=browser_cookie, allow_redirects=False, timeout=5
    )
    form = {"code": code_from(response.headers["Location"]), "client_id": client_id}
    form["client_secret"] = client_secret
    return requests.post(f"{url}/login/oauth2/token", data=form, timeout=5).json()["access_token"]


def test_command_line_serves_its_courses_across_pages_and_stops_on_sigterm():
    argv = ["--port", "0", "--courses", "250", "--user", "Grace Hopper", "--auto-approve"]
    argv += ["--redirect-uri", CALLBACK]
    # As a user runs it: no warning is hidden, and any would show on stderr.
    process = subprocess.Popen(
        [sys.executable, "-W", "default", "-m", "canvas_oauth.testing.server", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "users: Ada Lovelace (250 courses), Grace Hopper (250 courses)" in line
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        assert requests.get(f"{url}/api/v1/users/self", timeout=5).status_code == 401
        token = token_from(url, "10000000000001", "fake-canvas-secret-" + "x" * 45)
        headers = {"Authorization": f"Bearer {token}"}
        page: str | None = f"{url}/api/v1/courses?per_page=100"
        pages = []
        while page:
            response = requests.get(page, headers=headers, timeout=5)
            pages.append(len(response.json()))
            page = response.links.get("next", {}).get("url")
        assert pages == [100, 100, 50]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=PATIENCE) == 0
        assert "stopped" in process.stdout.read()
        assert process.stderr.read() == ""  # no RuntimeWarning about sys.modules
    finally:
        process.kill()
        process.stdout.close()
        process.stderr.close()
        process.wait()
