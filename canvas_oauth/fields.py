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


class _FromDump(str):
    """A stored value read from a serialised dump (``loaddata``): written back as it is.

    Not a ``Ciphertext``, so that ``loaddata``'s raw save, which reads the attribute,
    neither decrypts it (a dump made under other keys must load, and be reported when read
    like any row no key decrypts) nor encrypts it a second time. Until saved, the attribute
    holds the text as the dump has it; rows read back from the database decrypt as usual.
    """


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
        if value is None or isinstance(value, (Ciphertext, _FromDump)):
            return value
        return Ciphertext(crypto.encrypt(value))

    @sensitive_variables()
    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, _FromDump):
            return str(value)
        # A str marked by to_python below is no stored value: only a dump's is.
        value = super().get_prep_value(value)
        if value is None or isinstance(value, Ciphertext):
            # Unchanged since it was loaded: write the same ciphertext back.
            return value if value is None or crypto.is_encrypted(value) else crypto.encrypt(value)
        return crypto.encrypt(value)

    # Serialisation (dumpdata, loaddata, django.core.serializers): a dump holds what the
    # database holds, never a plaintext. Every serializer writes value_to_string and reads
    # back through to_python.

    @sensitive_variables()
    def value_to_string(self, obj: Any) -> str:
        # The stored form when the row was not read yet; a value read (decrypted) or set
        # since, or a plaintext row of an older version, is encrypted on the way out.
        value = obj.__dict__.get(self.attname)
        if value is None:
            value = self.value_from_object(obj)  # deferred: loaded (and decrypted) now
        if isinstance(value, _FromDump) or (
            isinstance(value, Ciphertext) and crypto.is_encrypted(value)
        ):
            return str(value)
        return crypto.encrypt(str(value))

    def to_python(self, value: Any) -> Any:
        # A dump's value that carries the ciphertext marker is the stored form, whether or
        # not a configured key decrypts it (a dump from another key set is kept, and is
        # reported when read). A value without it is a plaintext (a dump of an older
        # version): it is encrypted when saved. Forms and full_clean() go through clean(),
        # which never keeps the mark: a value typed in is always encrypted as typed.
        value = super().to_python(value)
        # Only a plain str: a Ciphertext (get_prep_value passes its value here) stays one.
        if type(value) is str and crypto.is_encrypted(value):
            return _FromDump(value)
        return value

    def clean(self, value: Any, model_instance: Any) -> Any:
        cleaned = super().clean(value, model_instance)
        if isinstance(cleaned, _FromDump) and not isinstance(value, _FromDump):
            return str(cleaned)
        return cleaned
