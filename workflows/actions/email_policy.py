"""The email package's policies as a Gmail step writes (SMTP) and reads back (default) a message,
with a header registry that makes each header class once.

`HeaderRegistry.__getitem__` builds a new class with type() for every header it parses or sets:
four for a plain message read back, each a reference cycle left to the garbage collector. The
class depends only on the kind of header, so one per kind is kept (the registry's kinds and its
default: a bounded set whatever names a message carries)."""

from email.headerregistry import BaseHeader, HeaderRegistry
from email.policy import SMTP, default


class ReusedHeaderClasses(HeaderRegistry):
    def __init__(self) -> None:
        super().__init__()
        self._made: dict[type, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._made.get(kind)
        if made is None:
            # Two threads may both make it: either class serves.
            made = self._made[kind] = super().__getitem__(name)
        return made


WRITING = SMTP.clone(header_factory=ReusedHeaderClasses())
READING = default.clone(header_factory=ReusedHeaderClasses())
