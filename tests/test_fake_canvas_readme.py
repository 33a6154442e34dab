"""The README's "Testing your views" example, kept runnable.

The view and its URLconf live here (the README puts them in the user's app), so this file
checks that the documented fixtures and calls work as written.
"""

from datetime import timedelta

import pytest
from django.http import JsonResponse
from django.urls import include, path
from django.utils import timezone

from canvas_oauth.api import canvas_session
from canvas_oauth.models import CanvasOAuth2Token


def whoami(request):
    response = canvas_session(request).get("users/self")
    response.raise_for_status()
    return JsonResponse({"name": response.json()["name"]})


urlpatterns = [
    path("oauth/", include("canvas_oauth.urls")),
    path("whoami/", whoami),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", password="pw")


@pytest.fixture
def canvas_token(ada, fake_canvas):
    grant = fake_canvas.issue_token()  # the same JSON a code exchange returns
    return CanvasOAuth2Token.objects.create(
        user=ada,
        access_token=grant["access_token"],
        refresh_token=grant["refresh_token"],
        expires=timezone.now() + timedelta(seconds=grant["expires_in"]),
    )


def test_whoami_calls_canvas_with_the_stored_token(client, ada, canvas_token, fake_canvas):
    client.force_login(ada)
    response = client.get("/whoami/")
    assert response.json() == {"name": "Ada Lovelace"}
    assert fake_canvas.calls["users_self"] == 1


def test_expired_token_is_refreshed_first(client, ada, canvas_token, fake_canvas):
    canvas_token.expires = timezone.now() - timedelta(seconds=1)
    canvas_token.save()
    fake_canvas.expire_access_tokens()
    client.force_login(ada)
    assert client.get("/whoami/").json() == {"name": "Ada Lovelace"}
    assert fake_canvas.calls["token:refresh_token"] == 1


def test_first_visit_does_the_oauth_dance(client, ada, fake_canvas):
    client.force_login(ada)
    to_canvas = client.get("/whoami/")
    assert to_canvas.status_code == 302
    callback = fake_canvas.authorize(to_canvas["Location"])  # the user clicks "Authorize"
    back = client.get(callback)
    assert back["Location"] == "/whoami/"
    assert client.get("/whoami/").json() == {"name": "Ada Lovelace"}
