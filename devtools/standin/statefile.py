"""Versioned JSON state files, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def write_atomically(path: Path, document: Any) -> None:
    """Write ``document`` as JSON to ``path``: a temporary file beside it, then os.replace, so a
    reader (or a crash) sees the old file or the new one, never half of one."""
    text = json.dumps(document, indent=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as temporary:
        try:
            temporary.write(text)
            temporary.flush()
            os.fsync(temporary.fileno())
        except BaseException:
            os.unlink(temporary.name)
            raise
    os.replace(temporary.name, path)


@contextmanager
def reading_state_file(path: Path, *, version: int, kind: str, empty: str) -> Iterator[dict[str, Any]]:
    """The document of the state file at ``path``. Any error reading it, or reading values from it
    inside the ``with`` block, becomes a ValueError saying it is not a ``kind`` state file of
    ``version`` and that moving it away starts with ``empty``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("version") != version:
            raise ValueError(f"version {document.get('version')!r}, expected {version}")
        yield document
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"{path} is not a {kind} state file this version can read ({exc}); "
            f"move it away to start with {empty}."
        ) from exc
