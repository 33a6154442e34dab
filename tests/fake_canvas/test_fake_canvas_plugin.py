"""The pytest plugin's fixtures read the Django settings at fixture time."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
from django.conf import settings as django_settings
from django.test import override_settings

from canvas_oauth.testing import FakeCanvas
from canvas_oauth.testing.provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from canvas_oauth.testing.pytest_plugin import (
    canvas_origin,
    client_callback_uris,
    fake_from_settings,
)

urlpatterns: list = []  # a URLconf without canvas_oauth, for the test that needs one


def test_fake_canvas_uses_the_client_settings(fake_canvas):
    assert isinstance(fake_canvas, FakeCanvas)
    assert fake_canvas.client_id == django_settings.CANVAS_OAUTH_CLIENT_ID
    assert fake_canvas.client_secret == django_settings.CANVAS_OAUTH_CLIENT_SECRET
    assert fake_canvas.base_url == "https://canvas.example.edu"
    assert not fake_canvas.auto_approve
    token = fake_canvas.issue_token()["access_token"]
    response = requests.get(
        "https://canvas.example.edu/api/v1/users/self",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert response.json()["name"] == "Ada Lovelace"


def test_live_fake_canvas_points_the_domain_setting_at_the_server(live_fake_canvas):
    assert live_fake_canvas.base_url == django_settings.CANVAS_OAUTH_CANVAS_DOMAIN
    assert live_fake_canvas.base_url.startswith("http://127.0.0.1:")
    response = requests.get(f"{live_fake_canvas.base_url}/api/v1/users/self", timeout=5)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("domain", "origin"),
    [
        ("canvas.example.edu", "https://canvas.example.edu"),
        ("http://localhost:3000/", "http://localhost:3000"),
        (" https://canvas.example.edu ", "https://canvas.example.edu"),
    ],
)
def test_canvas_origin(domain, origin):
    assert canvas_origin(domain) == origin


def test_fake_from_settings_takes_an_origin_domain():
    with override_settings(CANVAS_OAUTH_CANVAS_DOMAIN="http://localhost:3000"):
        assert fake_from_settings().base_url == "http://localhost:3000"


def test_fake_from_settings_defaults_when_unset():
    with override_settings():
        del django_settings.CANVAS_OAUTH_CANVAS_DOMAIN
        del django_settings.CANVAS_OAUTH_CLIENT_ID
        del django_settings.CANVAS_OAUTH_CLIENT_SECRET
        fake = fake_from_settings(public_client=True)
    assert fake.base_url == "https://canvas.example.edu"
    assert (fake.client_id, fake.client_secret) == (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    assert fake.client.public


def test_numeric_client_id_setting_becomes_a_string():
    with override_settings(CANVAS_OAUTH_CLIENT_ID=12345):
        assert fake_from_settings().client_id == "12345"


class TestOptionsFixture:
    @pytest.fixture
    def fake_canvas_options(self):
        return {"auto_approve": True, "public_client": True}

    def test_options_reach_the_fake(self, fake_canvas):
        assert fake_canvas.auto_approve
        assert fake_canvas.client.public


def test_importing_the_plugin_does_not_need_django_settings():
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import canvas_oauth.testing.pytest_plugin\n"
        "from django.conf import settings\n"
        "assert not settings.configured\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=30)


def test_the_key_lists_the_test_clients_callback(fake_canvas):
    assert fake_canvas.client.redirect_uris == ["http://testserver/oauth/oauth-callback"]


def test_the_key_does_not_list_the_redirect_uri_setting():
    with override_settings(CANVAS_OAUTH_REDIRECT_URI="https://tool.example.edu/cb"):
        assert fake_from_settings().client.redirect_uris == [
            "http://testserver/oauth/oauth-callback"
        ]


@pytest.mark.urls(__name__)
def test_without_a_callback_route_the_key_lists_nothing():
    assert client_callback_uris() == []


class TestRedirectUrisOption:
    @pytest.fixture
    def fake_canvas_options(self):
        return {"redirect_uris": ["https://tool.example.edu/oauth/oauth-callback"]}

    def test_the_option_replaces_the_list(self, fake_canvas):
        assert fake_canvas.client.redirect_uris == ["https://tool.example.edu/oauth/oauth-callback"]
