"""Deleting a Django user revokes their Canvas tokens at Canvas, after the delete commits."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from canvas_oauth import conf, tokens
from canvas_oauth.models import CanvasOAuth2Token


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="canvas_oauth_revoke_on_delete")
def revoke_tokens_of_deleted_user(sender: Any, instance: Any, using: str, **kwargs: Any) -> None:
    # The cascade deletes the rows; read them now, and call Canvas only once the delete
    # has committed, so that Canvas never slows it down or sees a delete that rolls back.
    if not conf.settings.revoke_on_user_delete:
        return
    for token in CanvasOAuth2Token.objects.using(using).filter(user=instance):
        tokens.revoke_after_commit(token, using)
