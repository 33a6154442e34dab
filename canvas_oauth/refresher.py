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
- Canvas throttles its token endpoint too (spec §9.2). A refused refresh is tried again
  when Canvas's figure of the room left says it will be admitted within the refresh's
  deadline (``CANVAS_OAUTH_TIMEOUT`` from its start); otherwise it fails as a timeout
  would. Either way Canvas answered, so the breaker counts it as a success, not a failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import router
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import (
    breaker,
    canvas,
    claims,
    conf,
    crypto,
    instances,
    singleflight,
    undecryptable,
)
from canvas_oauth.canvas import is_dead_refresh_token
from canvas_oauth.exceptions import (
    CanvasOAuthError,
    CanvasRejectedError,
    CanvasTokenThrottledError,
    MissingTokenError,
    RefreshTokenRejectedError,
    TokenRefreshError,
)
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.signals import token_refreshed

logger = logging.getLogger(__name__)

# How often a caller waiting on another process's refresh reads the row again, in seconds.
POLL_INTERVAL = 0.05
# The token endpoint's throttle: Canvas's bucket, as the API's (a class attribute of
# ``CanvasSession`` there; tests of a faster fake change this one).
TOKEN_BUCKET = canvas.THROTTLE_BUCKET
# A refresh refused by the throttle is tried again only if this long is left for the answer.
MIN_ANSWER_TIME = 0.25


@sensitive_variables("seen")
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

    # Not a lambda: its frame would show the access token in ``seen`` to error reports.
    @sensitive_variables("seen")
    def run() -> CanvasOAuth2Token:
        return _refresh_once(token, force, seen)

    try:
        return singleflight.share((alias, token.pk), wait, run)
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
    deadline = time.monotonic() + timeout
    with claims.hold(token, timeout) as claim:
        if claim is None:
            return _await_other_refresh(token, force, seen)
        current = claim.row
        if current is None:
            raise RefreshTokenRejectedError()
        if not claim.held or _refreshed(current, force, seen):
            return current  # refreshed by another request before we claimed it
        return _refresh_claimed(claim, force, deadline)


@sensitive_variables("seen")
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
def _refresh_claimed(claim: claims.Claim, force: bool, deadline: float) -> CanvasOAuth2Token:
    """Call Canvas for the claimed row; store, delete or keep it by Canvas's answer."""
    token = claim.row
    assert token is not None  # a claim held on a row that was read
    try:
        refresh_token = token.refresh_token
    except crypto.DecryptionError:
        undecryptable.report(token)
        raise MissingTokenError() from None
    if not refresh_token:
        logger.info("Canvas token pk=%s cannot be refreshed; deleting it", token.pk)
        claim.delete()
        raise RefreshTokenRejectedError()
    client = instances.get(token.domain).client()  # a domain off the allow-list raises
    gate = breaker.for_domain(token.domain)
    if not gate.allow():
        return _keep(token, force, "its Canvas is failing; not asking it for now")
    try:

        @sensitive_variables()
        def refresh(timeout: float | None) -> canvas.TokenGrant:
            # Not a lambda: error reports show a frame's variables, the refresh token's too.
            # The first try as the client's own call (a test may stand in for it).
            if timeout is None:
                return client.refresh(refresh_token)
            return client.refresh(refresh_token, timeout=timeout)

        grant = grant_within(refresh, deadline, f"the refresh of pk={token.pk}")
    except CanvasTokenThrottledError as exc:
        gate.succeeded()  # Canvas answered: a throttle is not an outage
        return _keep(token, force, exc.code, exc)
    except CanvasRejectedError as exc:
        gate.succeeded()  # Canvas answered, if only to say no
        if is_dead_refresh_token(exc):
            logger.info(
                "Canvas no longer accepts the refresh token of pk=%s (user %s); deleting it",
                token.pk,
                token.user_id,
            )
            claim.delete()
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
    if not claim.finish(grant):
        # A new authorization replaced the row meanwhile: it is the newer token.
        current = claims.read(token)
        if current is None:
            raise RefreshTokenRejectedError()
        return current
    logger.info("Refreshed Canvas token pk=%s for user %s", token.pk, token.user_id)
    token_refreshed.send(sender=CanvasOAuth2Token, user=token.user, domain=token.domain)
    return token


@sensitive_variables()
def grant_within(
    ask: Callable[[float | None], canvas.TokenGrant], deadline: float, what: str
) -> canvas.TokenGrant:
    """Return ``ask(timeout)``'s grant, asked again after a throttle's refusal while in time.

    Canvas's token endpoint throttles (spec §9.2): a refused request did not reach it, so a
    code or refresh token sent again is as good as new. The first try has the client's own
    timeout (None), a retry what is left of the monotonic ``deadline``. A refusal Canvas
    will not lift in time is raised, as is any other error; ``what`` names the request in
    the log.
    """
    timeout = None
    while True:
        try:
            return ask(timeout)
        except CanvasTokenThrottledError as exc:
            wait = _admitted_after(exc)
            if wait is None or time.monotonic() + wait + MIN_ANSWER_TIME > deadline:
                raise
            logger.info("Canvas throttled %s; again in %.2fs", what, wait)
            time.sleep(wait)
            timeout = deadline - time.monotonic()


def _admitted_after(exc: CanvasTokenThrottledError) -> float | None:
    """Return when Canvas will admit the refused request again, by its figure; None: unknown."""
    if exc.remaining is None:
        return None
    return TOKEN_BUCKET.admitted_after(TOKEN_BUCKET.room(exc.remaining))


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
