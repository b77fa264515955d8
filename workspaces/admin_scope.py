"""Admin reads across workspaces on purpose: it is the operators' view of every tenant."""

from typing import Any

from django.contrib.admin.options import BaseModelAdmin
from django.db.models import Field, QuerySet
from django.http import HttpRequest

from workspaces.querysets import WorkspaceQuerySet


def _across_workspaces(queryset: QuerySet[Any]) -> QuerySet[Any]:
    return queryset.unscoped() if isinstance(queryset, WorkspaceQuerySet) else queryset


class AcrossWorkspaces(BaseModelAdmin):
    """For every ModelAdmin and inline of a tenant model, and of models pointing at one."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return _across_workspaces(super().get_queryset(request))

    def formfield_for_foreignkey(
        self, db_field: "Field[Any, Any]", request: HttpRequest, **kwargs: Any
    ) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[arg-type]
        queryset = getattr(field, "queryset", None)
        if field is not None and queryset is not None:
            field.queryset = _across_workspaces(queryset)
        return field
