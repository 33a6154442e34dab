"""Refresh a token once, however many ask, and keep slow Canvas answers from piling up.

- Threads of one process share the refresh in flight (``singleflight``); processes and
  machines share it through the row's claim (``claims``). Only the claim's holder calls
  Canvas, and it holds no database lock or transaction while it does.
- Nobody waits on a refresh they do not need: while the token is still valid (refreshed
  early because of ``CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER``), everyone else gets it at
  once. For an expired token, others wait at most ``CANVAS_OAUTH_REFRESH_WAIT`` seconds,
  then get ``TokenRefreshError`` (the 503 page), with the token kept.
- When refreshes at one Canvas keep failing, its breaker (``breaker``) fails them fast for
  a cool-down instead of sending each request into a full timeout.
- An early refresh that fails for a reason that may pass returns the still-valid token.
"""

from __future__ import annotations

import logging
import time

from django.db import router
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import breaker, claims, conf, crypto, instances, singleflight, undecryptable
from canvas_oauth.canvas import is_dead_refresh_token
from canvas_oauth.exceptions import (
    CanvasOAuthError,
    CanvasRejectedError,
    MissingTokenError,
    RefreshTokenRejectedError,
    TokenRefreshError,
)
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.signals import token_refreshed

logger = logging.getLogger(__name__)

# A claim outlives the Canvas call's deadline by this much, in seconds.
CLAIM_MARGIN = 2.0
# How often a caller waiting on another process's refresh reads the row again, in seconds.
POLL_INTERVAL = 0.05


def refresh(token: CanvasOAuth2Token, *, force: bool = False) -> CanvasOAuth2Token:
    """Refresh ``token`` unless someone else just did, and return the row as it is now.

    Without ``force``, a token that no longer expires within the buffer counts as
    refreshed; with it, only one whose access token differs from ``token``'s does (the
    caller knows Canvas rejected it, however long it has left).
    """
    alias = router.db_for_write(CanvasOAuth2Token, instance=token)
    seen = _access_token_or_none(token)
    can_wait = force or token.is_expired
    wait = float(conf.settings.refresh_wait) if can_wait else 0.0
    try:
        return singleflight.share(
            (alias, token.pk), wait, lambda: _refresh_once(token, force, seen)
        )
    except singleflight.FlightTimeout:
        if not can_wait:
            return token  # still valid: no need to wait for the refresh in flight
        logger.warning("Gave up waiting for the refresh of Canvas token pk=%s", token.pk)
        raise TokenRefreshError() from None


@sensitive_variables()
def _access_token_or_none(token: CanvasOAuth2Token) -> str | None:
    try:
        return token.access_token
    except crypto.DecryptionError:
        return None


@sensitive_variables("seen")
def _refreshed(current: CanvasOAuth2Token, force: bool, seen: str | None) -> bool:
    """Tell whether ``current`` was refreshed since the caller read its token."""
    if force:
        return _access_token_or_none(current) != seen
    return not current.expires_within(conf.settings.token_expiration_buffer)


@sensitive_variables("seen")
def _refresh_once(token: CanvasOAuth2Token, force: bool, seen: str | None) -> CanvasOAuth2Token:
    timeout = float(conf.settings.timeout)
    claim = claims.take(token, timeout + CLAIM_MARGIN)
    if claim is None:
        return _await_other_refresh(token, force, seen)
    try:
        current = claims.read(token)
        if current is None:
            raise RefreshTokenRejectedError()
        if current.refresh_claim != claim or _refreshed(current, force, seen):
            result = current  # refreshed by another request before we claimed it
        else:
            result = _refresh_claimed(current, claim, force)
    except BaseException:
        claims.release(token, claim)
        raise
    # finish() released the claim in the same UPDATE that stored the new token; a token
    # kept or refreshed elsewhere still carries it.
    if result.refresh_claim == claim:
        claims.release(token, claim)
    return result


def _await_other_refresh(
    token: CanvasOAuth2Token, force: bool, seen: str | None
) -> CanvasOAuth2Token:
    """Another process is refreshing: use the valid token now, or wait a short time."""
    if not force and not token.is_expired:
        return token
    deadline = time.monotonic() + float(conf.settings.refresh_wait)
    while True:
        current = claims.read(token)
        if current is None:
            raise RefreshTokenRejectedError()
        if _refreshed(current, force, seen):
            return current
        if not claims.is_claimed(current) or time.monotonic() >= deadline:
            # It failed (the token is kept, and a later request tries again), or it is
            # taking longer than we may wait.
            logger.warning("Canvas token pk=%s was not refreshed in time", token.pk)
            raise TokenRefreshError()
        time.sleep(POLL_INTERVAL)


@sensitive_variables()
def _refresh_claimed(token: CanvasOAuth2Token, claim: str, force: bool) -> CanvasOAuth2Token:
    """Call Canvas for the claimed row; store, delete or keep it by Canvas's answer."""
    try:
        refresh_token = token.refresh_token
    except crypto.DecryptionError:
        undecryptable.report(token)
        raise MissingTokenError() from None
    if not refresh_token:
        logger.info("Canvas token pk=%s cannot be refreshed; deleting it", token.pk)
        claims.delete(token, claim)
        raise RefreshTokenRejectedError()
    client = instances.get(token.domain).client()  # a domain off the allow-list raises
    gate = breaker.for_domain(token.domain)
    if not gate.allow():
        return _keep(token, force, "its Canvas is failing; not asking it for now")
    try:
        grant = client.refresh(refresh_token)
    except CanvasRejectedError as exc:
        gate.succeeded()  # Canvas answered, if only to say no
        if is_dead_refresh_token(exc):
            logger.info(
                "Canvas no longer accepts the refresh token of pk=%s (user %s); deleting it",
                token.pk,
                token.user_id,
            )
            claims.delete(token, claim)
            raise RefreshTokenRejectedError() from exc
        return _keep(token, force, exc.code, exc)
    except CanvasOAuthError as exc:  # no answer in time, a 5xx, or garbage
        gate.failed(token.pk)
        return _keep(token, force, exc.code, exc)
    except BaseException:
        # Anything else (a bug, a worker's timeout) still ends a probe: left "probing",
        # the breaker would fail every refresh to this Canvas until a restart.
        gate.failed(token.pk)
        raise
    gate.succeeded()
    if not claims.finish(token, claim, grant):
        # A new authorization replaced the row meanwhile: it is the newer token.
        current = claims.read(token)
        if current is None:
            raise RefreshTokenRejectedError()
        return current
    logger.info("Refreshed Canvas token pk=%s for user %s", token.pk, token.user_id)
    token_refreshed.send(sender=CanvasOAuth2Token, user=token.user, domain=token.domain)
    return token


def _keep(
    token: CanvasOAuth2Token, force: bool, why: str, cause: BaseException | None = None
) -> CanvasOAuth2Token:
    """A refresh that may pass failed: the token is kept, and used while it is valid."""
    if not force and not token.is_expired:
        logger.warning(
            "Could not refresh Canvas token pk=%s early (%s); it is still valid", token.pk, why
        )
        return token
    logger.warning("Could not refresh Canvas token pk=%s (%s); kept", token.pk, why)
    raise TokenRefreshError() from cause
