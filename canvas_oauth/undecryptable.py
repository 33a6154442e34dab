"""Rows no configured key decrypts: reported once per incident, and kept.

A key may be missing by mistake and come back; until it does, the user is asked to
authorize, and the new dance overwrites the row.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from canvas_oauth import conf
from canvas_oauth.models import CanvasOAuth2Token

logger = logging.getLogger("canvas_oauth.tokens")

# Undecryptable rows already reported, one entry per incident: a row written again (a new
# dance) and lost again is reported again. The oldest are forgotten beyond the limit.
REPORTED_LIMIT = 1024
_reported: OrderedDict[tuple[object, ...], None] = OrderedDict()
_reported_lock = threading.Lock()
# Whether this process has said why rows stop decrypting when the keys come from SECRET_KEY.
_explained = False


def report(token: CanvasOAuth2Token) -> None:
    """Log, once per incident, that no configured key decrypts ``token``."""
    stored = tuple(hash(token.__dict__.get(f)) for f in ("access_token", "refresh_token"))
    incident = (token._state.db, token.pk, *stored)
    global _explained
    derived = not conf.settings.encryption_keys
    with _reported_lock:
        if incident in _reported:
            return
        _reported[incident] = None
        while len(_reported) > REPORTED_LIMIT:
            _reported.popitem(last=False)
        explain, _explained = derived and not _explained, _explained or derived
    logger.error(
        "Canvas token pk=%s cannot be decrypted with the configured keys; kept until a key "
        "decrypts it or the user authorizes again",
        token.pk,
    )
    if explain:
        # A SECRET_KEY made up at start-up (common when it is unset) changes with every
        # process: users are then asked to authorize again and again, which looks like
        # tokens going missing. Said once per process.
        logger.error(
            "Canvas tokens are encrypted with keys derived from SECRET_KEY, and none "
            "derived from SECRET_KEY or SECRET_KEY_FALLBACKS decrypts token pk=%s: "
            "SECRET_KEY has changed since it was stored. Set CANVAS_OAUTH_ENCRYPTION_KEYS "
            "to fixed keys, or keep the old SECRET_KEY in SECRET_KEY_FALLBACKS",
            token.pk,
        )
