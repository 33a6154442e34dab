"""The fake answers as hosted Canvas does today (spec §9.3), and as older Canvas on request."""

from __future__ import annotations

import math

import pytest

from canvas_oauth.testing import FakeCanvas, FakeClock
from tests.fake_canvas.test_fake_canvas import (
    CALLBACK,
    OOB,
    auth_url,
    code_for,
    exchange,
    query_of,
    refresh,
    users_self,
)

START = 1_700_000_000.0


@pytest.fixture
def fake() -> FakeCanvas:
    return FakeCanvas(clock=FakeClock(start=START))


def api(fake: FakeCanvas, path: str, token: str, **query: str):
    return fake.dispatch("GET", path, query, {}, {"Authorization": f"Bearer {token}"})


# -- force_token_reuse (token.rb, find_reusable_access_token) -------------------------------


def test_force_token_reuse_exchange_regenerates_the_access_token_only(fake):
    fake.client.force_token_reuse = True
    first = exchange(fake, code_for(fake)).json()
    fake.client.trusted = True  # no consent page, so only the exchange hands the token out
    fake.client.force_token_reuse = False
    code = code_for(fake)
    fake.client.force_token_reuse = True
    again = exchange(fake, code)
    assert again.status == 200
    body = again.json()
    assert "refresh_token" not in body
    assert body["access_token"] != first["access_token"]
    assert body["expires_in"] == 3600
    assert not fake.is_live(first["access_token"])
    assert fake.is_live(body["access_token"])
    # The same token row: the refresh token stored from the first exchange still works.
    assert len(fake.live_tokens()) == 1
    assert refresh(fake, first["refresh_token"]).status == 200


def test_passing_the_authorization_page_already_regenerates_a_reused_token(fake):
    fake.client.force_token_reuse = True
    held = fake.issue_token()["access_token"]
    location = fake.authorize(auth_url(fake))  # no consent asked: the token is reusable
    assert "code" in query_of(location)
    assert not fake.is_live(held)


def test_force_token_reuse_needs_the_same_scopes_and_purpose(fake):
    fake.client.force_token_reuse = True
    fake.issue_token(scopes=["b", "a"], purpose="grading")
    same = exchange(fake, code_for(fake, scope="a b", purpose="grading")).json()
    assert "refresh_token" not in same
    other_purpose = exchange(fake, code_for(fake, scope="a b", purpose="other")).json()
    assert "refresh_token" in other_purpose
    other_scopes = exchange(fake, code_for(fake, scope="a", purpose="grading")).json()
    assert "refresh_token" in other_scopes


def test_a_revoked_token_is_never_reused(fake):
    fake.client.force_token_reuse = True
    fake.issue_token()
    fake.revoke_all()
    body = exchange(fake, code_for(fake)).json()
    assert "refresh_token" in body


def test_a_token_whose_hour_is_up_is_reused_until_its_refresh_window_ends(fake):
    # AccessToken.active: not deleted, and permanent_expires_at NULL or ahead; the access
    # token's own expiry plays no part.
    fake.client.force_token_reuse = True
    fake.client.trusted = True  # no consent page, so only the exchange hands the token out
    held = fake.issue_token()["access_token"]
    fake.advance(2 * 3600)
    assert not fake.is_live(held)
    assert "refresh_token" not in exchange(fake, code_for(fake)).json()
    fake.client.public = True  # a public key's token may be refreshed for two hours only
    fake.issue_token(scopes=["p"])
    fake.advance(3 * 3600)
    assert "refresh_token" in exchange(fake, code_for(fake, scope="p")).json()


# -- 401 bodies (application_controller.rb, api_error_json) ---------------------------------


def test_an_expired_public_client_token_names_its_final_expiry(fake):
    fake.client.public = True
    token = fake.issue_token()["access_token"]
    fake.advance(7200)
    response = users_self(fake, token)
    assert response.status == 401
    # Issued at 2023-11-14T22:13:20Z, refreshable for two hours.
    assert response.json() == {
        "errors": [{"message": "Expired access token.", "expired_at": "2023-11-15T00:13:20Z"}]
    }
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'


def test_a_token_of_a_disabled_key_is_invalid(fake):
    token = fake.issue_token()["access_token"]
    fake.client.active = False
    assert users_self(fake, token).json() == {"errors": [{"message": "Invalid access token."}]}


def test_a_regenerated_access_token_is_unknown_not_revoked(fake):
    body = fake.issue_token()
    refresh(fake, body["refresh_token"])
    dead = users_self(fake, body["access_token"])
    assert dead.json() == {"errors": [{"message": "Invalid access token."}]}


# -- users/:id and users/:id/page_views (canvasapi's CurrentUser) ---------------------------


def test_users_by_number_answer_for_the_tokens_user(fake):
    token = fake.issue_token()["access_token"]
    by_number = api(fake, "/api/v1/users/1", token)
    assert by_number.status == 200
    assert by_number.json() == users_self(fake, token).json()
    assert fake.calls["users"] == 1 and fake.calls["users_self"] == 1


def test_another_users_profile_is_not_permitted_and_an_unknown_one_not_found(fake):
    grace = fake.add_user("Grace Hopper")
    token = fake.issue_token()["access_token"]
    refused = api(fake, f"/api/v1/users/{grace.id}", token)
    assert refused.status == 401
    assert refused.json() == {
        "status": "unauthorized",
        "errors": [{"message": "user not authorized to perform that action"}],
    }
    assert "WWW-Authenticate" not in refused.headers  # the token is fine
    assert api(fake, "/api/v1/users/99", token).status == 404
    assert api(fake, "/api/v1/users/99/page_views", token).status == 404
    assert api(fake, f"/api/v1/users/{grace.id}/page_views", token).status == 401


def test_page_views_by_number_link_to_the_path_asked(fake):
    fake.add_page_views(n=12)
    token = fake.issue_token()["access_token"]
    first = api(fake, "/api/v1/users/1/page_views", token)
    assert first.status == 200
    assert len(first.json()) == 10
    assert f"<{fake.base_url}/api/v1/users/1/page_views?page=bookmark:" in first.headers["Link"]
    assert first.json() == api(fake, "/api/v1/users/self/page_views", token).json()
    assert fake.calls["page_views"] == 2


def test_user_routes_check_the_token_and_its_scopes(fake):
    assert api(fake, "/api/v1/users/1", "1~" + "x" * 64).status == 401
    fake.client.require_scopes = True
    fake.client.allowed_scopes = ["url:GET|/api/v1/courses"]
    token = fake.issue_token(scopes=["url:GET|/api/v1/courses"])["access_token"]
    for path in ("/api/v1/users/1", "/api/v1/users/1/page_views"):
        answer = api(fake, path, token)
        assert answer.json() == {"errors": [{"message": "Insufficient scopes on access token."}]}


# -- invalid_scope without state (older controllers, §1.3) ----------------------------------


def require_scopes(fake: FakeCanvas) -> None:
    fake.client.require_scopes = True
    fake.client.allowed_scopes = ["url:GET|/api/v1/courses"]


def test_invalid_scope_keeps_state_by_default(fake):
    require_scopes(fake)
    params = query_of(fake.authorize(auth_url(fake, scope="url:GET|/api/v1/users/:id")))
    assert params["error"] == "invalid_scope" and params["state"] == "xyz"


def test_older_canvas_sends_invalid_scope_without_state(fake):
    require_scopes(fake)
    fake.scope_error_state = False
    params = query_of(fake.authorize(auth_url(fake, scope="url:GET|/api/v1/users/:id")))
    assert params["error"] == "invalid_scope"
    assert "state" not in params
    # Only invalid_scope: other refusals still carry the state.
    fake.client.require_scopes = False
    fake.client.authorized_for_account = False
    assert query_of(fake.authorize(auth_url(fake)))["state"] == "xyz"


# -- token errors redirected (no_redirect_on_oauth_token_method off, §2.5) ------------------


def test_token_errors_are_json_by_default(fake):
    response = exchange(fake, "no-such-code", redirect_uri=CALLBACK)
    assert response.status == 400
    assert response.json()["error"] == "invalid_grant"


def test_older_canvas_redirects_a_refused_token_request(fake):
    fake.token_error_redirects = True
    response = exchange(fake, "no-such-code", redirect_uri=CALLBACK + "?keep=1")
    assert response.status == 302
    assert response.location == (
        CALLBACK + "?keep=1&error=invalid_grant&error_description=authorization_code+not+found"
    )
    wrong_secret = exchange(fake, "x", redirect_uri=CALLBACK, client_secret="nope")
    assert query_of(wrong_secret.location)["error"] == "invalid_client"
    assert "WWW-Authenticate" not in wrong_secret.headers


@pytest.mark.parametrize("redirect_uri", [None, "", OOB])
def test_older_canvas_answers_json_without_a_redirect_uri_to_go_to(fake, redirect_uri):
    fake.token_error_redirects = True
    form = {} if redirect_uri is None else {"redirect_uri": redirect_uri}
    assert exchange(fake, "no-such-code", **form).status == 400


def test_a_granted_token_is_never_redirected(fake):
    fake.token_error_redirects = True
    response = exchange(fake, code_for(fake), redirect_uri=CALLBACK)
    assert response.status == 200


# -- the token JSON (token.rb, as_json) -------------------------------------------------------


def test_the_token_names_hosted_canvas_region_or_unknown_when_self_hosted(fake):
    assert fake.issue_token()["canvas_region"] == "us-east-1"
    assert FakeCanvas(canvas_region="unknown").issue_token()["canvas_region"] == "unknown"


def test_a_key_without_auto_expire_tokens_gets_tokens_that_do_not_expire(fake):
    fake.client.auto_expire_tokens = False
    body = exchange(fake, code_for(fake)).json()
    assert "expires_in" not in body
    fake.advance(10 * 3600)
    assert fake.is_live(body["access_token"])
    assert fake.live_tokens()[0].expires_at == math.inf


def test_replace_tokens_deletes_nothing_when_a_token_is_reused(fake):
    fake.client.force_token_reuse = True
    fake.issue_token()
    other = fake.issue_token(scopes=["x"])
    body = exchange(fake, code_for(fake), replace_tokens="1").json()
    assert "refresh_token" not in body  # reused
    assert fake.is_live(other["access_token"])
