"""Settings of the bench project; the database comes from BENCH_DATABASE_URL.

``sqlite:///path/to/file.sqlite3`` or ``postgres://postgres@127.0.0.1:5432/name``.
"""

import os

from bench.common import SCOPES
from tests.settings import *  # noqa: F403 -- the bench runs the app as the tests do
from tests.settings import database_from_url

SECRET_KEY = "bench-only-not-a-secret"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench.urls"

DATABASES = {
    "default": {
        **database_from_url(os.environ["BENCH_DATABASE_URL"]),
        # Persistent connections, as any production deployment has (pooler or CONN_MAX_AGE).
        "CONN_MAX_AGE": 600,
    }
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # What the README asks of SQLite sites: writes wait for a refresh instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}

LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

CANVAS_OAUTH_CLIENT_SECRET = "bench-client-secret-" + "s" * 44
CANVAS_OAUTH_CANVAS_DOMAIN = os.environ.get("BENCH_CANVAS_DOMAIN", "canvas.example.edu")
CANVAS_OAUTH_SCOPES = list(SCOPES)
if "BENCH_CANVAS_TIMEOUT" in os.environ:
    CANVAS_OAUTH_TIMEOUT = float(os.environ["BENCH_CANVAS_TIMEOUT"])
# BENCH_KEYS: comma-separated Fernet keys, newest first (the rotation bench sets them).
CANVAS_OAUTH_ENCRYPTION_KEYS = [k for k in os.environ.get("BENCH_KEYS", "").split(",") if k] or None
