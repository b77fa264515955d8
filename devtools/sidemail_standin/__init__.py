"""A local stand-in for Sidemail's API (development and tests).

Usage: ``with SidemailStandin() as standin:`` point the app's ``SIDEMAIL_API_URL`` at
``standin.api_url``, drive it, then read ``standin.state`` (emails, contacts) or steer it
(faults, keys, webhooks); from another process, ``StandinClient(url)`` does the same over HTTP.
"""

from .client import StandinClient, StandinError
from .server import SidemailStandin
from .state import DEFAULT_API_KEY, FAULT_ENDPOINTS, StandinState

__all__ = [
    "DEFAULT_API_KEY",
    "FAULT_ENDPOINTS",
    "SidemailStandin",
    "StandinClient",
    "StandinError",
    "StandinState",
]
