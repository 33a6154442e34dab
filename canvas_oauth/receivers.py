"""Deleting a Django user revokes their Canvas tokens at Canvas first (best effort)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from canvas_oauth.models import CanvasOAuth2Token

logger = logging.getLogger(__name__)


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="canvas_oauth_revoke_on_delete")
def revoke_tokens_of_deleted_user(sender, instance, **kwargs) -> None:
    from canvas_oauth.tokens import revoke

    for token in CanvasOAuth2Token.objects.filter(user=instance):
        try:
            revoke(token)
        except Exception:  # never let Canvas, or anything else, block deleting a user
            logger.exception("Could not revoke Canvas token pk=%s of a deleted user", token.pk)
