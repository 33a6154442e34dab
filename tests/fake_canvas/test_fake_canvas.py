"""The fake Canvas follows canvas-oauth2-provider.md, checked through FakeCanvas.dispatch."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from canvas_oauth.testing import AuthorizationError, FakeCanvas, FakeClock, FakeUser
from canvas_oauth.testing.errors import to_sentence
from canvas_oauth.testing.provider import DEFAULT_REDIRECT_URI, s256
from canvas_oauth.testing.wire import split_target

CALLBACK = DEFAULT_REDIRECT_URI
VERIFIER = "v" * 43
OOB = "urn:ietf:wg:oauth:2.0:oob"
TOKEN_RE = re.compile(r"\A\d+~[A-Za-z0-9]{64}\Z")


@pytest.fixture
def fake() -> FakeCanvas:
    return FakeCanvas(clock=FakeClock(start=1_700_000_000.0))


def auth_url(fake: FakeCanvas, **params: str) -> str:
    query = {
        "client_id": fake.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "state": "xyz",
        **params,
    }
    return f"{fake.base_url}/login/oauth2/auth?" + urlencode(query)


def get(fake: FakeCanvas, path: str, **query: str):
    return fake.dispatch("GET", path, query, {}, {})


def query_of(url: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


def code_for(fake: FakeCanvas, **params: str) -> str:
    return query_of(fake.authorize(auth_url(fake, **params)))["code"]


def token_post(fake: FakeCanvas, headers: dict[str, str] | None = None, **form: str):
    return fake.dispatch("POST", "/login/oauth2/token", {}, form, headers or {})


def exchange(fake: FakeCanvas, code: str, **form: str):
    fields = {
        "grant_type": "authorization_code",
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "code": code,
        **form,
    }
    return token_post(fake, **fields)


def refresh(fake: FakeCanvas, refresh_token: str, **form: str):
    fields = {
        "grant_type": "refresh_token",
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "refresh_token": refresh_token,
        **form,
    }
    return token_post(fake, **fields)


def users_self(fake: FakeCanvas, token: str):
    return fake.dispatch("GET", "/api/v1/users/self", {}, {}, {"Authorization": f"Bearer {token}"})


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def assert_oauth_error(response, status: int, error: str, description: str) -> None:
    assert response.status == status
    assert response.json() == {"error": error, "error_description": description}
    assert response.headers["Content-Type"].startswith("application/json")
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Canvas OAuth 2.0"
    else:
        assert "WWW-Authenticate" not in response.headers


class Browser:
    """Visit the fake's pages with a cookie jar, as a browser would."""

    def __init__(self, fake: FakeCanvas) -> None:
        self.fake = fake
        self.cookie = ""

    def go(self, method: str, target: str, form: dict[str, str] | None = None):
        path, query = split_target(target)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        response = self.fake.dispatch(method, path, query, form or {}, headers)
        if "Set-Cookie" in response.headers:
            self.cookie = response.headers["Set-Cookie"].split(";")[0]
        return response

    def consent_page(self, url: str):
        """Start at ``url`` and follow the redirect to the consent page."""
        to_confirm = self.go("GET", url)
        assert to_confirm.location == self.fake.base_url + "/login/oauth2/confirm"
        return self.go("GET", to_confirm.location)


def csrf_of(page) -> str:
    return re.search(r'name="custom_csrf_token" value="([^"]+)"', page.text).group(1)


# -- §1 authorization ----------------------------------------------------------------------


def test_consent_page_has_an_authorize_button_and_a_cancel_link(fake):
    browser = Browser(fake)
    start = browser.go("GET", auth_url(fake, purpose="Grade sync"))
    assert start.status == 302
    assert start.location == "https://canvas.example.edu/login/oauth2/confirm"
    assert start.headers["Set-Cookie"].startswith("canvas_session=")
    response = browser.go("GET", start.location)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.text
    assert 'id="authorize"' in page and 'action="/login/oauth2/accept"' in page
    assert '<a href="/login/oauth2/deny" id="cancel">' in page
    assert "Grade sync" in page and "Ada Lovelace" in page
    form = {"custom_csrf_token": csrf_of(response)}
    accepted = browser.go("POST", "/login/oauth2/accept", form)
    assert accepted.status == 302
    assert accepted.location.startswith(CALLBACK + "?code=")
    again = browser.go("POST", "/login/oauth2/accept", form)
    assert (again.status, again.text) == (400, "Invalid or missing session for oauth")


def test_consent_page_lists_requested_scopes_and_escapes_them(fake):
    page = Browser(fake).consent_page(auth_url(fake, scope="url:GET|/api/v1/<x>")).text
    assert "<code>url:GET|/api/v1/&lt;x&gt;</code>" in page


def test_accept_checks_the_session_and_its_csrf_token(fake):
    response = fake.dispatch("POST", "/login/oauth2/accept", {}, {}, {})
    assert (response.status, response.text) == (400, "Invalid or missing session for oauth")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    browser = Browser(fake)
    browser.go("GET", auth_url(fake))  # consent not shown yet: no CSRF token issued
    response = browser.go("POST", "/login/oauth2/accept", {"custom_csrf_token": "x"})
    assert (response.status, response.text) == (400, "Missing custom CSRF token")
    browser.go("GET", "/login/oauth2/confirm")
    response = browser.go("POST", "/login/oauth2/accept", {"custom_csrf_token": "forged"})
    assert (response.status, response.text) == (400, "Invalid custom CSRF token")


def test_cancel_is_a_get_and_needs_the_session(fake):
    assert get(fake, "/login/oauth2/deny").text == "Invalid or missing session for oauth"
    browser = Browser(fake)
    browser.consent_page(auth_url(fake))
    denied = browser.go("GET", "/login/oauth2/deny")
    assert denied.location == CALLBACK + "?error=access_denied&state=xyz"
    assert fake.dispatch("PUT", "/login/oauth2/deny", {}, {}, {}).status == 405


def test_confirm_without_a_session_sends_the_browser_to_log_in(fake):
    assert get(fake, "/login/oauth2/confirm").location == fake.base_url + "/login"


def test_success_redirect_has_128_hex_code_and_state(fake):
    location = fake.authorize(auth_url(fake))
    assert location.startswith(CALLBACK + "?code=")
    params = query_of(location)
    assert re.fullmatch(r"[0-9a-f]{128}", params["code"])
    assert params["state"] == "xyz"
    assert fake.calls["authorize"] == 1


def test_redirect_uri_with_a_query_gets_ampersand(fake):
    fake.client.redirect_uris.append(CALLBACK + "?next=/x")
    location = fake.authorize(auth_url(fake, redirect_uri=CALLBACK + "?next=/x"))
    assert location.startswith(CALLBACK + "?next=/x&code=")


def test_state_is_left_out_when_not_sent(fake):
    url = f"{fake.base_url}/login/oauth2/auth?" + urlencode(
        {"client_id": fake.client_id, "redirect_uri": CALLBACK, "response_type": "code"}
    )
    assert "state" not in query_of(fake.authorize(url))


def test_cancel_redirects_access_denied_without_description(fake):
    location = fake.authorize(auth_url(fake), approve=False)
    assert location == CALLBACK + "?error=access_denied&state=xyz"


@pytest.mark.parametrize("client_id", ["", "abc", "99", str(2**64), "10000000000001 "])
def test_unknown_client_is_rendered_401(fake, client_id):
    response = fake.handle("GET", auth_url(fake, client_id=client_id), {})
    assert_oauth_error(response, 401, "invalid_client", "unknown client")
    with pytest.raises(AuthorizationError) as caught:
        fake.authorize(auth_url(fake, client_id=client_id))
    assert caught.value.response.status == 401


def test_inactive_client_is_unknown(fake):
    fake.client.active = False
    response = fake.handle("GET", auth_url(fake), {})
    assert_oauth_error(response, 401, "invalid_client", "unknown client")


@pytest.mark.parametrize(
    "redirect_uri", ["", "https://evil.example/cb", "https://app.example.com/oauth/callback"]
)
def test_bad_redirect_uri_is_rendered_400_by_default(redirect_uri):
    fake = FakeCanvas()
    response = fake.handle("GET", auth_url(fake, redirect_uri=redirect_uri), {})
    assert_oauth_error(
        response, 400, "invalid_request", "redirect_uri does not match client settings"
    )
    with pytest.raises(AuthorizationError, match="400"):
        fake.authorize(auth_url(fake, redirect_uri=redirect_uri))


def test_the_redirect_uri_is_checked_before_anyone_logs_in():
    # What canvas_oauth_doctor relies on: a GET with no Canvas session learns the answer.
    fake = FakeCanvas()
    fake.current_user = None
    response = fake.handle("GET", auth_url(fake, redirect_uri="https://tool.example.edu/cb"), {})
    assert_oauth_error(
        response, 400, "invalid_request", "redirect_uri does not match client settings"
    )
    assert "Set-Cookie" not in response.headers
    response = fake.handle("GET", auth_url(fake), {})
    assert response.status == 302
    assert response.headers["Location"].startswith(fake.base_url + "/login")


def test_the_default_key_lists_the_test_clients_callback():
    assert FakeCanvas().client.redirect_uris == ["http://testserver/oauth/oauth-callback"]


@pytest.mark.parametrize(
    ("redirect_uri", "allowed"),
    [
        ("https://app.example.com/oauth/callback", True),
        ("https://other.example/exact", True),
        ("https://app.example.com:8443/elsewhere?x=1", True),
        ("https://eu.app.example.com/cb", True),
        ("http://app.example.com/oauth/callback", False),
        ("https://badapp.example.com/cb", False),
        ("https://example.com/cb", False),
        ("https://other.example/exact/more", False),
        ("urn:ietf:wg:oauth:2.0:oob", True),
    ],
)
def test_redirect_uri_matching_rules(redirect_uri, allowed):
    fake = FakeCanvas(
        redirect_uris=["https://other.example/exact"],
        legacy_redirect_uri="https://app.example.com/oauth/callback",
    )
    status = fake.handle("GET", auth_url(fake, redirect_uri=redirect_uri), {}).status
    assert (status == 302) is allowed


def test_the_lenient_rule_applies_only_to_the_legacy_field():
    fake = FakeCanvas(redirect_uris=["https://app.example.com/oauth/callback"])
    lenient = auth_url(fake, redirect_uri="https://app.example.com/elsewhere")
    assert fake.handle("GET", lenient, {}).status == 400


def test_empty_redirect_uri_list_accepts_only_oob():
    fake = FakeCanvas(redirect_uris=[])
    assert fake.handle("GET", auth_url(fake), {}).status == 400
    oob = auth_url(fake, redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    assert fake.handle("GET", oob, {}).status == 302


def test_legacy_uri_without_host_allows_nothing_lenient():
    fake = FakeCanvas(redirect_uris=[], legacy_redirect_uri="myapp:/callback")
    assert fake.handle("GET", auth_url(fake, redirect_uri="myapp:/other"), {}).status == 400


def test_oob_flow_redirects_to_canvas_landing_page(fake):
    location = fake.authorize(auth_url(fake, redirect_uri="urn:ietf:wg:oauth:2.0:oob"))
    assert location.startswith(fake.base_url + "/login/oauth2/auth?code=")
    landing = fake.handle("GET", location, {})
    assert landing.status == 200
    assert query_of(location)["code"] in landing.text


def test_unsupported_response_type_redirects_with_state(fake):
    location = fake.authorize(auth_url(fake, response_type="token"))
    assert location == (
        CALLBACK + "?error=unsupported_response_type"
        "&error_description=Only+response_type%3Dcode+is+permitted&state=xyz"
    )


def test_missing_response_type_redirects(fake):
    url = auth_url(fake).replace("response_type=code&", "")
    assert query_of(fake.authorize(url))["error"] == "unsupported_response_type"


def test_invalid_scope_lists_missing_scopes():
    fake = FakeCanvas(require_scopes=True, allowed_scopes=["url:GET|/api/v1/users/:id"])
    scope = "url:GET|/api/v1/users/:id url:GET|/api/v1/courses url:GET|/api/v1/x"
    params = query_of(fake.authorize(auth_url(fake, scope=scope)))
    assert params["error"] == "invalid_scope"
    assert params["state"] == "xyz"
    assert params["error_description"] == (
        "A requested scope is invalid, unknown, malformed, or exceeds the scope granted by "
        "the resource owner. The following scopes were requested, but not granted: "
        "url:GET|/api/v1/courses and url:GET|/api/v1/x"
    )


def test_require_scopes_rejects_no_scope_and_accepts_allowed():
    fake = FakeCanvas(require_scopes=True, allowed_scopes=["a", "b"])
    assert query_of(fake.authorize(auth_url(fake)))["error"] == "invalid_scope"
    assert "code" in query_of(fake.authorize(auth_url(fake, scopes="a b")))


def test_to_sentence_matches_rails():
    assert to_sentence([]) == ""
    assert to_sentence(["a"]) == "a"
    assert to_sentence(["a", "b", "c"]) == "a, b, and c"


def test_error_order_scope_then_account_then_response_type():
    fake = FakeCanvas(require_scopes=True, allowed_scopes=["a"])
    fake.client.authorized_for_account = False
    url = auth_url(fake, response_type="token", scope="zzz")
    assert query_of(fake.authorize(url))["error"] == "invalid_scope"
    url = auth_url(fake, response_type="token", scope="a")
    params = query_of(fake.authorize(url))
    assert params["error"] == "unauthorized_client"
    assert params["error_description"] == (
        "Client does not have access to the specified Canvas account."
    )


@pytest.mark.parametrize("prompt", ["consent", ""])
def test_prompt_values_other_than_none_and_login_are_unsupported(fake, prompt):
    params = query_of(fake.authorize(auth_url(fake, prompt=prompt)))
    assert params["error"] == "unsupported_prompt_type"
    assert params["error_description"] == 'prompt must be "none" (or omitted)'


def test_prompt_none_needs_a_session(fake):
    fake.current_user = None
    params = query_of(fake.authorize(auth_url(fake, prompt="none")))
    assert params["error"] == "login_required"
    assert params["error_description"] == "prompt=none but there is no current session"


def test_prompt_none_is_never_silent_through_auto_approve(fake):
    fake.auto_approve = True
    params = query_of(fake.authorize(auth_url(fake, prompt="none")))
    assert params["error"] == "interaction_required"
    assert params["error_description"] == (
        "prompt=none but a token cannot be granted without user interaction"
    )


def test_prompt_none_answers_a_trusted_key_with_a_code_but_not_for_oob(fake):
    fake.client.trusted = True
    assert "code" in query_of(fake.authorize(auth_url(fake, prompt="none")))
    oob = fake.authorize(auth_url(fake, prompt="none", redirect_uri=OOB))
    assert query_of(oob)["error"] == "interaction_required"


def test_prompt_none_reuses_a_token_when_the_key_forces_reuse(fake):
    fake.client.force_token_reuse = True
    assert query_of(fake.authorize(auth_url(fake, prompt="none")))["error"] == (
        "interaction_required"
    )
    fake.issue_token(scopes=["a"])
    other_scopes = fake.authorize(auth_url(fake, prompt="none"))
    assert query_of(other_scopes)["error"] == "interaction_required"
    assert "code" in query_of(fake.authorize(auth_url(fake, prompt="none", scope="a")))


def test_not_logged_in_is_sent_to_login_then_to_consent(fake):
    fake.current_user = None
    browser = Browser(fake)
    to_login = browser.go("GET", auth_url(fake, unique_id="ada@example.edu"))
    assert to_login.status == 302
    assert to_login.location == (
        fake.base_url + "/login?pseudonym_session%5Bunique_id%5D=ada%40example.edu"
    )
    page = browser.go("GET", to_login.location)
    assert 'id="login"' in page.text and 'id="login-1"' in page.text
    logged_in = browser.go("POST", "/login", {"user_id": "1"})
    assert logged_in.location == fake.base_url + "/login/oauth2/confirm"
    assert fake.current_user.name == "Ada Lovelace"


@pytest.mark.parametrize(
    ("params", "login_query"),
    [({"prompt": "login"}, "?force_login=true"), ({"force_login": "1"}, "?force_login=1")],
)
def test_force_login_and_prompt_login_ask_a_logged_in_user_again(fake, params, login_query):
    browser = Browser(fake)
    to_login = browser.go("GET", auth_url(fake, **params))
    assert to_login.location == fake.base_url + "/login" + login_query
    assert browser.go("POST", "/login", {"user_id": "1"}).location.endswith("/confirm")
    assert "code" in query_of(fake.authorize(auth_url(fake, **params)))


def test_login_refuses_an_unknown_user_and_without_a_dance_just_logs_in(fake):
    assert get(fake, "/login").status == 200
    refused = fake.dispatch("POST", "/login", {}, {"user_id": "99"}, {})
    assert refused.status == 400 and "user_id" in refused.text
    grace = fake.add_user("Grace Hopper")
    done = fake.dispatch("POST", "/login", {}, {"user_id": str(grace.id)}, {})
    assert done.status == 200 and fake.current_user is grace


def test_authorize_logs_in_as_the_user_given_for_that_walk_only(fake):
    fake.current_user = None
    grace = fake.add_user("Grace Hopper")
    code = query_of(fake.authorize(auth_url(fake, prompt="login"), user=grace))["code"]
    assert exchange(fake, code).json()["user"]["name"] == "Grace Hopper"
    assert fake.current_user is None


def test_no_user_logged_in_shows_login_page(fake):
    fake.current_user = None
    with pytest.raises(AuthorizationError) as caught:
        fake.authorize(auth_url(fake))
    assert caught.value.response.status == 200
    assert 'id="login"' in caught.value.response.text


def test_trusted_key_skips_consent_and_auto_approve_presses_authorize(fake):
    fake.client.trusted = True
    response = fake.handle("GET", auth_url(fake), {})
    assert response.status == 302 and "code=" in response.location
    fake.client.trusted = False
    fake.auto_approve = True
    browser = Browser(fake)
    assert browser.go("GET", auth_url(fake)).location.endswith("/login/oauth2/confirm")
    assert "code=" in browser.go("GET", "/login/oauth2/confirm").location


def test_user_not_allowed_redirects_without_state(fake):
    user = fake.add_user("Guest", may_authorize=False)
    location = fake.authorize(auth_url(fake), user=user)
    params = query_of(location)
    assert params["error"] == "client_not_allowed_for_user"
    assert params["error_description"] == (
        "The current user is logged in but does not have permission to authorize this application."
    )
    assert "state" not in params


def test_authorize_as_another_user_keeps_the_browser_user(fake):
    grace = fake.add_user("Grace Hopper", locale="fr")
    body = exchange(fake, query_of(fake.authorize(auth_url(fake), user=grace))["code"]).json()
    assert body["user"]["name"] == "Grace Hopper"
    assert body["user"]["effective_locale"] == "fr"
    assert fake.current_user.name == "Ada Lovelace"


def test_scope_wins_over_deprecated_scopes(fake):
    page = Browser(fake).consent_page(auth_url(fake, scope="a", scopes="b")).text
    assert "<code>a</code>" in page and "<code>b</code>" not in page


# -- §2 token endpoint ------------------------------------------------------------------------


def test_code_exchange_success_body(fake):
    response = exchange(fake, code_for(fake))
    assert response.status == 200
    assert response.headers["X-Rate-Limit-Remaining"]
    assert response.headers["X-Request-Cost"]
    body = response.json()
    assert list(body) == [
        "access_token",
        "token_type",
        "user",
        "canvas_region",
        "refresh_token",
        "expires_in",
    ]
    assert TOKEN_RE.match(body["access_token"]) and TOKEN_RE.match(body["refresh_token"])
    assert body["token_type"] == "Bearer"
    assert body["canvas_region"] == "us-east-1"
    assert body["expires_in"] == 3600
    assert body["user"] == {
        "id": 1,
        "name": "Ada Lovelace",
        "global_id": "10000000000001",
        "effective_locale": "en",
        "fake_student": False,
    }
    assert fake.calls["token"] == fake.calls["token:authorization_code"] == 1


def test_code_is_single_use(fake):
    code = code_for(fake)
    assert exchange(fake, code).status == 200
    assert_oauth_error(exchange(fake, code), 400, "invalid_grant", "authorization_code not found")


def test_code_expires_after_ten_minutes(fake):
    code = code_for(fake)
    fake.advance(599)
    assert exchange(fake, code).status == 200
    code = code_for(fake)
    fake.advance(600)
    assert_oauth_error(exchange(fake, code), 400, "invalid_grant", "authorization_code not found")


def test_grant_type_defaults_to_authorization_code_when_code_is_sent(fake):
    code = code_for(fake)
    response = token_post(
        fake, client_id=fake.client_id, client_secret=fake.client_secret, code=code
    )
    assert response.status == 200
    assert fake.calls["token:authorization_code"] == 1


@pytest.mark.parametrize("grant_type", ["", "password", "client_credentials"])
def test_unsupported_grant_type_is_checked_before_the_client(fake, grant_type):
    response = token_post(fake, grant_type=grant_type, client_id="nope")
    assert_oauth_error(
        response,
        400,
        "unsupported_grant_type",
        "The grant_type you requested is not currently supported",
    )


@pytest.mark.parametrize("client_id", ["", "12345", "x"])
def test_unknown_client_at_token_endpoint(fake, client_id):
    response = exchange(fake, code_for(fake), client_id=client_id)
    assert_oauth_error(response, 401, "invalid_client", "unknown client")


@pytest.mark.parametrize("secret", ["", "wrong", "é"])
def test_wrong_secret_is_invalid_client_and_keeps_the_code(fake, secret):
    code = code_for(fake)
    assert_oauth_error(
        exchange(fake, code, client_secret=secret), 401, "invalid_client", "invalid client"
    )
    assert exchange(fake, code).status == 200


def test_client_is_checked_before_the_code(fake):
    response = exchange(fake, "", client_secret="wrong")
    assert_oauth_error(response, 401, "invalid_client", "invalid client")


def test_missing_code(fake):
    form = {"client_id": fake.client_id, "client_secret": fake.client_secret}
    assert_oauth_error(
        token_post(fake, grant_type="authorization_code", **form),
        400,
        "invalid_request",
        "You must provide the code parameter when using the authorization_code grant type",
    )


def test_a_blank_code_is_sent_and_not_found(fake):
    assert_oauth_error(exchange(fake, ""), 400, "invalid_grant", "authorization_code not found")
    form = {"client_id": fake.client_id, "client_secret": fake.client_secret}
    assert_oauth_error(
        token_post(fake, code="", **form), 400, "invalid_grant", "authorization_code not found"
    )


def test_code_of_another_client_is_incorrect_client(fake):
    other = fake.add_client("20000000000002", "other-secret")
    code = code_for(fake)
    response = exchange(fake, code, client_id=other.client_id, client_secret="other-secret")
    assert_oauth_error(response, 400, "invalid_grant", "incorrect client")
    assert exchange(fake, code).status == 200


def test_basic_auth_and_form_auth(fake):
    code = code_for(fake)
    response = token_post(
        fake, basic(fake.client_id, fake.client_secret), grant_type="authorization_code", code=code
    )
    assert response.status == 200
    assert "client_secret" not in fake.last_token_request
    assert fake.last_token_headers["authorization"].startswith("Basic ")


def test_form_credentials_win_over_basic(fake):
    code = code_for(fake)
    wrong = basic(fake.client_id, "wrong")
    assert exchange(fake, code, headers=None).status == 200
    code = code_for(fake)
    response = token_post(
        fake,
        wrong,
        grant_type="authorization_code",
        code=code,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
    )
    assert response.status == 200


def test_id_and_secret_fall_back_to_basic_independently(fake):
    code = code_for(fake)
    response = token_post(
        fake,
        basic(fake.client_id, "ignored-because-the-form-has-one"),
        grant_type="authorization_code",
        code=code,
        client_secret=fake.client_secret,
    )
    assert response.status == 200
    code = code_for(fake)
    response = token_post(
        fake,
        basic("999", fake.client_secret),
        grant_type="authorization_code",
        code=code,
        client_id=fake.client_id,
    )
    assert response.status == 200


@pytest.mark.parametrize("header", ["Basic !!!notbase64", "Basic " + "gA==", "Digest abc"])
def test_broken_basic_header_counts_as_no_credentials(fake, header):
    response = token_post(
        fake, {"Authorization": header}, grant_type="authorization_code", code="c"
    )
    assert_oauth_error(response, 401, "invalid_client", "unknown client")


def test_json_token_request(fake):
    code = code_for(fake)
    fields = {
        "grant_type": "authorization_code",
        "client_id": int(fake.client_id),
        "client_secret": fake.client_secret,
        "code": code,
        "replace_tokens": True,
    }
    response = fake.handle(
        "POST",
        "/login/oauth2/token",
        {"Content-Type": "application/json"},
        json.dumps(fields).encode(),
    )
    assert response.status == 200
    assert fake.last_token_request["replace_tokens"] == "true"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
def test_unreadable_json_body_has_no_fields(fake, body):
    response = fake.handle(
        "POST", "/login/oauth2/token", {"Content-Type": "application/json"}, body
    )
    assert response.json()["error"] == "unsupported_grant_type"


def test_json_null_and_numbers_become_strings(fake):
    body = b'{"grant_type": null, "code": 12}'
    fake.handle("POST", "/login/oauth2/token", {"content-type": "application/json"}, body)
    assert fake.last_token_request == {"grant_type": "", "code": "12"}


def test_redirect_uri_is_not_checked_at_token_time(fake):
    assert exchange(fake, code_for(fake), redirect_uri="https://elsewhere.example/").status == 200


# -- refresh ------------------------------------------------------------------------------------


def test_refresh_does_not_rotate_for_confidential_clients(fake):
    first = exchange(fake, code_for(fake)).json()
    fake.advance(3600)
    assert not fake.is_live(first["access_token"])
    response = refresh(fake, first["refresh_token"])
    assert response.status == 200
    body = response.json()
    assert "refresh_token" not in body
    assert body["expires_in"] == 3600
    assert body["access_token"] != first["access_token"]
    assert fake.is_live(body["access_token"])
    assert not fake.is_live(first["access_token"])
    again = refresh(fake, first["refresh_token"])
    assert again.status == 200
    assert not fake.is_live(body["access_token"])
    assert fake.calls["token:refresh_token"] == 2


def test_refresh_rotates_for_public_clients():
    fake = FakeCanvas(public_client=True, clock=FakeClock(start=0.0))
    first = fake.issue_token()
    body = refresh(fake, first["refresh_token"], client_secret="").json()
    assert body["refresh_token"] != first["refresh_token"]
    assert_oauth_error(
        refresh(fake, first["refresh_token"]), 400, "invalid_request", "refresh_token not found"
    )
    fake.advance(7199)
    body = refresh(fake, body["refresh_token"]).json()
    fake.advance(7200)
    assert refresh(fake, body["refresh_token"]).status == 400


def test_public_client_needs_pkce_to_skip_the_secret():
    fake = FakeCanvas(public_client=True)
    code = code_for(fake)
    assert exchange(fake, code, client_secret="").status == 401
    code = code_for(fake, code_challenge=s256(VERIFIER), code_challenge_method="S256")
    assert exchange(fake, code, client_secret="", code_verifier=VERIFIER).status == 200


def test_refresh_errors(fake):
    form = {"client_id": fake.client_id, "client_secret": fake.client_secret}
    assert_oauth_error(
        token_post(fake, grant_type="refresh_token", **form),
        400,
        "invalid_request",
        "You must provide the refresh_token parameter when using the refresh_token grant type",
    )
    assert_oauth_error(refresh(fake, ""), 400, "invalid_request", "refresh_token not found")
    assert_oauth_error(refresh(fake, "1~nope"), 400, "invalid_request", "refresh_token not found")
    other = fake.add_client("20000000000002", "other-secret")
    mine = fake.issue_token()
    response = refresh(
        fake, mine["refresh_token"], client_id=other.client_id, client_secret="other-secret"
    )
    assert_oauth_error(response, 400, "invalid_grant", "incorrect client")
    fake.revoke_all()
    assert_oauth_error(
        refresh(fake, mine["refresh_token"]), 400, "invalid_request", "refresh_token not found"
    )


def test_deactivated_key_kills_its_tokens(fake):
    token = fake.issue_token()
    fake.client.active = False
    assert not fake.is_live(token["access_token"])
    assert fake.live_tokens() == []


def test_expire_access_tokens_keeps_them_refreshable(fake):
    token = fake.issue_token()
    fake.expire_access_tokens()
    assert not fake.is_live(token["access_token"])
    assert refresh(fake, token["refresh_token"]).status == 200


def test_replace_tokens_kills_the_users_old_tokens(fake):
    grace = fake.add_user("Grace Hopper")
    old = exchange(fake, code_for(fake)).json()
    kept = fake.issue_token(user=grace)
    new = exchange(fake, code_for(fake), replace_tokens="1").json()
    assert fake.last_token_request["replace_tokens"] == "1"
    assert not fake.is_live(old["access_token"])
    assert refresh(fake, old["refresh_token"]).status == 400
    assert fake.is_live(new["access_token"])
    assert fake.is_live(kept["access_token"])


def test_without_replace_tokens_old_tokens_survive(fake):
    old = exchange(fake, code_for(fake)).json()
    exchange(fake, code_for(fake), replace_tokens="0")
    assert fake.is_live(old["access_token"])
    fake.client.replace_tokens = True
    exchange(fake, code_for(fake))
    assert not fake.is_live(old["access_token"])


# -- PKCE (§1.4) --------------------------------------------------------------------------------


def pkce_code(fake: FakeCanvas, method: str = "S256") -> str:
    return code_for(fake, code_challenge=s256(VERIFIER), code_challenge_method=method)


def test_s256_matches_rfc7636_example():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    digest = hashlib.sha256(verifier.encode()).digest()
    assert s256(verifier) == base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_pkce_right_verifier(fake):
    response = exchange(fake, pkce_code(fake), code_verifier=VERIFIER)
    assert response.status == 200
    assert fake.last_token_request["code_verifier"] == VERIFIER


@pytest.mark.parametrize("verifier", ["wrong", ""])
def test_pkce_wrong_or_blank_verifier_deletes_the_challenge(fake, verifier):
    code = pkce_code(fake)
    response = exchange(fake, code, code_verifier=verifier)
    assert response.status == 400
    assert response.json()["error"] == "invalid_grant"
    # The challenge is gone, so even the right verifier now fails.
    assert exchange(fake, code, code_verifier=VERIFIER).status == 400


def test_pkce_verifier_for_a_code_without_challenge(fake):
    response = exchange(fake, code_for(fake), code_verifier=VERIFIER)
    assert response.status == 400 and response.json()["error"] == "invalid_grant"


def test_pkce_verifier_is_checked_before_the_code_lookup(fake):
    response = exchange(fake, "0" * 128, code_verifier=VERIFIER)
    assert response.json()["error_description"] != "authorization_code not found"


def test_plain_method_is_silently_ignored(fake):
    code = pkce_code(fake, method="plain")
    assert exchange(fake, code).status == 200
    code = code_for(fake, code_challenge=VERIFIER)
    assert exchange(fake, code).status == 200


def test_strict_pkce_rejects_a_challenged_code_without_verifier(fake):
    code = pkce_code(fake)
    response = exchange(fake, code)
    assert response.status == 400 and response.json()["error"] == "invalid_grant"
    assert exchange(fake, code, code_verifier=VERIFIER).status == 200


def test_lenient_pkce_accepts_a_challenged_code_without_verifier():
    fake = FakeCanvas(strict_pkce=False)
    assert exchange(fake, pkce_code(fake)).status == 200


# -- §3 revoke and §4 API ---------------------------------------------------------------------


def test_delete_token_revokes_both_tokens(fake):
    token = fake.issue_token()
    headers = {"Authorization": "Bearer " + token["access_token"]}
    response = fake.dispatch("DELETE", "/login/oauth2/token", {}, {}, headers)
    assert (response.status, response.json()) == (200, {})
    assert not fake.is_live(token["access_token"])
    assert refresh(fake, token["refresh_token"]).status == 400
    again = fake.dispatch("DELETE", "/login/oauth2/token", {}, {}, headers)
    assert again.status == 401
    assert fake.calls["revoke"] == 2


def test_delete_token_with_access_token_parameter(fake):
    token = fake.issue_token()["access_token"]
    response = fake.dispatch("DELETE", "/login/oauth2/token", {"access_token": token}, {}, {})
    assert response.status == 200


def test_delete_without_token_is_400(fake):
    response = fake.dispatch("DELETE", "/login/oauth2/token", {}, {}, {})
    assert response.status == 400
    assert response.json() == {
        "message": "can't delete OAuth access token when not using an OAuth access token"
    }


def test_users_self_for_a_live_token(fake):
    token = fake.issue_token()["access_token"]
    response = users_self(fake, token)
    assert response.status == 200
    assert response.json()["name"] == "Ada Lovelace"
    assert response.json()["sortable_name"] == "Lovelace, Ada"
    assert response.headers["X-Rate-Limit-Remaining"] and response.headers["X-Request-Cost"]
    assert fake.calls["users_self"] == 1


def test_users_self_with_a_single_name(fake):
    user = fake.add_user("Cher", id=42)
    response = users_self(fake, fake.issue_token(user=user)["access_token"])
    assert response.json()["id"] == 42 and response.json()["sortable_name"] == "Cher"


DEAD_TOKEN_ANSWERS = {
    "unknown": {"errors": [{"message": "Invalid access token."}]},
    # A confidential key's token has no final expiry, so Canvas's expired_at is null.
    "expired": {"errors": [{"message": "Expired access token.", "expired_at": None}]},
    "revoked": {"errors": [{"message": "Revoked access token."}]},
}


def kill_token(fake, how):
    token = fake.issue_token()["access_token"]
    if how == "unknown":
        return "1~" + "x" * 64
    if how == "expired":
        fake.advance(3600)
    else:
        fake.revoke_all(fake.current_user)
    return token


@pytest.mark.parametrize("how", ["unknown", "expired", "revoked"])
def test_users_self_with_a_dead_token_is_401_with_challenge(fake, how):
    response = users_self(fake, kill_token(fake, how))
    assert response.status == 401
    assert response.json() == DEAD_TOKEN_ANSWERS[how]
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'


@pytest.mark.parametrize("how", ["unknown", "expired", "revoked"])
def test_older_canvas_calls_every_dead_token_invalid(how):
    fake = FakeCanvas(dead_token_detail=False)
    response = users_self(fake, kill_token(fake, how))
    assert response.json() == DEAD_TOKEN_ANSWERS["unknown"]
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Token"])
def test_the_bearer_scheme_is_case_sensitive(fake, scheme):
    token = fake.issue_token()["access_token"]
    response = fake.dispatch(
        "GET", "/api/v1/users/self", {}, {}, {"Authorization": f"{scheme} {token}"}
    )
    assert response.status == 401
    assert response.json()["status"] == "unauthenticated"
    revoke = fake.dispatch(
        "DELETE", "/login/oauth2/token", {}, {}, {"authorization": f"{scheme} {token}"}
    )
    assert revoke.status == 400 and fake.is_live(token)


def test_users_self_without_credentials(fake):
    response = get(fake, "/api/v1/users/self")
    assert response.status == 401
    assert response.json() == {
        "status": "unauthenticated",
        "errors": [{"message": "user authorization required"}],
    }
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'


def test_users_self_with_insufficient_scopes_has_no_challenge():
    fake = FakeCanvas(require_scopes=True, allowed_scopes=["url:GET|/api/v1/courses"])
    token = fake.issue_token(scopes=["url:GET|/api/v1/courses"])["access_token"]
    response = users_self(fake, token)
    assert response.status == 401
    assert response.json() == {"errors": [{"message": "Insufficient scopes on access token."}]}
    assert "WWW-Authenticate" not in response.headers
    token = fake.issue_token(scopes=["url:GET|/api/v1/users/:id"])["access_token"]
    assert users_self(fake, token).status == 200


def test_unknown_routes_are_404_json(fake):
    for method, path in [("GET", "/nope"), ("GET", "/api/v1/accounts"), ("PUT", "/")]:
        response = fake.dispatch(method, path, {}, {}, {})
        assert response.status == 404
        assert response.json() == {
            "errors": [{"message": "The specified resource does not exist."}]
        }


# -- conveniences --------------------------------------------------------------------------------


def test_issue_token_returns_the_exchange_body(fake):
    body = fake.issue_token()
    assert set(body) == {
        "access_token",
        "token_type",
        "user",
        "canvas_region",
        "refresh_token",
        "expires_in",
    }
    assert fake.is_live(body["access_token"])
    assert fake.calls == {}


def test_issue_token_without_a_logged_in_user_uses_the_first_user(fake):
    fake.current_user = None
    assert fake.issue_token()["user"]["name"] == "Ada Lovelace"


def test_revoke_all_for_one_user(fake):
    grace = fake.add_user("Grace Hopper")
    ada_token = fake.issue_token()["access_token"]
    grace_token = fake.issue_token(user=grace)["access_token"]
    fake.revoke_all(grace)
    assert fake.is_live(ada_token) and not fake.is_live(grace_token)
    assert [t.user for t in fake.live_tokens()] == [fake.current_user]
    assert fake.live_tokens(grace) == []


def test_add_user_assigns_ids_and_global_ids():
    fake = FakeCanvas(shard=14354)
    user = fake.add_user("Grace Hopper")
    assert isinstance(user, FakeUser)
    assert (user.id, user.global_id) == (2, "143540000000000002")
    assert fake.issue_token(user=user)["access_token"].startswith("14354~")


def test_clock_moves_forward_only():
    clock = FakeClock()
    before = clock.now()
    clock.advance(100)
    assert clock.now() >= before + 100
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_authorization_error_message_mentions_the_status(fake):
    with pytest.raises(AuthorizationError, match="401"):
        fake.authorize(auth_url(fake, client_id="1"))
