"""Where notifications may go: http(s) URLs whose host is a public address.

Checked when an endpoint is saved (a clear message then) and again on every send, by
requests-hardened: it resolves the host, refuses private, loopback and link-local addresses and
connects to the very address it checked, so a name that later resolves elsewhere (DNS rebinding)
reaches nothing private either. NOTIFICATION_ALLOW_PRIVATE_URLS (DEBUG by default) lifts the
address rule for a developer's machine and the tests.
"""

from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests_hardened import Config, Manager
from requests_hardened.ip_filter import InvalidIPAddress, get_ip_address

from galaxyco.errors import ErrorCode, InvalidInput

USER_AGENT = "GalaxyCo-Webhooks/1.0"


def private_addresses_allowed() -> bool:
    return bool(settings.NOTIFICATION_ALLOW_PRIVATE_URLS)


def check_destination(url: str) -> None:
    """Raise InvalidInput, saying why, unless notifications may be sent to this URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("Enter a URL that starts with http:// or https://.", code=ErrorCode.INVALID_URL)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput(
            "The URL's port is not a number from 1 to 65535.", code=ErrorCode.INVALID_URL
        ) from None
    if private_addresses_allowed():
        return
    try:
        get_ip_address(parts.hostname, port, allow_loopback=False)
    except InvalidIPAddress:
        raise InvalidInput(
            "This URL's host is a private, loopback or link-local address, which notifications are "
            "never sent to. Use a public address.",
            code=ErrorCode.PRIVATE_URL,
        ) from None
    except (OSError, UnicodeError):
        raise InvalidInput(
            f"We could not find the host “{parts.hostname}”. Check the URL's spelling.",
            code=ErrorCode.UNKNOWN_HOST,
        ) from None


def session() -> requests.Session:
    """A session that never follows redirects (a redirect could point anywhere) and, unless
    private addresses are allowed, connects only to public ones."""
    config = Config(
        ip_filter_enable=not private_addresses_allowed(),
        ip_filter_allow_loopback_ips=False,
        never_redirect=True,
        default_timeout=(5.0, float(settings.NOTIFICATION_HTTP_TIMEOUT)),
        user_agent_override=USER_AGENT,
    )
    session: requests.Session = Manager(config).get_session()
    return session
