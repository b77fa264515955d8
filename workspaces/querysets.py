from typing import TYPE_CHECKING, TypeVar

from django.db import models

if TYPE_CHECKING:
    from workspaces.models import Workspace

_M = TypeVar("_M", bound=models.Model)


class WorkspaceQuerySet(models.QuerySet[_M]):
    """Tenant-owned rows are read only through `.for_workspace(...)`."""

    def for_workspace(self, workspace: "Workspace") -> "WorkspaceQuerySet[_M]":
        return self.filter(workspace=workspace)
