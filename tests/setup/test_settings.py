"""Settings are read when used, and checked by Django's system checks."""

from datetime import timedelta

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.core import checks
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings

from canvas_oauth import conf
from canvas_oauth.checks import (
    check_middleware_order,
    check_pacing_cache,
    check_settings,
    check_urls_included,
)
from canvas_oauth.middleware import OAuthMiddleware


def ids(messages):
    return [m.id for m in messages]


def test_default_settings_pass_the_checks():
    assert check_settings() == []


def test_old_style_settings_module_still_answers(settings):
    from canvas_oauth import settings as old

    settings.CANVAS_OAUTH_CLIENT_ID = "42"
    assert old.CANVAS_OAUTH_CLIENT_ID == "42"
    assert old.CANVAS_OAUTH_ERROR_TEMPLATE == "oauth_error.html"
    assert "CANVAS_OAUTH_SCOPES" in dir(old)
    with pytest.raises(AttributeError):
        old.NOT_A_SETTING  # noqa: B018


def test_settings_are_read_on_each_access():
    with override_settings(CANVAS_OAUTH_SCOPES=["a"]):
        assert conf.settings.scopes == ["a"]
    assert conf.settings.scopes == []


def test_defaults_apply_when_unset(settings):
    del settings.CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER
    del settings.CANVAS_OAUTH_SCOPES
    assert conf.settings.token_expiration_buffer == timedelta(0)
    assert conf.settings.scopes == []
    assert conf.settings.replace_tokens is False
    assert conf.settings.timeout == 3.0
    assert conf.settings.connect_timeout == 2.0
    assert conf.settings.breaker_threshold == 5
    assert conf.settings.breaker_cooldown == 30.0
    assert conf.settings.api_timeout == 30.0
    assert conf.settings.api_retry_budget == 30.0


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("CANVAS_OAUTH_CLIENT_ID", None, "canvas_oauth.E001"),
        ("CANVAS_OAUTH_CLIENT_ID", "abc", "canvas_oauth.E001"),
        ("CANVAS_OAUTH_CLIENT_SECRET", "", "canvas_oauth.E002"),
        ("CANVAS_OAUTH_CANVAS_DOMAIN", None, "canvas_oauth.E003"),
        ("CANVAS_OAUTH_CANVAS_DOMAIN", "https://canvas.example.edu/path", "canvas_oauth.E004"),
        ("CANVAS_OAUTH_CANVAS_DOMAIN", "ftp://canvas.example.edu", "canvas_oauth.E004"),
        ("CANVAS_OAUTH_CANVAS_DOMAIN", "localhost:notaport", "canvas_oauth.E004"),
        ("CANVAS_OAUTH_SCOPES", "url:GET|/api/v1/courses", "canvas_oauth.E005"),
        ("CANVAS_OAUTH_SCOPES", ["two scopes"], "canvas_oauth.E005"),
        ("CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER", 300, "canvas_oauth.E006"),
        ("CANVAS_OAUTH_ERROR_TEMPLATE", None, "canvas_oauth.E007"),
        ("CANVAS_OAUTH_REPLACE_TOKENS", "yes", "canvas_oauth.E008"),
        ("CANVAS_OAUTH_TIMEOUT", 0, "canvas_oauth.E009"),
        ("CANVAS_OAUTH_TIMEOUT", True, "canvas_oauth.E009"),
        ("CANVAS_OAUTH_STATE_TTL", timedelta(seconds=-1), "canvas_oauth.E010"),
        ("CANVAS_OAUTH_PKCE", 1, "canvas_oauth.E011"),
        ("CANVAS_OAUTH_REDIRECT_URI", "/oauth/oauth-callback", "canvas_oauth.E012"),
        ("CANVAS_OAUTH_REDIRECT_URI", "https://[::1/oauth/oauth-callback", "canvas_oauth.E012"),
        ("CANVAS_OAUTH_REDIRECT_URI", "https:///oauth/oauth-callback", "canvas_oauth.E012"),
        ("CANVAS_OAUTH_PURPOSE", 7, "canvas_oauth.E013"),
        ("CANVAS_OAUTH_FORCE_LOGIN", "no", "canvas_oauth.E014"),
        ("CANVAS_OAUTH_ENCRYPTION_KEYS", ["not a key"], "canvas_oauth.E015"),
        ("CANVAS_OAUTH_ENCRYPTION_KEYS", [], "canvas_oauth.E015"),
        ("CANVAS_OAUTH_REVOKE_ON_USER_DELETE", "no", "canvas_oauth.E018"),
        ("CANVAS_OAUTH_CONNECT_TIMEOUT", 0, "canvas_oauth.E019"),
        ("CANVAS_OAUTH_CONNECT_TIMEOUT", "2", "canvas_oauth.E019"),
        ("CANVAS_OAUTH_REFRESH_WAIT", -1, "canvas_oauth.E020"),
        ("CANVAS_OAUTH_REFRESH_WAIT", float("nan"), "canvas_oauth.E020"),
        ("CANVAS_OAUTH_BREAKER_THRESHOLD", 0, "canvas_oauth.E021"),
        ("CANVAS_OAUTH_BREAKER_THRESHOLD", 2.5, "canvas_oauth.E021"),
        ("CANVAS_OAUTH_BREAKER_COOLDOWN", None, "canvas_oauth.E022"),
        ("CANVAS_OAUTH_API_TIMEOUT", 0, "canvas_oauth.E023"),
        ("CANVAS_OAUTH_API_TIMEOUT", "30", "canvas_oauth.E023"),
        ("CANVAS_OAUTH_API_RETRY_BUDGET", -1, "canvas_oauth.E024"),
        ("CANVAS_OAUTH_API_RETRY_BUDGET", float("nan"), "canvas_oauth.E024"),
        ("CANVAS_OAUTH_API_RETRY_BUDGET", None, "canvas_oauth.E024"),
    ],
)
def test_each_bad_setting_has_its_own_check(name, value, check_id):
    with override_settings(**{name: value}):
        messages = check_settings()
    assert ids(messages) == [check_id]
    assert messages[0].hint
    assert messages[0].level == checks.ERROR


def test_missing_required_settings_are_reported_not_raised(settings):
    del settings.CANVAS_OAUTH_CLIENT_ID
    del settings.CANVAS_OAUTH_CLIENT_SECRET
    del settings.CANVAS_OAUTH_CANVAS_DOMAIN
    assert ids(check_settings()) == [
        "canvas_oauth.E001",
        "canvas_oauth.E002",
        "canvas_oauth.E003",
    ]


def test_missing_middleware_is_a_warning(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "canvas_oauth" not in m]
    assert ids(check_settings()) == ["canvas_oauth.W001"]


SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
OAUTH = "canvas_oauth.middleware.OAuthMiddleware"


class OwnSessionMiddleware(SessionMiddleware):
    """A project's own session middleware, in Django's place."""


@pytest.mark.parametrize(
    ("middleware", "expected"),
    [
        ([SESSION, AUTH, OAUTH], []),
        ([f"{__name__}.OwnSessionMiddleware", AUTH, OAUTH], []),
        ([OAUTH, SESSION, AUTH], ["SessionMiddleware comes after", "AuthenticationMiddleware"]),
        ([SESSION, OAUTH, AUTH], ["AuthenticationMiddleware comes after"]),
        ([AUTH, OAUTH], ["SessionMiddleware is not in MIDDLEWARE"]),
        (["not.a.Module", SESSION, AUTH, OAUTH], []),
        ([SESSION, AUTH], []),  # no OAuthMiddleware at all: W001's business
    ],
)
def test_oauth_middleware_must_come_after_session_and_auth(middleware, expected):
    with override_settings(MIDDLEWARE=middleware):
        messages = check_middleware_order()
    assert ids(messages) == ["canvas_oauth.W004"] * len(expected)
    for message, text in zip(messages, expected, strict=True):
        assert message.msg.startswith(text)
        assert f"Put {OAUTH} after django.contrib." in message.hint


class OwnOAuthMiddleware(OAuthMiddleware):
    """A project's own subclass of OAuthMiddleware, in its place."""


def test_a_subclass_of_oauth_middleware_counts_as_it():
    own = f"{__name__}.OwnOAuthMiddleware"
    with override_settings(MIDDLEWARE=[SESSION, AUTH, own]):
        assert ids(check_settings()) == []
        assert check_middleware_order() == []
    with override_settings(MIDDLEWARE=[own, SESSION, AUTH]):
        assert ids(check_settings()) == []
        assert ids(check_middleware_order()) == ["canvas_oauth.W004"] * 2


class ProjectRedisCache(RedisCache):
    """A project's own Redis cache (a key prefix rule, say): Redis all the same."""


class ProjectLocMemCache(LocMemCache):
    """A project's own local-memory cache: still one per process."""


@pytest.mark.parametrize(
    ("backend", "ids"),
    [
        (f"{__name__}.ProjectRedisCache", []),
        (f"{__name__}.ProjectLocMemCache", ["canvas_oauth.W006"]),
        ("no.such.Backend", ["canvas_oauth.W006"]),
    ],
)
def test_the_pacing_cache_check_knows_a_subclass_of_a_backend(settings, backend, ids):
    settings.CACHES = {**settings.CACHES, "pace": {"BACKEND": backend}}
    settings.CANVAS_OAUTH_PACING_CACHE = "pace"
    messages = check_pacing_cache()
    assert [message.id for message in messages] == ids
    if "LocMem" in backend:
        assert "kept inside each process" in messages[0].msg


def test_urls_not_included_is_a_warning_naming_the_include():
    assert check_urls_included() == []
    with override_settings(ROOT_URLCONF="tests.urls_without_oauth"):
        messages = checks.run_checks(tags=[checks.Tags.urls])
    (warning,) = [m for m in messages if m.id == "canvas_oauth.W005"]
    assert "'canvas-oauth-callback' does not reverse" in warning.msg
    assert 'include("canvas_oauth.urls")' in warning.hint


def test_the_urls_check_needs_a_urlconf():
    with override_settings(ROOT_URLCONF=None):
        assert check_urls_included() == []


def test_checks_run_through_djangos_framework():
    with override_settings(CANVAS_OAUTH_TIMEOUT=-1):
        messages = checks.run_checks()
    assert "canvas_oauth.E009" in ids(messages)


@pytest.mark.parametrize(
    ("value", "key", "base"),
    [
        ("canvas.example.edu", "canvas.example.edu", "https://canvas.example.edu"),
        ("https://Canvas.Example.edu/", "canvas.example.edu", "https://canvas.example.edu"),
        ("http://localhost:3000", "http://localhost:3000", "http://localhost:3000"),
    ],
)
def test_domain_forms(value, key, base):
    assert conf.domain_key(value) == key
    assert conf.base_url(value) == base


def instance_at(domain):
    return {domain: {"client_id": "10000000000011", "client_secret": "s" * 64}}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CANVAS_OAUTH_CANVAS_DOMAIN", "http://canvas.example.edu"),
        ("CANVAS_OAUTH_CANVAS_DOMAIN", "http://10.0.0.5:8080"),
        ("CANVAS_OAUTH_INSTANCES", instance_at("http://canvas.east.edu")),
    ],
)
def test_plain_http_canvas_is_a_warning(name, value):
    with override_settings(**{name: value}):
        messages = check_settings()
    assert ids(messages) == ["canvas_oauth.W002"]
    assert messages[0].level == checks.WARNING
    assert "https" in messages[0].hint


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CANVAS_OAUTH_CANVAS_DOMAIN", "http://localhost:3000"),
        ("CANVAS_OAUTH_CANVAS_DOMAIN", "http://127.0.0.1:8001"),
        ("CANVAS_OAUTH_CANVAS_DOMAIN", "http://127.8.9.10"),
        ("CANVAS_OAUTH_CANVAS_DOMAIN", "http://[::1]:3000"),
        ("CANVAS_OAUTH_INSTANCES", instance_at("http://localhost:3000")),
        ("CANVAS_OAUTH_INSTANCES", instance_at("https://canvas.east.edu")),
    ],
)
def test_plain_http_on_loopback_and_https_are_fine(name, value):
    with override_settings(**{name: value}):
        assert check_settings() == []
