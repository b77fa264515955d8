import pytest

from hooks.tests.receiver import start_receiver


@pytest.fixture
def receiver(settings):
    """A notification endpoint on 127.0.0.1; loopback allowed, as DEBUG allows it on a developer's machine."""
    settings.NOTIFICATION_ALLOW_PRIVATE_URLS = True
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()
