"""Encryption of stored tokens with Fernet (AES-128-CBC + HMAC-SHA256).

Keys come from ``CANVAS_OAUTH_ENCRYPTION_KEYS`` (the first encrypts, all decrypt) or,
when that is unset, are derived from ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS`` so that
Django's usual key rotation rotates these keys too.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings as django_settings
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import conf
from canvas_oauth.exceptions import EncryptionKeyError

# Stored values carry this marker so that plaintext rows (from the original app or an
# older version) can be told apart from encrypted ones.
PREFIX = "fernet$"
_HKDF_INFO = b"canvas_oauth token encryption v1"
# Values decrypt_cached keeps per process: the access tokens of that many recent users.
RECENT_PLAINTEXTS = 1024


class DecryptionError(Exception):
    """No configured key decrypts the stored value."""


@sensitive_variables()
def _derive(secret: str) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"canvas_oauth", info=_HKDF_INFO).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(key)


def key_material() -> tuple[str | bytes, ...]:
    """Return the configured keys, newest first, as Fernet keys."""
    configured = conf.settings.encryption_keys
    if configured:
        return tuple(configured)
    secrets = [django_settings.SECRET_KEY, *getattr(django_settings, "SECRET_KEY_FALLBACKS", [])]
    return tuple(_derive(s) for s in secrets if s)


def keys_problem(keys: object) -> str | None:
    """Say what is wrong with a ``CANVAS_OAUTH_ENCRYPTION_KEYS`` value, or return None."""
    if keys is None:
        return None
    if not isinstance(keys, (list, tuple)) or not keys:
        return "CANVAS_OAUTH_ENCRYPTION_KEYS must be a non-empty list of Fernet keys."
    for key in keys:
        try:
            Fernet(key)
        except (TypeError, ValueError):
            return "CANVAS_OAUTH_ENCRYPTION_KEYS holds a value that is not a Fernet key."
    return None


@conf.memoized
def _fernet() -> MultiFernet:
    # System checks do not run under a WSGI server: a bad key must still get a clear
    # error, and one that no code mistakes for "this row cannot be decrypted".
    problem = keys_problem(conf.settings.encryption_keys)
    if problem is not None:
        raise EncryptionKeyError()
    return MultiFernet([Fernet(key) for key in key_material()])


def require_usable_keys() -> None:
    """Raise ``EncryptionKeyError`` unless tokens can be encrypted with the configured keys."""
    _fernet()


def is_encrypted(value: str) -> bool:
    """Tell whether a stored value was written by ``encrypt``."""
    return value.startswith(PREFIX)


@sensitive_variables()
def encrypt(plaintext: str) -> str:
    """Encrypt ``plaintext`` with the current key; the result is safe to store as text."""
    return PREFIX + _fernet().encrypt(plaintext.encode()).decode("ascii")


@sensitive_variables()
def decrypt(stored: str) -> str:
    """Return the plaintext of a stored value; plaintext rows are returned unchanged."""
    if not is_encrypted(stored):
        return stored
    fernet = _fernet()
    try:
        return fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError("no configured key decrypts this value") from exc


class _Recent:
    """The plaintexts of the last values decrypted, by the SHA-256 of their ciphertext."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        # Error reports show the variables of every frame: never the values.
        return f"<recent plaintexts: {len(self._values)} of {self._size}>"

    @sensitive_variables()
    def get(self, digest: bytes) -> str | None:
        with self._lock:
            value = self._values.get(digest)
            if value is not None:
                self._values.move_to_end(digest)
            return value

    @sensitive_variables()
    def put(self, digest: bytes, value: str) -> None:
        with self._lock:
            self._values[digest] = value
            if len(self._values) > self._size:
                self._values.popitem(last=False)


@conf.memoized
def _recent() -> _Recent:
    # Memoized as the keys are: a change of CANVAS_OAUTH_ENCRYPTION_KEYS or SECRET_KEY*
    # drops every value, so a value no current key decrypts is never served from memory.
    return _Recent(RECENT_PLAINTEXTS)


@sensitive_variables()
def decrypt_cached(stored: str) -> str:
    """Return ``decrypt(stored)``, from memory when this process decrypted it lately.

    For the hot path: decrypting costs more than the rest of ``get_oauth_token`` around
    its SELECT. The last ``RECENT_PLAINTEXTS`` values are kept in this process's memory
    (nowhere else), keyed by a digest of the ciphertext, until the keys change.
    """
    if not is_encrypted(stored):
        return stored
    recent = _recent()
    digest = hashlib.sha256(stored.encode("ascii", "replace")).digest()
    plaintext = recent.get(digest)
    if plaintext is None:
        plaintext = decrypt(stored)
        recent.put(digest, plaintext)
    return plaintext


@sensitive_variables()
def reencrypt(stored: str) -> str:
    """Return ``stored`` encrypted with the current key (plaintext is encrypted)."""
    if not is_encrypted(stored):
        return encrypt(stored)
    fernet = _fernet()
    try:
        return PREFIX + fernet.rotate(stored[len(PREFIX) :].encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError("no configured key decrypts this value") from exc
