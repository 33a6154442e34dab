"""Encryption of stored tokens with Fernet (AES-128-CBC + HMAC-SHA256).

Keys come from ``CANVAS_OAUTH_ENCRYPTION_KEYS`` (the first encrypts, all decrypt) or,
when that is unset, are derived from ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS`` so that
Django's usual key rotation rotates these keys too.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings as django_settings

from canvas_oauth import conf

# Stored values carry this marker so that plaintext rows (from the original app or an
# older version) can be told apart from encrypted ones.
PREFIX = "fernet$"
_HKDF_INFO = b"canvas_oauth token encryption v1"

__all__ = ["PREFIX", "DecryptionError", "decrypt", "encrypt", "is_encrypted", "reencrypt"]


class DecryptionError(Exception):
    """No configured key decrypts the stored value."""


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


@conf.memoized
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in key_material()])


def is_encrypted(value: str) -> bool:
    """Tell whether a stored value was written by ``encrypt``."""
    return value.startswith(PREFIX)


def encrypt(plaintext: str) -> str:
    """Encrypt ``plaintext`` with the current key; the result is safe to store as text."""
    return PREFIX + _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(stored: str) -> str:
    """Return the plaintext of a stored value; plaintext rows are returned unchanged."""
    if not is_encrypted(stored):
        return stored
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError("no configured key decrypts this value") from exc


def reencrypt(stored: str) -> str:
    """Return ``stored`` encrypted with the current key (plaintext is encrypted)."""
    if not is_encrypted(stored):
        return encrypt(stored)
    try:
        return PREFIX + _fernet().rotate(stored[len(PREFIX) :].encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError("no configured key decrypts this value") from exc
