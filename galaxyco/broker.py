"""The embedded broker (`filesystem://`, `make run`): kombu's filesystem transport, with each
message written under a name no consumer takes and renamed into the queue once whole.

kombu's own `_put` creates the message file, then locks and writes it; a worker that lists the
folder in between takes the empty file, fails to decode it and stops ("Unrecoverable error:
JSONDecodeError"). A rename in the same folder is atomic: a consumer sees the whole message or
none. Registered for `filesystem://` when galaxyco.celery is imported.
"""

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # kombu types this (queue, message) in one base and (queue, payload, **kwargs) in the other.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # kombu's naming (time first, so the folder sorts in order; the queue before ".msg").
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot: kombu's `_get` takes only names whose part after the first dot is
        # "<queue>.msg", which this one's is not.
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as f:
                f.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


def register() -> None:
    TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
