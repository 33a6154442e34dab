"""Settings of the bench project; the database comes from BENCH_DATABASE_URL.

``sqlite:///path/to/file.sqlite3`` or ``postgres://postgres@127.0.0.1:5432/name``.
"""

import os
from datetime import timedelta
from urllib.parse import unquote, urlsplit

SECRET_KEY = "bench-only-not-a-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGIN_URL = "/accounts/login/"


def database_from_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parts.path}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # Persistent connections, as any production deployment has (pooler or CONN_MAX_AGE).
        "CONN_MAX_AGE": 600,
    }


DATABASES = {"default": database_from_url(os.environ["BENCH_DATABASE_URL"])}

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
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

CANVAS_OAUTH_CLIENT_ID = "10000000000001"
CANVAS_OAUTH_CLIENT_SECRET = "bench-client-secret-" + "s" * 44
CANVAS_OAUTH_CANVAS_DOMAIN = os.environ.get("BENCH_CANVAS_DOMAIN", "canvas.example.edu")
CANVAS_OAUTH_SCOPES = []
CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER = timedelta(0)
# BENCH_KEYS: comma-separated Fernet keys, newest first (the rotation bench sets them).
CANVAS_OAUTH_ENCRYPTION_KEYS = [k for k in os.environ.get("BENCH_KEYS", "").split(",") if k] or None
