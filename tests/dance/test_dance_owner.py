"""A dance belongs to the Django user who started it: no one else may finish it."""

from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.test import Client

from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import callback_path, start_dance

SOMEONE_ELSE = b"This Canvas authorization was started by someone else. Please start again."


def test_a_callback_for_another_users_dance_is_refused(browser, fake_canvas, other_user):
    location = fake_canvas.authorize(start_dance(browser))
    # The same session, now another user's: a site whose sign-in keeps the session.
    session = browser.session
    session[SESSION_KEY] = str(other_user.pk)
    session[HASH_SESSION_KEY] = other_user.get_session_auth_hash()
    session.save()
    response = browser.get(callback_path(location))
    assert response.status_code == 400
    assert SOMEONE_ELSE in response.content
    assert not CanvasOAuth2Token.objects.exists()
    assert fake_canvas.calls["token"] == 0


def test_a_popup_answer_claimed_by_another_user_is_refused(browser, fake_canvas, other_user):
    started = browser.get(
        "/oauth/authorize", {"popup": "1", "next": "/canvas/"}, HTTP_ACCEPT="application/json"
    ).json()
    Client().get(callback_path(fake_canvas.authorize(started["authorize_url"])))
    someone = Client()
    someone.force_login(other_user)
    response = someone.post("/oauth/complete", {"state": started["state"]})
    assert response.status_code == 400
    assert SOMEONE_ELSE in response.content
    assert not CanvasOAuth2Token.objects.exists()
    assert fake_canvas.calls["token"] == 0


def test_the_user_who_started_the_dance_finishes_it(browser, fake_canvas, user):
    location = fake_canvas.authorize(start_dance(browser))
    assert browser.get(callback_path(location)).status_code == 302
    assert CanvasOAuth2Token.objects.get().user == user
