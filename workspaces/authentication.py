from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from galaxyco import context
from galaxyco.throttling import FailedAuthenticationThrottle
from workspaces.key_cache import recent_keys
from workspaces.models import ApiKey
from workspaces.services import authenticate_api_key, hash_api_key


class ApiKeyUser:
    """The request's user when a workspace API key authenticated it."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None
    id = None

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}…"


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>` with a workspace API key."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        raw_key = self.raw_key(parts)
        key_hash = hash_api_key(raw_key) if raw_key is not None else None
        # A key this process found active moments ago is served without reading the limit's
        # counter (a cache round trip on every request otherwise). That tells a locked-out address
        # nothing: a key is 256 random bits, so only its holder can send one, and what the lock
        # guards, the lookup of keys nobody has shown valid, still waits for the window below.
        api_key = recent_keys.get(key_hash) if key_hash is not None else None
        if api_key is None:
            # Refused keys count per client IP, and once too many were refused no key from there
            # is looked up until the window has room: DRF's throttles run only after this.
            failures = FailedAuthenticationThrottle()
            failures.refuse_if_exhausted(request)
            api_key = self.looked_up(raw_key, key_hash)
            if api_key is None:
                failures.record_failure()
                raise AuthenticationFailed()
        context.bind(api_key_id=api_key.pk)
        return ApiKeyUser(api_key), api_key

    @staticmethod
    def raw_key(parts: list[bytes]) -> str | None:
        if len(parts) != 2:
            return None
        try:
            return parts[1].decode()
        except UnicodeError:
            return None

    @staticmethod
    def looked_up(raw_key: str | None, key_hash: str | None) -> ApiKey | None:
        """The active key from the database (remembered by this process for a few seconds)."""
        if raw_key is None or key_hash is None:
            return None
        api_key = authenticate_api_key(raw_key=raw_key)
        if api_key is not None:
            recent_keys.add(key_hash, api_key)
        return api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
