"""The token service: a usable token for (user, Canvas domain), with no request needed.

Use it from views (through ``canvas_oauth.oauth``), Celery tasks, management commands or
cron jobs. It refreshes a token at most once however many callers ask at the same time,
deletes tokens Canvas will never accept again, and keeps tokens a passing failure
could not refresh.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from enum import Enum
from typing import Any, TypeAlias
from urllib.parse import urlencode

from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import claims, conf, crypto, instances, refresher, undecryptable
from canvas_oauth.canvas import TokenGrant, is_dead_refresh_token
from canvas_oauth.exceptions import CanvasOAuthError, CanvasRequestError, MissingTokenError
from canvas_oauth.models import CanvasOAuth2Token
from canvas_oauth.signals import token_obtained, token_revoked

__all__ = ["get_token", "get_token_for_user", "invalidate_token", "refresh", "revoke_token"]

logger = logging.getLogger(__name__)

# An instance of the project's AUTH_USER_MODEL: its class is the project's, and the
# token's foreign key accepts only that class, so no one class of Django's fits here.
AnyUser: TypeAlias = Any


def get_token(user: AnyUser, domain: str | None = None) -> CanvasOAuth2Token:
    """Return ``user``'s token for ``domain`` with an access token that is usable now.

    Raise ``MissingTokenError`` when the user must authorize (again), and
    ``TokenRefreshError`` when Canvas could not refresh it this time.
    """
    token = stored_token(user, domain)
    if token.expires_within(conf.settings.token_expiration_buffer):
        token = refresh(token)
    return token


def stored_token(user: AnyUser, domain: str | None = None) -> CanvasOAuth2Token:
    """Return ``user``'s token for ``domain`` as stored, expiring or not.

    Raise ``MissingTokenError`` when there is none, or none that decrypts and covers the
    scopes asked for now.
    """
    token = CanvasOAuth2Token.objects.get_for_user(user.pk, instances.domain_for(domain))
    if token is None or not _usable(token):
        raise MissingTokenError()
    return token


def get_token_for_user(user: AnyUser, domain: str | None = None) -> str:
    """Return a usable access token for ``user``, for code that runs outside a request.

    Celery tasks, management commands and cron jobs call this. When the user must
    authorize (again), the ``MissingTokenError`` carries ``authorize_url``: the path on
    this site to send them to (prefix your site's origin in an e-mail).
    """
    key = instances.domain_for(domain)
    try:
        return get_token(user, key).access_token
    except MissingTokenError as exc:
        add_authorize_url(exc, key)
        raise


def authorize_path(domain: str) -> str:
    """Return the path on this site that starts the dance for ``domain`` (stored form)."""
    return f"{reverse('canvas-oauth-authorize')}?{urlencode({'domain': domain})}"


def add_authorize_url(error: MissingTokenError, domain: str) -> MissingTokenError:
    """Set ``error.authorize_url`` to ``authorize_path(domain)``, and return ``error``.

    For code outside a request, where no middleware sends the user to Canvas: the caller
    passes the path on (prefixed with the site's origin in an e-mail, say).
    """
    error.authorize_url = authorize_path(domain)
    return error


def _usable(token: CanvasOAuth2Token) -> bool:
    """Tell whether the token can be decrypted and covers the scopes asked for now."""
    try:
        token.access_token  # noqa: B018 -- decrypts, or fails to
    except crypto.DecryptionError:
        undecryptable.report(token)
        return False
    granted = token.scope_list
    if granted is None:
        return True  # made by hand or imported: nothing says what was granted
    missing = set(instances.get(token.domain).scopes) - set(granted)
    if missing:
        logger.info("Canvas token pk=%s lacks scopes now required; asking the user again", token.pk)
        return False
    return True


def refresh(token: CanvasOAuth2Token, *, force: bool = False) -> CanvasOAuth2Token:
    """Refresh ``token`` unless someone else just did, and return the token to use.

    The public way to refresh (the reference documents it): ``refresher``, which does the
    work (one refresh per token, the claim, the breaker), is internal and may change.
    """
    return refresher.refresh(token, force=force)


def save_grant(
    user: AnyUser, domain: str, grant: TokenGrant, scopes: Iterable[str]
) -> CanvasOAuth2Token:
    """Store the tokens of a finished dance, replacing any token the user had there."""
    domain = instances.domain_for(domain)
    for attempt in range(2):
        existing = CanvasOAuth2Token.objects.filter(user=user, domain=domain).first()
        token = existing or CanvasOAuth2Token(user=user, domain=domain, refresh_token="")
        replaced = None
        moved = grant.user is not None and token.canvas_user_id not in (None, grant.user.id)
        if existing is not None and moved:
            logger.warning(
                "User %s authorized as a different Canvas user on %s; replacing the token "
                "and revoking the old one",
                user.pk,
                domain,
            )
            replaced = copy.copy(token)  # the row as it was, for revoking after the save
            token.refresh_token = ""
        token.apply_grant(grant, timezone.now())
        claims.supersede(token)  # a refresh in flight must not overwrite the new token
        token.scopes = " ".join(scopes)
        try:
            with transaction.atomic():
                token.save()
                if replaced is not None:
                    revoke_after_commit(replaced, token._state.db or DEFAULT_DB_ALIAS)
        except IntegrityError:
            if attempt:
                raise
            continue  # another request created the row at the same moment: update it
        break
    logger.info("Stored a Canvas token for user %s on %s", user.pk, domain)
    token_obtained.send(sender=CanvasOAuth2Token, user=user, domain=domain)
    return token


class Revocation(Enum):
    """What asking Canvas to revoke a token came to (``revoke``)."""

    REVOKED = "revoked"  # Canvas confirmed, or no longer knew the token
    DEAD = "dead"  # Canvas refused its refresh token for good: the token is unusable anyway
    NOT_REVOKED = "not_revoked"  # Canvas could not be told (logged): the token may still work

    def __bool__(self) -> bool:
        # True only when Canvas confirmed, as the bool ``revoke`` returned before.
        return self is Revocation.REVOKED


def revoke_token(user: AnyUser, domain: str | None = None) -> bool:
    """Revoke ``user``'s token at Canvas and delete it here.

    Return True when Canvas confirmed, False when it could not be told (the row is
    deleted all the same, and the failure logged), or when there was no token.
    """
    domain = instances.domain_for(domain)
    token = CanvasOAuth2Token.objects.filter(user=user, domain=domain).first()
    if token is None:
        return False
    return revoke(token) is Revocation.REVOKED


def revoke(token: CanvasOAuth2Token, *, delete: bool = True) -> Revocation:
    """Ask Canvas to revoke ``token``; then delete its row and send ``token_revoked``.

    With ``delete=False`` the row is left alone (the caller deletes it, or already has).
    Failures at Canvas are logged and told by the outcome, never raised; the row is
    deleted whatever Canvas said.
    """
    outcome = _tell_canvas(token)
    if delete:
        user, domain = token.user, token.domain
        token.delete()
        logger.info("Deleted Canvas token of user %s on %s", user.pk, domain)
        token_revoked.send(sender=CanvasOAuth2Token, user=user, domain=domain)
    return outcome


def revoke_after_commit(token: CanvasOAuth2Token, using: str) -> None:
    """``revoke(token, delete=False)`` once the transaction on ``using`` commits.

    Nothing is revoked if it rolls back. Until then the instance, its values still
    encrypted as read, waits in memory (leave it unchanged): its row may be replaced or
    deleted meanwhile.
    """
    transaction.on_commit(lambda: revoke(token, delete=False), using=using, robust=True)


@sensitive_variables()
def _tell_canvas(token: CanvasOAuth2Token) -> Revocation:
    try:
        access_token = token.access_token
        client = instances.get(token.domain).client()
        if token.is_expired and token.refresh_token:
            # Canvas authenticates DELETE with the access token; an expired one is refused.
            access_token = client.refresh(token.refresh_token).access_token
        client.revoke(access_token)
        return Revocation.REVOKED
    except crypto.DecryptionError:
        logger.error("Canvas token pk=%s cannot be decrypted, so not revoked at Canvas", token.pk)
    except CanvasOAuthError as exc:
        if isinstance(exc, CanvasRequestError) and is_dead_refresh_token(exc):
            logger.info("Canvas token pk=%s is dead at Canvas: nothing left to revoke", token.pk)
            return Revocation.DEAD
        logger.warning(
            "Could not revoke Canvas token pk=%s (user %s) at Canvas: %s",
            token.pk,
            token.user_id,
            exc.code,
        )
    return Revocation.NOT_REVOKED


def invalidate_token(
    user: AnyUser, domain: str | None = None, *, rejected: CanvasOAuth2Token | None = None
) -> None:
    """Forget ``user``'s token after Canvas rejected it (401 with WWW-Authenticate).

    With ``rejected``, the token as read when it was sent, the row is deleted only while it
    still holds that token: one refreshed or authorized again since is kept.
    """
    domain = instances.domain_for(domain)
    rows = CanvasOAuth2Token.objects.filter(user=user, domain=domain)
    if rejected is not None:
        # The access token is stored encrypted (no two ciphertexts alike), but every new
        # token, refreshed or authorized, comes with a new expiry.
        rows = rows.filter(pk=rejected.pk, expires=rejected.expires)
    deleted, _ = rows.delete()
    if deleted:
        logger.info("Canvas rejected the token of user %s on %s; deleted it", user.pk, domain)
