"""Every ``CANVAS_OAUTH_*`` setting, read from Django's settings on each access.

Nothing is cached, so ``override_settings`` works everywhere. Validation lives in
``checks.py``; this module only supplies values and defaults.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache, wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from canvas_oauth.exceptions import is_control

T = TypeVar("T")

PREFIX = "CANVAS_OAUTH_"


_memo: dict[Callable[[], Any], Any] = {}


def memoized(func: Callable[[], T]) -> Callable[[], T]:
    """Cache what ``func`` derives from settings until a setting it may read changes.

    For the hot path: reading a Django setting costs about a microsecond, and deriving
    keys or the instance list from them costs more. ``override_settings`` and
    pytest-django's ``settings`` send ``setting_changed``, which empties the cache.
    """

    @wraps(func)
    def wrapper() -> T:
        try:
            return cast(T, _memo[func])
        except KeyError:
            value = _memo[func] = func()
            return value

    return wrapper


@receiver(setting_changed)
def _forget_derived(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX) or setting.startswith("SECRET_KEY"):
        _memo.clear()


class _Setting:
    """A class attribute that reads one Django setting whenever it is accessed.

    Its name is the attribute's, upper-cased, after ``CANVAS_OAUTH_``.
    """

    def __init__(self, default: Any = None) -> None:
        self.default = default

    def __set_name__(self, owner: type, attr: str) -> None:
        self.name = PREFIX + attr.upper()

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        return getattr(django_settings, self.name, self.default)


class CanvasOAuthSettings:
    """Every setting with its default, once: ``conf.settings.client_id`` and so on."""

    client_id = _Setting()
    client_secret = _Setting()
    canvas_domain = _Setting()
    scopes = _Setting([])
    token_expiration_buffer = _Setting(timedelta(0))
    error_template = _Setting("oauth_error.html")
    replace_tokens = _Setting(False)
    # Canvas's token endpoint answers in well under a second when healthy; see README.
    timeout = _Setting(3.0)
    connect_timeout = _Setting(2.0)
    refresh_wait = _Setting(1.0)
    breaker_threshold = _Setting(5)
    breaker_cooldown = _Setting(30.0)
    purpose = _Setting()
    force_login = _Setting(False)
    state_ttl = _Setting(timedelta(minutes=10))
    pkce = _Setting(True)
    redirect_uri = _Setting()
    encryption_keys = _Setting()
    instances = _Setting()
    instance_resolver = _Setting("canvas_oauth.instances.single_domain")
    state_cache = _Setting("default")
    revoke_on_user_delete = _Setting(True)
    # API calls (canvas_oauth.api): list pages and reports take seconds, not milliseconds.
    api_timeout = _Setting(30.0)
    # Canvas's bucket leaks 10 units/s: 30 s frees room for a dozen requests.
    api_retry_budget = _Setting(30.0)
    # A Django cache alias (Redis) in which processes sharing a token share its pace; None:
    # each process paces on its own.
    pacing_cache = _Setting()


settings = CanvasOAuthSettings()

# The full name of each setting, with its default.
DEFAULTS: dict[str, Any] = {
    found.name: found.default
    for found in vars(CanvasOAuthSettings).values()
    if isinstance(found, _Setting)
}


def get(name: str) -> Any:
    """Return the current value of the setting ``name`` (full ``CANVAS_OAUTH_`` name)."""
    if name not in DEFAULTS:
        raise AttributeError(f"{name} is not a canvas_oauth setting")
    return getattr(django_settings, name, DEFAULTS[name])


@lru_cache(maxsize=256)
def parse_domain(value: str) -> tuple[str, str]:
    """Split a domain setting into (scheme, netloc); a bare host means https.

    Raise ``ValueError`` when ``value`` is neither a host nor a plain origin.
    """
    value = value.strip()
    if any(is_control(ch) for ch in value):
        # urlsplit drops tabs and newlines, and keeps a NUL that PostgreSQL refuses to
        # compare: neither is part of any host.
        raise ValueError("A Canvas host or origin cannot contain control characters")
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ValueError(f"{value!r} is not a Canvas host or origin")
    parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    return parts.scheme, parts.netloc.lower()


def domain_key(value: str) -> str:
    """Return the form a domain is stored in: a bare host for https, else the origin."""
    scheme, netloc = parse_domain(value)
    return netloc if scheme == "https" else f"{scheme}://{netloc}"


def base_url(domain: str) -> str:
    """Return the origin Canvas is reached at, such as ``https://canvas.example.edu``."""
    scheme, netloc = parse_domain(domain)
    return f"{scheme}://{netloc}"


def default_domain() -> str:
    """Return the default Canvas instance's domain in stored form, for a caller that names
    none: ``CANVAS_OAUTH_CANVAS_DOMAIN``, else the one entry of ``CANVAS_OAUTH_INSTANCES``.

    Return '' when there is no single one, or it is not a host or origin (a check says so).
    Not memoized: pytest-django's ``del settings.NAME`` sends no ``setting_changed``, and
    migration 0003 must see such a change.
    """
    domain = settings.canvas_domain
    if not domain:
        instances = settings.instances or {}
        domain = next(iter(instances)) if len(instances) == 1 else ""
    try:
        return domain_key(domain) if domain else ""
    except ValueError:
        return ""


def is_loopback(host: str | None) -> bool:
    """Tell whether ``host`` is this machine: localhost, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False
