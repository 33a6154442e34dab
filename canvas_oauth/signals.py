"""Signals sent as tokens come and go. They carry the user and the domain, never a token.

Each is sent with ``sender=CanvasOAuth2Token`` and the keyword arguments ``user`` and
``domain``.
"""

from django.dispatch import Signal

__all__ = ["token_obtained", "token_refreshed", "token_revoked"]

token_obtained = Signal()
token_refreshed = Signal()
token_revoked = Signal()
