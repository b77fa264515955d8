"""A local stand-in for Google's OAuth, Gmail and Calendar endpoints (development and tests).

Usage: ``with GoogleEmulator() as emu:`` point the app at ``emu.url``, drive it,
then inspect ``emu.state`` (messages, events, stats) or steer it (faults, consent);
from another process, ``EmulatorClient(url)`` does the same over the control API.
"""

from .client import EmulatorClient, EmulatorError
from .server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, GoogleEmulator
from .state import FAULT_ENDPOINTS, EmulatorState

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "FAULT_ENDPOINTS",
    "EmulatorClient",
    "EmulatorError",
    "EmulatorState",
    "GoogleEmulator",
]
