"""API limits, counted in the shared cache so that they hold across processes.

Three buckets, each a sliding window (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]; an empty
rate turns that limit off):
- `credential`: each API key, and each member's session;
- `anonymous`: each client IP, for requests without credentials;
- `failed_authentication`: each client IP, for credentials that were refused. Once it is
  full, credentials from that IP are not even looked up until the window has room.
"""

import ipaddress
from typing import Any

from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from galaxyco.client_ip import client_ip
from workspaces.models import ApiKey

# One IPv6 client usually holds a whole /64, as allauth assumes for its login limits.
IPV6_PREFIX = 64


class _RateThrottle(SimpleRateThrottle):
    scope: str
    # Set by SimpleRateThrottle.__init__ from the rate (both None when the rate is off).
    num_requests: int
    duration: int

    def get_rate(self) -> str | None:
        # Read per request: DRF's class attribute would freeze the rates at import.
        rate = api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        return str(rate) if rate else None

    def get_ident(self, request: Request) -> str:
        ip = client_ip(request)
        if ":" in ip:
            return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False).network_address)
        return ip

    def wait(self) -> float:
        """Seconds until the window has room, so that a 429 always says when to come back."""
        if len(self.history) < self.num_requests or self.num_requests < 1:
            return float(self.duration)
        oldest_counted: float = self.history[self.num_requests - 1]
        return max(oldest_counted + self.duration - self.now, 1.0)

    def key_for(self, ident: str) -> str:
        return self.cache_format % {"scope": self.scope, "ident": ident}


class CredentialRateThrottle(_RateThrottle):
    scope = "credential"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiKey):
            return self.key_for(f"key-{request.auth.pk}")
        if request.user and request.user.is_authenticated:
            return self.key_for(f"user-{request.user.pk}")
        return None


class AnonymousRateThrottle(_RateThrottle):
    scope = "anonymous"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.key_for(self.get_ident(request))


class FailedAuthenticationThrottle(_RateThrottle):
    """Used by the authentication classes, which run before DRF's throttles."""

    scope = "failed_authentication"

    def refuse_if_exhausted(self, request: Request) -> None:
        """Raises Throttled while this client IP has used up its refused attempts."""
        if self.rate is None:
            return
        self.key = self.key_for(self.get_ident(request))
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            raise Throttled(wait=self.wait())

    def record_failure(self) -> None:
        """Counts one refused attempt; call after `refuse_if_exhausted`."""
        if self.rate is not None:
            self.throttle_success()
