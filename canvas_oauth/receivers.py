"""Deleting a Django user revokes their Canvas tokens at Canvas, after the delete commits."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from canvas_oauth import conf, tokens
from canvas_oauth.models import CanvasOAuth2Token

logger = logging.getLogger(__name__)


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="canvas_oauth_revoke_on_delete")
def revoke_tokens_of_deleted_user(sender: Any, instance: Any, using: str, **kwargs: Any) -> None:
    # The cascade deletes the rows; read them now, and call Canvas only once the delete
    # has committed, so that Canvas never slows it down or sees a delete that rolls back.
    if not conf.settings.revoke_on_user_delete:
        return
    try:
        # In a savepoint: a failed read must not abort the delete's transaction (PostgreSQL).
        with transaction.atomic(using=using):
            rows = list(CanvasOAuth2Token.objects.using(using).filter(user=instance))
    except DatabaseError as exc:
        # Revoking is a courtesy to Canvas; the delete goes on. A table still on another
        # schema (MIGRATION_MODULES holding 1.x migrations) lands here: check W010.
        logger.error(
            "Could not read the Canvas tokens of deleted user %s (%s), so they are not "
            "revoked at Canvas; run `manage.py check` and `manage.py canvas_oauth_doctor`",
            instance.pk,
            type(exc).__name__,
        )
        return
    for token in rows:
        tokens.revoke_after_commit(token, using)
