"""A text field whose value is encrypted in the database and decrypted on first read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import crypto

if TYPE_CHECKING:
    # Django's fields are generic only in django-stubs (their value types); not at run time.
    _TextField = models.TextField[str, str]
else:
    _TextField = models.TextField


class Ciphertext(str):
    """A value as stored: still encrypted, decrypted only when the attribute is read."""


class _DecryptingAttribute(DeferredAttribute):
    # Decrypting lazily keeps the hot path cheap: get_oauth_token reads the access token
    # but never the refresh token.
    def __get__(self, instance: Any, cls: Any = None) -> Any:
        value = super().__get__(instance, cls)
        if instance is None or not isinstance(value, Ciphertext):
            return value
        cached = getattr(self.field, "cache_decrypted", False)
        decrypt = crypto.decrypt_cached if cached else crypto.decrypt
        # Kept in no variable of this frame, which a report of a crash could list.
        instance.__dict__[self.field.attname] = decrypt(value)
        return instance.__dict__[self.field.attname]

    def __set__(self, instance: Any, value: Any) -> None:
        # Being a data descriptor is what makes __get__ run although the value sits in
        # the instance's __dict__.
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(_TextField):
    """Store text encrypted with ``canvas_oauth.crypto``; read it back as plaintext.

    Values written by older versions in plaintext are read as they are and encrypted
    the next time the row is saved.
    """

    descriptor_class = _DecryptingAttribute

    def __init__(self, *args: Any, cache_decrypted: bool = False, **kwargs: Any) -> None:
        # cache_decrypted: keep the plaintexts of recent reads in this process's memory
        # (crypto.decrypt_cached). Not in deconstruct(): the column is the same either way.
        self.cache_decrypted = cache_decrypted
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return value
        return Ciphertext(value)

    @sensitive_variables()
    def pre_save(self, model_instance: Any, add: bool) -> Any:
        # Read the stored form, so that saving a row whose token was never read writes
        # the same ciphertext back instead of decrypting and encrypting it again. A new
        # value is encrypted here rather than later: Django's save() keeps what this
        # returns in its frames, which an error report of a crash would show.
        value = model_instance.__dict__.get(self.attname)
        if value is None or isinstance(value, Ciphertext):
            return value
        return Ciphertext(crypto.encrypt(value))

    @sensitive_variables()
    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or isinstance(value, Ciphertext):
            # Unchanged since it was loaded: write the same ciphertext back.
            return value if value is None or crypto.is_encrypted(value) else crypto.encrypt(value)
        return crypto.encrypt(value)
