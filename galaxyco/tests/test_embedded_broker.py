"""The embedded broker (`filesystem://`) with a producer and a consumer at once: a message is
seen whole or not at all. kombu's own transport creates the message file, then locks and writes
it; a consumer listing the folder in between read an empty message and the worker stopped with
"Unrecoverable error: JSONDecodeError" (seen in the suite on a busy machine)."""

import threading
import time
from queue import Empty

from kombu import Connection
from kombu.transport import filesystem

PAYLOAD = {"body": "a task"}


def test_a_consumer_never_reads_a_message_still_being_written(tmp_path, monkeypatch):
    # A producer descheduled between creating the message file and writing it, as under load.
    unpaused_lock = filesystem.lock

    def paused_lock(f: object, flags: int) -> None:
        time.sleep(0.3)
        unpaused_lock(f, flags)

    monkeypatch.setattr(filesystem, "lock", paused_lock)
    folders = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    received: list[object] = []
    errors: list[Exception] = []

    with (
        Connection("filesystem://", transport_options=folders) as producing,
        Connection("filesystem://", transport_options=folders) as consuming,
    ):
        reader = consuming.default_channel
        writer = threading.Thread(target=producing.default_channel._put, args=("jobs", PAYLOAD))
        writer.start()
        deadline = time.monotonic() + 5
        while not received and not errors and time.monotonic() < deadline:
            try:
                received.append(reader._get("jobs"))
            except Empty:
                time.sleep(0.01)
            except Exception as error:
                errors.append(error)
        writer.join(5)

    assert errors == []
    assert received == [PAYLOAD]
    assert list(tmp_path.iterdir()) == []  # nothing left half-written
