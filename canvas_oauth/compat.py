"""``user.canvas_oauth2_token``: the original app's one-to-one accessor, kept read-only.

The original stored one token per user; this app stores one per (user, Canvas instance)
under ``user.canvas_oauth2_tokens``. The old attribute still answers, with the token for
the default instance, and behaves as a reverse one-to-one did: ``hasattr`` is False when
there is none, and the error raised is a ``CanvasOAuth2Token.DoesNotExist``.
"""

from __future__ import annotations

import warnings
from typing import Any

from django.contrib.auth import get_user_model

from canvas_oauth import conf
from canvas_oauth.models import CanvasOAuth2Token

ATTRIBUTE = "canvas_oauth2_token"


class RelatedTokenDoesNotExist(CanvasOAuth2Token.DoesNotExist, AttributeError):
    """The user has no token for the default Canvas instance."""


class DefaultInstanceToken:
    """A read-only attribute of the user model: their token for the default instance."""

    def __get__(self, user: Any, owner: type | None = None) -> Any:
        if user is None:
            return self
        warnings.warn(
            "user.canvas_oauth2_token is deprecated: a user has one token per Canvas "
            "instance, in user.canvas_oauth2_tokens.",
            DeprecationWarning,
            stacklevel=2,
        )
        token = None
        domain = conf.default_domain()  # '' when there is none: then no token is its token
        if user.pk is not None and domain:
            token = CanvasOAuth2Token.objects.filter(user=user, domain=domain).first()
        if token is None:
            raise RelatedTokenDoesNotExist(f"{type(user).__name__} has no canvas_oauth2_token.")
        return token

    def __set__(self, user: Any, value: Any) -> None:
        raise AttributeError(
            "user.canvas_oauth2_token is read-only; create a CanvasOAuth2Token for the user."
        )


def install() -> None:
    """Give the user model the attribute, unless it defines one of that name itself."""
    user_model = get_user_model()
    if not hasattr(user_model, ATTRIBUTE):
        setattr(user_model, ATTRIBUTE, DefaultInstanceToken())
