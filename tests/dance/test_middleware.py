"""OAuthMiddleware: a redirect for browsers, 401 JSON for scripts, pages for errors."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings

from canvas_oauth.models import CanvasOAuth2Token


def test_navigation_without_token_redirects_to_canvas(browser, fake_canvas):
    response = browser.get("/canvas/")
    assert response.status_code == 302
    assert response["Location"].startswith("https://canvas.example.edu/login/oauth2/auth?")


def test_head_navigation_also_redirects(browser, fake_canvas):
    assert browser.head("/canvas/").status_code == 302


@pytest.mark.parametrize(
    "headers",
    [{"HTTP_ACCEPT": "application/json"}, {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}],
)
def test_scripts_get_401_json_with_the_authorize_url(browser, fake_canvas, headers):
    response = browser.get("/api/canvas/?q=1", **headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "canvas_authorization_required"
    assert body["authorize_url"] == "/oauth/authorize?next=%2Fapi%2Fcanvas%2F%3Fq%3D1"
    assert fake_canvas.calls["authorize"] == 0


def test_post_gets_401_json_pointing_back_to_the_referring_page(browser, fake_canvas):
    response = browser.post("/api/canvas/", HTTP_REFERER="http://testserver/course/7")
    assert response.status_code == 401
    assert (
        response.json()["authorize_url"]
        == "/oauth/authorize?next=http%3A%2F%2Ftestserver%2Fcourse%2F7"
    )


def test_post_with_foreign_referer_gets_no_next(browser, fake_canvas):
    response = browser.post("/api/canvas/", HTTP_REFERER="https://evil.example/")
    assert response.json()["authorize_url"] == "/oauth/authorize"


def test_the_authorize_url_from_the_json_completes_the_dance(browser, fake_canvas):
    from tests.conftest import callback_path

    authorize = browser.get("/api/canvas/", HTTP_ACCEPT="application/json").json()["authorize_url"]
    to_canvas = browser.get(authorize)
    location = fake_canvas.authorize(to_canvas["Location"])
    assert browser.get(callback_path(location))["Location"] == "/api/canvas/"
    assert browser.get("/api/canvas/", HTTP_ACCEPT="application/json").json()["ok"] is True


def test_anonymous_user_is_sent_to_login_with_next(client, fake_canvas, db):
    response = client.get("/canvas/?x=1")
    assert response.status_code == 302
    parts = urlsplit(response["Location"])
    assert parts.path == "/accounts/login/"
    assert parse_qs(parts.query)["next"] == ["/canvas/?x=1"]
    assert not CanvasOAuth2Token.objects.exists()


@pytest.mark.parametrize(
    "path", ["/oauth/authorize?next=/canvas/", "/oauth/oauth-callback?code=a&state=b"]
)
def test_anonymous_user_at_the_apps_views_is_sent_to_login(client, fake_canvas, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert fake_canvas.calls["token"] == 0
    assert not CanvasOAuth2Token.objects.exists()


def test_anonymous_script_gets_401_json(client, db):
    response = client.get("/api/canvas/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert response.json() == {"error": "login_required"}


def test_error_template_can_be_overridden(browser, fake_canvas, tmp_path):
    (tmp_path / "custom_error.html").write_text("CUSTOM {{ status_code }} {{ message }}")
    templates = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [str(tmp_path)],
        }
    ]
    with override_settings(TEMPLATES=templates, CANVAS_OAUTH_ERROR_TEMPLATE="custom_error.html"):
        response = browser.get("/oauth/oauth-callback?code=x&state=y")
    assert response.status_code == 400
    assert response.content.startswith(b"CUSTOM 400 ")


def test_project_template_named_oauth_error_wins(browser, fake_canvas, tmp_path):
    (tmp_path / "oauth_error.html").write_text("PROJECT PAGE")
    templates = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [str(tmp_path)],
            "APP_DIRS": True,
        }
    ]
    with override_settings(TEMPLATES=templates):
        response = browser.get("/oauth/oauth-callback?code=x&state=y")
    assert response.content == b"PROJECT PAGE"


def test_other_exceptions_are_left_to_django(rf):
    from canvas_oauth.middleware import OAuthMiddleware

    middleware = OAuthMiddleware(lambda request: None)
    assert middleware.process_exception(rf.get("/"), ValueError("x")) is None


@pytest.mark.django_db(transaction=True)
def test_async_stack_redirects_to_canvas(async_client, fake_canvas, django_user_model):
    from asgiref.sync import async_to_sync

    user = django_user_model.objects.create_user("async", "a@x.edu", "pw")

    async def visit():
        await async_client.aforce_login(user)
        page = await async_client.get("/canvas/")
        script = await async_client.get("/api/canvas/", headers={"Accept": "application/json"})
        return page, script

    page, script = async_to_sync(visit)()
    assert page.status_code == 302
    assert "/login/oauth2/auth?" in page["Location"]
    assert script.status_code == 401
    assert script.json()["error"] == "canvas_authorization_required"
