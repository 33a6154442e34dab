"""Settings of the example site: a Django project using canvas_oauth as the README says.

The Canvas settings come from the environment. Their defaults match the fake Canvas that
``make demo`` starts on http://127.0.0.1:8001, so the site works out of the box.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# A demo runs on loopback only; a real site reads its secret key from the environment.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "canvas-oauth-demo-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Serves canvas_oauth/connect.js (the popup dance, /lti/) under runserver with DEBUG.
    "django.contrib.staticfiles",
    "canvas_oauth",
    "demo_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After the session and authentication middleware: it needs request.user.
    "canvas_oauth.middleware.OAuthMiddleware",
]

ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"

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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DATABASE") or BASE_DIR / "db.sqlite3",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "static/"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# canvas_oauth. The defaults are the fake Canvas's developer key (see ``make demo``).
CANVAS_OAUTH_CLIENT_ID = os.environ.get("CANVAS_OAUTH_CLIENT_ID", "10000000000001")
CANVAS_OAUTH_CLIENT_SECRET = os.environ.get(
    "CANVAS_OAUTH_CLIENT_SECRET", "fake-canvas-secret-" + "x" * 45
)
CANVAS_OAUTH_CANVAS_DOMAIN = os.environ.get("CANVAS_OAUTH_CANVAS_DOMAIN", "http://127.0.0.1:8001")
CANVAS_OAUTH_PURPOSE = "canvas_oauth example site"

# Timeout, in seconds, of each call canvas_session makes to Canvas's API.
CANVAS_OAUTH_API_TIMEOUT = 10.0

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"canvas_oauth": {"handlers": ["console"], "level": "INFO"}},
}
