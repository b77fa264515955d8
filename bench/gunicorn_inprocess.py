"""gunicorn settings for the bench's `inprocess` mode: each worker runs Celery tasks eagerly, so an
execute request runs its run inside the request (no broker), as the issue's baseline measured."""

from typing import Any


def post_worker_init(worker: Any) -> None:
    from devtools.celery_broker import use_broker

    use_broker(task_always_eager=True)
