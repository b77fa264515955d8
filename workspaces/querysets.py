from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

if TYPE_CHECKING:
    from workspaces.models import Workspace

_M = TypeVar("_M", bound=models.Model)


class UnscopedQuery(Exception):
    """A tenant model was queried without naming a workspace (a programming error, not a user's)."""


class WorkspaceQuerySet(models.QuerySet[_M]):
    """Tenant rows fail closed: a query runs only after `.for_workspace(ws)`, or `.unscoped()` where a
    cross-tenant read is the point (a task loading a run by id, a token looked up by its hash).
    Building a queryset is free; reading, counting, updating or deleting through it raises
    `UnscopedQuery` otherwise. Creating rows needs no scope."""

    _scoped = False

    def for_workspace(self, workspace: "Workspace") -> "WorkspaceQuerySet[_M]":
        clone = self.filter(workspace=workspace)
        clone._scoped = True
        return clone

    def unscoped(self) -> "WorkspaceQuerySet[_M]":
        clone = self._clone()
        clone._scoped = True
        return clone

    def _clone(self) -> "WorkspaceQuerySet[_M]":
        clone = super()._clone()  # type: ignore[misc]
        clone._scoped = self._scoped
        return clone

    def _check_scoped(self) -> None:
        # A related manager (`workflow.steps`) reads the rows of one parent that was itself
        # loaded through a scoped query: Django marks those querysets with the parent instance.
        if not self._scoped and "instance" not in self._hints:  # type: ignore[attr-defined]
            raise UnscopedQuery(
                f"{self.model.__name__} was queried without a workspace: use .for_workspace(workspace), "
                "or .unscoped() where reading across workspaces is intended."
            )

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._check_scoped()
        super()._fetch_all()

    def iterator(self, chunk_size: int | None = None) -> Any:
        self._check_scoped()
        return super().iterator(chunk_size)

    def count(self) -> int:
        if self._result_cache is None:
            self._check_scoped()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._check_scoped()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._check_scoped()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._check_scoped()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._check_scoped()
        return super().delete()

    def in_bulk(self, *args: Any, **kwargs: Any) -> dict[Any, _M]:
        self._check_scoped()
        return super().in_bulk(*args, **kwargs)
