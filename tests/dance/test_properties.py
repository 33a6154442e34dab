"""Properties over what the outside world sends: the callback's query, Canvas's answers.

Whatever arrives, the app answers with a page (never a 500), stores a token only from a
valid state and a good answer, and never spoils a stored token with a bad one.
"""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canvas_oauth import breaker
from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import start_dance, store_token

CALLBACK = "/oauth/oauth-callback"
TOKEN_URL = "https://canvas.example.edu/login/oauth2/token"
RESERVED = {"code", "state", "error", "error_description"}
DEAD_REFRESH_ERRORS = {"invalid_grant", "invalid_request"}

examples = settings(
    max_examples=60,
    deadline=None,
    database=None,  # keep the checkout clean, as -p no:cacheprovider does
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Anything a browser can put in a URL: any character but lone surrogates.
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)

numbers = st.integers() | st.floats()
names = st.text(st.characters(blacklist_categories=("Cs",)))
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
token_fields = st.fixed_dictionaries(
    {},
    optional={
        "access_token": st.text(min_size=1, max_size=40) | json_values,
        "refresh_token": st.text(min_size=1, max_size=40) | json_values,
        "token_type": st.just("Bearer") | json_values,
        "expires_in": st.integers(-10, 10**6) | st.integers() | st.floats() | json_values,
        "user": st.fixed_dictionaries(
            {},
            optional={
                "id": st.integers() | json_values,
                "name": names | numbers | st.none(),
                "global_id": st.text() | numbers | st.none(),
            },
        )
        | json_values,
        "error": st.sampled_from(sorted(DEAD_REFRESH_ERRORS | {"invalid_client"})) | json_values,
        "error_description": texts | json_values,
    },
)
bodies = st.one_of(
    token_fields.map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=60),
    st.just(b""),
)
statuses = st.sampled_from([200, 200, 200, 400, 401, 403, 404, 429, 500, 502, 503]) | st.integers(
    200, 599
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "text/html", ""]
)


def canvas_answers(status, content_type, body):
    """Answer every token request with this status, content type and body."""
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    raw = body.encode() if isinstance(body, str) else body
    headers = {"Content-Type": content_type} if content_type else {}
    mock.add(responses.POST, TOKEN_URL, body=raw, status=status, headers=headers)
    return mock


def good_access_token(status, body):
    """Return the access token a good answer carries, else None."""
    if status != 200:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    token = parsed.get("access_token")
    refresh = parsed.get("refresh_token")
    if not isinstance(token, str) or not token or not travels_in_a_header(token):
        return None
    if isinstance(refresh, str) and not travels_in_a_header(refresh):
        return None
    return token


def travels_in_a_header(value):
    """Visible ASCII (VCHAR) or Latin-1 from ¡ to ÿ: no space, control or NBSP, nothing past ÿ."""
    return all(0x21 <= ord(ch) <= 0x7E or 0xA1 <= ord(ch) <= 0xFF for ch in value)


def is_dead_refresh_answer(status, body):
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return status == 400 and isinstance(error, str) and error in DEAD_REFRESH_ERRORS


def state_of(url):
    return parse_qs(urlsplit(url).query)["state"][0]


def code_of(location):
    return parse_qs(urlsplit(location).query)["code"][0]


@examples
@given(data=st.data())
def test_any_callback_query_gets_a_page_and_only_a_valid_one_a_token(
    browser, fake_canvas, user, data
):
    CanvasOAuth2Token.objects.all().delete()
    url = start_dance(browser)
    valid_state = state_of(url)
    real_code = code_of(fake_canvas.authorize(url))
    params = {
        "code": data.draw(st.none() | st.just(real_code) | texts, label="code"),
        "state": data.draw(st.none() | st.just(valid_state) | texts, label="state"),
        "error": data.draw(st.none() | texts, label="error"),
        "error_description": data.draw(st.none() | texts, label="error_description"),
    }
    extra = data.draw(
        st.dictionaries(texts.filter(lambda key: key not in RESERVED), texts, max_size=3),
        label="extra",
    )
    query = [(key, value) for key, value in params.items() if value is not None]
    query += list(extra.items())
    response = browser.get(f"{CALLBACK}?{urlencode(query)}")

    assert response.status_code in (302, 400, 403, 502, 504)
    valid = params["state"] == valid_state and not params["error"]
    if valid and params["code"] == real_code:
        assert response.status_code == 302
        assert fake_canvas.is_live(CanvasOAuth2Token.objects.get(user=user).access_token)
    else:
        assert response.status_code != 302
        assert not CanvasOAuth2Token.objects.exists()


@examples
@given(status=statuses, content_type=content_types, body=bodies)
def test_any_code_exchange_answer_gets_a_page_and_only_a_good_one_a_token(
    browser, user, status, content_type, body
):
    CanvasOAuth2Token.objects.all().delete()
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        state = state_of(start_dance(browser))  # Canvas is not called to start
    with canvas_answers(status, content_type, body):
        response = browser.get(f"{CALLBACK}?{urlencode({'code': 'a-code', 'state': state})}")

    expected = good_access_token(status, body)
    if expected is None:
        # Canvas's throttle (a 429, or an older Canvas's 403 text) is "busy", not broken.
        throttled = status == 429 or (
            status == 403
            and content_type.startswith("text/plain")
            and (body.encode() if isinstance(body, str) else body).startswith(
                b"403 Forbidden (Rate Limit Exceeded)"
            )
        )
        assert response.status_code == 503 if throttled else response.status_code in (502, 504)
        assert not CanvasOAuth2Token.objects.exists()
    else:
        assert response.status_code == 302
        assert CanvasOAuth2Token.objects.get(user=user).access_token == expected


@examples
@given(status=statuses, content_type=content_types, body=bodies)
def test_any_refresh_answer_gets_a_page_and_never_spoils_the_token(
    browser, user, fake_canvas, status, content_type, body
):
    CanvasOAuth2Token.objects.all().delete()
    breaker.reset()  # each example is a Canvas of its own: earlier failures do not count
    token = store_token(fake_canvas, user, expires_in=-10)
    before = CanvasOAuth2Token.objects.get(pk=token.pk)
    fields = ("access_token", "refresh_token", "expires", "scopes", "canvas_user_id")
    with canvas_answers(status, content_type, body):
        response = browser.get("/canvas/")

    expected = good_access_token(status, body)
    after = CanvasOAuth2Token.objects.filter(pk=token.pk).first()
    if expected is not None:
        assert response.status_code == 200
        assert after.access_token == expected
        assert after.refresh_token  # kept, or replaced by a new one: never lost
    elif is_dead_refresh_answer(status, body):
        assert response.status_code == 302  # back to Canvas to authorize again
        assert after is None
    else:
        assert response.status_code == 503
        assert [getattr(after, f) for f in fields] == [getattr(before, f) for f in fields]


def test_a_refresh_answer_keeps_the_refresh_token_canvas_did_not_resend(browser, user, fake_canvas):
    token = store_token(fake_canvas, user, expires_in=-10)
    body = json.dumps({"access_token": "new", "expires_in": 3600})
    with canvas_answers(200, "application/json", body):
        assert browser.get("/canvas/").status_code == 200
    row = CanvasOAuth2Token.objects.get(pk=token.pk)
    assert (row.access_token, row.refresh_token) == ("new", token.refresh_token)
    assert row.expires > token.expires + timedelta(minutes=59)


EXPIRIES = {
    "infinite": '{"access_token": "x", "expires_in": Infinity}',
    "NaN": '{"access_token": "x", "expires_in": NaN}',
    "past datetime": json.dumps({"access_token": "x", "expires_in": 10**20}),
    "huge float": json.dumps({"access_token": "x", "expires_in": 1e300}),
    "negative": json.dumps({"access_token": "x", "expires_in": -5}),
}
USER_FIELDS = {
    "user id past 64 bits": json.dumps({"access_token": "x", "user": {"id": 10**30}}),
    "name past its column": json.dumps({"access_token": "x", "user": {"name": "n" * 300}}),
    "NUL in the name": json.dumps({"access_token": "x", "user": {"name": "a\x00b"}}),
    "global id past its column": json.dumps({"access_token": "x", "user": {"global_id": "9" * 80}}),
}
ANSWERS = [pytest.param(body, id=f"expiry {name}") for name, body in EXPIRIES.items()] + [
    pytest.param(body, id=name) for name, body in USER_FIELDS.items()
]


@pytest.mark.parametrize("body", ANSWERS)
def test_out_of_range_code_exchange_answer_is_not_a_500(browser, user, body):
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        state = state_of(start_dance(browser))
    with canvas_answers(200, "application/json", body):
        response = browser.get(f"{CALLBACK}?{urlencode({'code': 'a-code', 'state': state})}")
    assert response.status_code in (302, 502)


@pytest.mark.parametrize("body", ANSWERS)
def test_out_of_range_refresh_answer_is_not_a_500(browser, user, fake_canvas, body):
    token = store_token(fake_canvas, user, expires_in=-10)
    with canvas_answers(200, "application/json", body):
        response = browser.get("/canvas/")
    assert response.status_code in (200, 503)
    row = CanvasOAuth2Token.objects.get(pk=token.pk)
    assert row.refresh_token == token.refresh_token
