"""Settings for the test suite; the database comes from DATABASE_URL (SQLite if unset)."""

import os
import uuid
from datetime import timedelta
from urllib.parse import unquote, urlsplit

import django

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
ROOT_URLCONF = "tests.urls"
LOGIN_URL = "/accounts/login/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"


def database_from_url(url: str) -> dict[str, object]:
    """Turn sqlite://, postgres:// or mysql:// URLs into a DATABASES entry."""
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    parts = urlsplit(url)
    engines = {
        "sqlite": "django.db.backends.sqlite3",
        "postgres": "django.db.backends.postgresql",
        "postgresql": "django.db.backends.postgresql",
        "mysql": "django.db.backends.mysql",
        "mariadb": "django.db.backends.mysql",
    }
    engine = engines[parts.scheme]
    if parts.scheme == "sqlite":
        # sqlite:///relative.db or sqlite:////absolute/path.db, as SQLAlchemy spells them.
        return {"ENGINE": engine, "NAME": parts.path[1:] or ":memory:"}
    return {
        "ENGINE": engine,
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "TEST": {"NAME": "test_canvas_oauth_" + (parts.path.lstrip("/") or "db")},
    }


DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", ""))}

if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # PyMySQL needs no C headers; mysqlclient is used instead when it is installed.
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        import pymysql

        pymysql.install_as_MySQLdb()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "canvas_oauth",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "canvas_oauth.middleware.OAuthMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

CANVAS_OAUTH_CLIENT_ID = "10000000000001"
CANVAS_OAUTH_CLIENT_SECRET = "test-client-secret-" + "s" * 45
CANVAS_OAUTH_CANVAS_DOMAIN = "canvas.example.edu"
CANVAS_OAUTH_SCOPES: list[str] = []
CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER = timedelta(0)

# Popup dances are tested on each of these (tests/dance/test_popup.py). CI runs the popup tests
# again with CANVAS_OAUTH_TEST_STATE_CACHE=redis.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # The test database gets this table from Django's createcachetable.
    "db": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "canvas_oauth_test_cache",
    },
    "redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        # Other test runs share the server: each run keeps to keys of its own (and the
        # processes a test starts inherit the run's prefix).
        "KEY_PREFIX": os.environ.setdefault(
            "CANVAS_OAUTH_TEST_CACHE_PREFIX", f"canvas-oauth-tests-{uuid.uuid4().hex}"
        ),
    },
}
CANVAS_OAUTH_STATE_CACHE = os.environ.get("CANVAS_OAUTH_TEST_STATE_CACHE", "default")

# Django 6.1 sends mail through MAILERS and warns (an error here) when none is configured.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
