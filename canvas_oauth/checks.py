"""System checks for the ``CANVAS_OAUTH_*`` settings, with stable ids and hints."""

from __future__ import annotations

import pkgutil
from datetime import timedelta
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.core import checks
from django.template import TemplateDoesNotExist, TemplateSyntaxError, loader
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from canvas_oauth import conf, crypto, errorpages

MIDDLEWARE_PATH = "canvas_oauth.middleware.OAuthMiddleware"
APP_LABEL = "canvas_oauth"
MIGRATIONS = "canvas_oauth.migrations"


def _error(id_: str, msg: str, hint: str) -> checks.Error:
    return checks.Error(msg, hint=hint, id=id_)


@checks.register(checks.Tags.security, "canvas_oauth")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report every missing or ill-typed ``CANVAS_OAUTH_*`` setting."""
    s = conf.settings
    errors: list[checks.CheckMessage] = _check_instances(s.instances)
    errors.extend(_check_resolver(s.instance_resolver))
    # CANVAS_OAUTH_INSTANCES alone may configure the site; then the trio is optional.
    if not s.instances or s.client_id or s.client_secret or s.canvas_domain:
        errors.extend(_check_single_domain(s))
    errors.extend(_check_common(s))
    errors.extend(_check_cleartext(s))
    return errors


@checks.register(checks.Tags.templates, "canvas_oauth")
def check_error_template(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when a configured ``CANVAS_OAUTH_ERROR_TEMPLATE`` cannot be loaded.

    Only a name the project set itself: the default ``oauth_error.html`` is optional.
    """
    name = getattr(django_settings, "CANVAS_OAUTH_ERROR_TEMPLATE", None)
    if not isinstance(name, str) or not name:
        return []  # canvas_oauth.E007 reports it
    try:
        loader.get_template(name)
    except (TemplateDoesNotExist, TemplateSyntaxError) as exc:
        return [
            checks.Warning(
                f"CANVAS_OAUTH_ERROR_TEMPLATE {name!r} cannot be loaded ({type(exc).__name__}).",
                hint=f"Error pages fall back to {errorpages.SHIPPED_TEMPLATE!r} until it can. "
                "Check the name and TEMPLATES (DIRS, APP_DIRS).",
                id="canvas_oauth.W003",
            )
        ]
    return []


# Caches whose incr is one atomic step on a server every process reaches.
SHARED_ATOMIC_CACHES = frozenset(
    {
        "django.core.cache.backends.redis.RedisCache",
        "django.core.cache.backends.memcached.PyMemcacheCache",
        "django.core.cache.backends.memcached.PyLibMCCache",
        "django_redis.cache.RedisCache",
    }
)
# Caches kept inside each process: nothing they hold is shared.
PROCESS_CACHES = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
)


@checks.register(checks.Tags.caches, "canvas_oauth")
def check_pacing_cache(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check that ``CANVAS_OAUTH_PACING_CACHE`` names a cache that can share a pace."""
    alias = conf.settings.pacing_cache
    if alias is None or alias == "":
        return []
    configured = getattr(django_settings, "CACHES", {})
    if not isinstance(alias, str) or alias not in configured:
        return [
            _error(
                "canvas_oauth.E025",
                f"CANVAS_OAUTH_PACING_CACHE {alias!r} names no cache in CACHES.",
                "Name an alias of CACHES (a Redis cache every process reaches), or leave it "
                "unset to pace API calls per process.",
            )
        ]
    backend = configured[alias].get("BACKEND", "")
    kinds = _class_paths(backend)
    if kinds & SHARED_ATOMIC_CACHES:
        return []
    why = (
        "is kept inside each process, so processes sharing a token do not share its pace"
        if kinds & PROCESS_CACHES
        else "may not count calls in flight atomically (its incr reads, then writes)"
    )
    return [
        checks.Warning(
            f"CANVAS_OAUTH_PACING_CACHE {alias!r} ({backend}) {why}.",
            hint="Use Redis (django.core.cache.backends.redis.RedisCache) or Memcached, "
            "which every process reaches and which increments atomically.",
            id="canvas_oauth.W006",
        )
    ]


def _class_paths(path: object) -> set[str]:
    """Return the dotted paths of the class at ``path`` and of its bases (a project's
    subclass of a known backend is that backend); just ``path`` when it does not import."""
    try:
        found = import_string(path) if isinstance(path, str) else None
    except ImportError:
        found = None
    if not isinstance(found, type):
        return {str(path)}
    return {str(path)} | {f"{base.__module__}.{base.__qualname__}" for base in found.__mro__}


# What OAuthMiddleware's answers use: the session holds the dance's state, and the user
# its token. Django's own classes, or subclasses a project put in their place.
_NEEDED_BEFORE_MIDDLEWARE = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
)


@checks.register(checks.Tags.security, "canvas_oauth")
def check_middleware_order(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when ``OAuthMiddleware`` comes before the session or authentication middleware."""
    middleware = list(getattr(django_settings, "MIDDLEWARE", None) or [])
    ours = [i for i, path in enumerate(middleware) if _is_subclass_path(path, MIDDLEWARE_PATH)]
    if not ours:
        return []  # canvas_oauth.W001 says so
    position = ours[0]
    messages: list[checks.CheckMessage] = []
    for needed in _NEEDED_BEFORE_MIDDLEWARE:
        found = [i for i, path in enumerate(middleware) if _is_subclass_path(path, needed)]
        if found and found[0] < position:
            continue
        where = "is not in MIDDLEWARE" if not found else f"comes after {MIDDLEWARE_PATH}"
        messages.append(
            checks.Warning(
                f"{needed.rsplit('.', 1)[1]} {where}.",
                hint=f"Put {MIDDLEWARE_PATH} after {needed}: the answers it makes (the "
                "redirect to Canvas, the error page) use the session and the logged-in user.",
                id="canvas_oauth.W004",
            )
        )
    return messages


def _is_subclass_path(path: object, wanted: str) -> bool:
    """Tell whether the middleware at dotted ``path`` is ``wanted`` or a subclass of it."""
    return wanted in _class_paths(path)


# The URL names views and redirects are built with; reversing one proves the include.
_URL_NAME = "canvas-oauth-callback"


@checks.register(checks.Tags.urls, "canvas_oauth")
def check_urls_included(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when ``canvas_oauth.urls`` is not in ``ROOT_URLCONF`` (its names do not reverse)."""
    if not getattr(django_settings, "ROOT_URLCONF", None):
        return []
    try:
        reverse(_URL_NAME)
    except NoReverseMatch:
        return [
            checks.Warning(
                f"canvas_oauth's URLs are not in ROOT_URLCONF: {_URL_NAME!r} does not reverse, "
                "so sending a user to Canvas would fail with NoReverseMatch (a 500).",
                hint='Add path("oauth/", include("canvas_oauth.urls")) to urlpatterns, '
                "without a namespace.",
                id="canvas_oauth.W005",
            )
        ]
    return []


@checks.register(checks.Tags.compatibility, "canvas_oauth")
def check_migration_modules(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when ``MIGRATION_MODULES`` puts other migrations in place of this app's.

    Projects on the original app sometimes vendored its 1.x migrations that way; the table
    they build lacks the columns this version reads. ``None`` (tables made from the
    models, as in test settings) and a module holding all of ours are fine.
    """
    modules = getattr(django_settings, "MIGRATION_MODULES", None) or {}
    if APP_LABEL not in modules:
        return []
    module = modules[APP_LABEL]
    if module is None or module == MIGRATIONS:
        return []
    missing = sorted(_migration_names(MIGRATIONS) - _migration_names(module))
    if not missing:
        return []
    return [
        checks.Warning(
            f"MIGRATION_MODULES puts {module!r} in place of canvas_oauth's migrations, "
            f"and it lacks {', '.join(missing)}: the token table misses columns this "
            "version reads, so reading, refreshing and deleting tokens fail.",
            hint=f"Remove {APP_LABEL!r} from MIGRATION_MODULES and run `python manage.py "
            "migrate canvas_oauth`. The upgrade from django-canvas-oauth 1.x keeps every "
            "token (see the upgrade notes).",
            id="canvas_oauth.W010",
        )
    ]


def _migration_names(package: str) -> set[str]:
    """Return the migration modules of ``package``; none when it cannot be imported."""
    try:
        path = import_module(package).__path__
    except (ImportError, AttributeError):
        return set()
    return {info.name for info in pkgutil.iter_modules(path) if info.name[:1].isdigit()}


def _check_single_domain(s: conf.CanvasOAuthSettings) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    client_id = s.client_id
    if client_id in (None, "") or not str(client_id).strip().isdigit():
        errors.append(
            _error(
                "canvas_oauth.E001",
                "CANVAS_OAUTH_CLIENT_ID must be set to your Canvas developer key's client id.",
                "Copy the numeric ID of the developer key, e.g. "
                'CANVAS_OAUTH_CLIENT_ID = "10000000000001".',
            )
        )
    if not isinstance(s.client_secret, str) or not s.client_secret:
        errors.append(
            _error(
                "canvas_oauth.E002",
                "CANVAS_OAUTH_CLIENT_SECRET must be set to your developer key's secret.",
                "Read it from the environment, e.g. "
                'CANVAS_OAUTH_CLIENT_SECRET = os.environ["CANVAS_OAUTH_CLIENT_SECRET"].',
            )
        )
    domain = s.canvas_domain
    if not isinstance(domain, str) or not domain:
        errors.append(
            _error(
                "canvas_oauth.E003",
                "CANVAS_OAUTH_CANVAS_DOMAIN must be set to your Canvas instance's host.",
                'For example CANVAS_OAUTH_CANVAS_DOMAIN = "canvas.example.edu".',
            )
        )
    else:
        try:
            conf.parse_domain(domain)
        except ValueError:
            errors.append(
                _error(
                    "canvas_oauth.E004",
                    f"CANVAS_OAUTH_CANVAS_DOMAIN {domain!r} is not a host or an origin.",
                    'Use a bare host ("canvas.example.edu"; https is assumed) or an '
                    'origin with no path ("http://localhost:3000").',
                )
            )
    return errors


def _check_common(s: conf.CanvasOAuthSettings) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    scopes = s.scopes
    if not isinstance(scopes, (list, tuple)) or not all(
        isinstance(x, str) and x and not any(c.isspace() for c in x) for x in scopes
    ):
        errors.append(
            _error(
                "canvas_oauth.E005",
                "CANVAS_OAUTH_SCOPES must be a list of scope strings.",
                'For example ["url:GET|/api/v1/users/:user_id/profile"]; [] asks for none.',
            )
        )
    for id_, name, value in (
        ("canvas_oauth.E006", "CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER", s.token_expiration_buffer),
        ("canvas_oauth.E010", "CANVAS_OAUTH_STATE_TTL", s.state_ttl),
    ):
        if not isinstance(value, timedelta) or value < timedelta(0):
            errors.append(
                _error(
                    id_,
                    f"{name} must be a non-negative datetime.timedelta.",
                    f"For example {name} = timedelta(minutes=5).",
                )
            )
    if not isinstance(s.error_template, str) or not s.error_template:
        errors.append(
            _error(
                "canvas_oauth.E007",
                "CANVAS_OAUTH_ERROR_TEMPLATE must be a template name.",
                'The default is "oauth_error.html".',
            )
        )
    for id_, name, value in (
        ("canvas_oauth.E008", "CANVAS_OAUTH_REPLACE_TOKENS", s.replace_tokens),
        ("canvas_oauth.E011", "CANVAS_OAUTH_PKCE", s.pkce),
        ("canvas_oauth.E014", "CANVAS_OAUTH_FORCE_LOGIN", s.force_login),
        ("canvas_oauth.E018", "CANVAS_OAUTH_REVOKE_ON_USER_DELETE", s.revoke_on_user_delete),
    ):
        if not isinstance(value, bool):
            errors.append(_error(id_, f"{name} must be True or False.", f"Got {value!r}."))
    for id_, name, value, default in (
        ("canvas_oauth.E009", "CANVAS_OAUTH_TIMEOUT", s.timeout, "3 seconds"),
        ("canvas_oauth.E019", "CANVAS_OAUTH_CONNECT_TIMEOUT", s.connect_timeout, "2 seconds"),
        ("canvas_oauth.E020", "CANVAS_OAUTH_REFRESH_WAIT", s.refresh_wait, "1 second"),
        ("canvas_oauth.E022", "CANVAS_OAUTH_BREAKER_COOLDOWN", s.breaker_cooldown, "30 seconds"),
        ("canvas_oauth.E023", "CANVAS_OAUTH_API_TIMEOUT", s.api_timeout, "30 seconds"),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            errors.append(
                _error(
                    id_,
                    f"{name} must be a positive number of seconds.",
                    f"The default is {default}.",
                )
            )
    budget = s.api_retry_budget
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget >= 0:
        errors.append(
            _error(
                "canvas_oauth.E024",
                "CANVAS_OAUTH_API_RETRY_BUDGET must be a number of seconds, 0 or more.",
                "The default is 30 seconds; 0 gives a throttled API call back at once.",
            )
        )
    threshold = s.breaker_threshold
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        errors.append(
            _error(
                "canvas_oauth.E021",
                "CANVAS_OAUTH_BREAKER_THRESHOLD must be a whole number, 1 or more.",
                "The default is 5: five different tokens failing in a row open the breaker.",
            )
        )
    redirect_uri = s.redirect_uri
    if redirect_uri is not None and not _is_absolute_url(redirect_uri):
        errors.append(
            _error(
                "canvas_oauth.E012",
                "CANVAS_OAUTH_REDIRECT_URI must be an absolute http(s) URL or None.",
                'For example "https://tool.example.edu/oauth/oauth-callback".',
            )
        )
    if s.purpose is not None and not isinstance(s.purpose, str):
        errors.append(
            _error(
                "canvas_oauth.E013",
                "CANVAS_OAUTH_PURPOSE must be a string or None.",
                "Canvas shows it to the user next to the token.",
            )
        )
    errors.extend(_check_keys(s.encryption_keys))
    if not any(
        _is_subclass_path(path, MIDDLEWARE_PATH)
        for path in getattr(django_settings, "MIDDLEWARE", None) or []
    ):
        errors.append(
            checks.Warning(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE.",
                hint="Without it, MissingTokenError from get_oauth_token reaches users as a 500.",
                id="canvas_oauth.W001",
            )
        )
    return errors


def _is_absolute_url(value: object) -> bool:
    """Tell whether ``value`` is an absolute http(s) URL with a host."""
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        return False
    try:
        return bool(urlsplit(value).hostname)
    except ValueError:  # an unclosed [ of an IPv6 address
        return False


def _check_instances(instances: object) -> list[checks.CheckMessage]:
    if instances is None:
        return []
    hint = (
        'A dict such as {"canvas.example.edu": {"client_id": "10000000000001", '
        '"client_secret": "…", "scopes": [...]}}.'
    )
    if not isinstance(instances, dict):
        return [
            _error(
                "canvas_oauth.E016",
                "CANVAS_OAUTH_INSTANCES must be a dict keyed by Canvas domain.",
                hint,
            )
        ]
    errors: list[checks.CheckMessage] = []
    for domain, options in instances.items():
        problem = None
        try:
            conf.parse_domain(domain)
        except (ValueError, AttributeError, TypeError):
            problem = f"{domain!r} is not a Canvas host or origin"
        if problem is None and not isinstance(options, dict):
            problem = f"the entry for {domain!r} is not a dict"
        elif problem is None and not str(options.get("client_id", "")).strip().isdigit():
            problem = f"the entry for {domain!r} needs a numeric client_id"
        elif problem is None and not (
            isinstance(options.get("client_secret"), str) and options["client_secret"]
        ):
            problem = f"the entry for {domain!r} needs a client_secret"
        elif problem is None and not isinstance(options.get("scopes", []), (list, tuple)):
            problem = f"the scopes of {domain!r} must be a list"
        if problem:
            errors.append(_error("canvas_oauth.E016", f"CANVAS_OAUTH_INSTANCES: {problem}.", hint))
    return errors


def _check_cleartext(s: conf.CanvasOAuthSettings) -> list[checks.CheckMessage]:
    configured = [("CANVAS_OAUTH_CANVAS_DOMAIN", s.canvas_domain)]
    if isinstance(s.instances, dict):
        configured.extend(("CANVAS_OAUTH_INSTANCES", domain) for domain in s.instances)
    warnings: list[checks.CheckMessage] = []
    for name, domain in configured:
        try:
            scheme, _ = conf.parse_domain(domain)
        except (ValueError, AttributeError, TypeError):
            # Not a domain at all: canvas_oauth.E003, canvas_oauth.E004 or
            # canvas_oauth.E016 says so.
            continue
        if scheme == "http" and not conf.is_loopback(urlsplit(conf.base_url(domain)).hostname):
            warnings.append(
                checks.Warning(
                    f"{name}: Canvas at {domain!r} is reached over plain http, so the client "
                    "secret, codes and tokens would cross the network in clear text.",
                    hint='Use https (a bare host such as "canvas.example.edu" means https). '
                    "Plain http is only fine on loopback: localhost, 127.0.0.0/8 or ::1.",
                    id="canvas_oauth.W002",
                )
            )
    return warnings


def _check_resolver(path: object) -> list[checks.CheckMessage]:
    try:
        resolver = import_string(path) if isinstance(path, str) else None
    except ImportError:
        resolver = None
    if callable(resolver):
        return []
    return [
        _error(
            "canvas_oauth.E017",
            f"CANVAS_OAUTH_INSTANCE_RESOLVER {path!r} is not an importable callable.",
            'Use a dotted path such as "canvas_oauth.instances.session_domain".',
        )
    ]


def _check_keys(keys: object) -> list[checks.CheckMessage]:
    problem = crypto.keys_problem(keys)
    if problem is None:
        return []
    return [
        _error(
            "canvas_oauth.E015",
            problem,
            "Make one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`; leave the setting unset to "
            "derive keys from SECRET_KEY.",
        )
    ]
