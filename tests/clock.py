"""A frozen clock for tests: the `freeze_time` fixture (conftest.py) puts it in place of timezone.now."""

from datetime import datetime


class FrozenClock:
    """timezone.now, frozen at `now` until a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now
