"""The admin lists tokens without ever showing their values."""

import pytest

from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import store_token

URL = "/admin/canvas_oauth/canvasoauth2token/"


@pytest.fixture
def admin_browser(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def token(fake_canvas, user):
    return store_token(fake_canvas, user, canvas_user_name="Ada Lovelace")


def secrets_of(token):
    fresh = CanvasOAuth2Token.objects.get(pk=token.pk)
    return [fresh.access_token.encode(), fresh.refresh_token.encode()]


def test_changelist_shows_who_and_when_but_no_token(admin_browser, token):
    page = admin_browser.get(URL)
    assert page.status_code == 200
    for column in (b"ada", b"Ada Lovelace", b"canvas.example.edu", b"Expired"):
        assert column in page.content
    for secret in secrets_of(token):
        assert secret not in page.content
    assert b"fernet$" not in page.content


def test_detail_page_shows_no_token_and_cannot_edit(admin_browser, token):
    page = admin_browser.get(f"{URL}{token.pk}/change/")
    assert page.status_code == 200
    for secret in secrets_of(token):
        assert secret not in page.content
    assert b"fernet$" not in page.content
    assert b'name="access_token"' not in page.content
    assert b"Save" not in page.content
    posted = admin_browser.post(f"{URL}{token.pk}/change/", {"access_token": "x"})
    assert posted.status_code == 403


def test_no_add_page(admin_browser, token):
    assert admin_browser.get(f"{URL}add/").status_code == 403


@pytest.mark.parametrize("term", ["ada", "ada@example.edu"])
def test_search_by_username_and_email(admin_browser, token, other_user, fake_canvas, term):
    store_token(fake_canvas, other_user)
    page = admin_browser.get(URL, {"q": term})
    assert b"ada" in page.content
    assert b"grace" not in page.content


def test_changelist_query_count_does_not_grow_with_rows(
    admin_browser, fake_canvas, django_user_model, django_assert_max_num_queries
):
    for i in range(30):
        store_token(fake_canvas, django_user_model.objects.create_user(f"u{i}"))
    with django_assert_max_num_queries(12):
        assert admin_browser.get(URL).status_code == 200


def test_revoke_action_revokes_at_canvas_and_deletes(admin_browser, token, fake_canvas):
    access = CanvasOAuth2Token.objects.get(pk=token.pk).access_token
    response = admin_browser.post(
        URL, {"action": "revoke_selected", "_selected_action": [token.pk]}, follow=True
    )
    assert b"Revoked 1 token(s) at Canvas." in response.content
    assert not fake_canvas.is_live(access)
    assert not CanvasOAuth2Token.objects.exists()


def test_revoke_action_reports_canvas_failures(admin_browser, token, fake_canvas):
    fake_canvas.misbehave("revoke", "unavailable")
    response = admin_browser.post(
        URL, {"action": "revoke_selected", "_selected_action": [token.pk]}, follow=True
    )
    assert b"could not be told about" in response.content
    assert not CanvasOAuth2Token.objects.exists()


def test_filter_by_canvas_domain(admin_browser, token, other_user, settings):
    from canvas_oauth.models import CanvasDeveloperKey

    CanvasOAuth2Token.objects.create(
        user=other_user, domain="canvas.west.edu", access_token="a", refresh_token="r"
    )
    CanvasDeveloperKey.objects.create(domain="canvas.west.edu", client_id="2", client_secret="s")
    page = admin_browser.get(URL)
    assert b">ada<" in page.content and b">grace<" in page.content
    assert b"?domain=canvas.west.edu" in page.content
    assert b"?domain=canvas.example.edu" in page.content
    west = admin_browser.get(URL, {"domain": "canvas.west.edu"})
    assert b">grace<" in west.content
    assert b">ada<" not in west.content
