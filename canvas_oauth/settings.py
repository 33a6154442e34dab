"""Old-style access: ``from canvas_oauth import settings; settings.CANVAS_OAUTH_SCOPES``.

Values are looked up on every access through ``canvas_oauth.conf``, never at import.
"""

from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from canvas_oauth import conf

__all__ = ["get_required_setting"]


def get_required_setting(oauth_setting: str) -> Any:
    """Return the Django setting ``oauth_setting``; raise ``ImproperlyConfigured`` if unset.

    The original app's helper, kept for code that calls it.
    """
    if not hasattr(django_settings, oauth_setting):
        raise ImproperlyConfigured(
            f"Missing {oauth_setting} setting that is required to use the Django Canvas "
            "OAuth library"
        )
    return getattr(django_settings, oauth_setting)


def __getattr__(name: str) -> Any:
    return conf.get(name)


def __dir__() -> list[str]:
    return sorted([*conf.DEFAULTS, "get_required_setting"])
