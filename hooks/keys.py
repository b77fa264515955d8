"""The random values triggers and endpoints are given: webhook URL tokens and Standard Webhooks
signing secrets (`whsec_` and base64 of 32 random bytes, the format the standardwebhooks package reads)."""

import base64
import hashlib
import secrets

SIGNING_SECRET_PREFIX = "whsec_"


def new_token() -> str:
    """256 random bits, URL-safe: unguessable, so the URL itself is the credential."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are looked up by this hash: an indexed equality on a hash reveals nothing, through
    timing, about how much of a guessed token was right."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_signing_secret() -> str:
    return SIGNING_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
