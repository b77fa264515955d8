import gc
import importlib
from collections.abc import Iterator

import pytest

from galaxyco import collector


class Loaded:
    pass


@pytest.fixture
def collector_as_before() -> Iterator[None]:
    """The test process's collector is left as it was: nothing frozen, CPython's thresholds."""
    threshold = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_serving_freezes_what_is_loaded_and_collects_less_often(collector_as_before: None) -> None:
    loaded = Loaded()  # tracked by the collector, as the app's own objects are

    collector.tune_for_serving()

    assert gc.get_threshold() == (
        collector.YOUNGEST_GENERATION,
        collector.MIDDLE_GENERATION,
        collector.OLDEST_GENERATION,
    )
    assert gc.get_freeze_count() > 0
    assert not any(loaded is tracked for generation in range(3) for tracked in gc.get_objects(generation))


def test_the_web_app_is_served_with_the_tuned_collector(collector_as_before: None) -> None:
    import galaxyco.wsgi

    importlib.reload(galaxyco.wsgi)

    assert gc.get_threshold()[0] == collector.YOUNGEST_GENERATION
    assert gc.get_freeze_count() > 0


def test_a_ready_worker_runs_with_the_tuned_collector(collector_as_before: None) -> None:
    from celery.signals import worker_ready

    worker_ready.send(sender=None)

    assert gc.get_threshold()[0] == collector.YOUNGEST_GENERATION
    assert gc.get_freeze_count() > 0
