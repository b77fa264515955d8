"""Token encryption at rest: MultiFernet over TOKEN_ENCRYPTION_KEYS (first encrypts, all decrypt)."""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "TOKEN_ENCRYPTION_KEYS is empty: set it to one or more Fernet keys (see README, Configuration)."
        )
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "TOKEN_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes, as Fernet.generate_key() makes)."
        ) from None


def _current() -> MultiFernet:
    return _multifernet(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _current().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored token cannot be decrypted with TOKEN_ENCRYPTION_KEYS: "
            "a key that encrypted it was removed before `rotate_token_keys` ran."
        ) from None


def rotate(ciphertext: str) -> str:
    """Re-encrypt under the first key."""
    return _current().rotate(ciphertext.encode()).decode()
