"""Query parameters, declared once: the same serializer describes them in the OpenAPI schema and
checks them at run time. List it in `extend_schema(parameters=[...])` and read it with `read`.
"""

from typing import Any

from django.http import HttpRequest
from rest_framework import pagination, serializers
from rest_framework.request import Request

# Ids are 64-bit signed integers in both databases; a larger one can name nothing.
MAX_ID = 2**63 - 1


class QueryParameters(serializers.Serializer):
    """The query parameters an operation accepts; `read` refuses any other shape."""

    @classmethod
    def read(cls, request: Request | HttpRequest) -> dict[str, Any]:
        """The API's request, or a page's: pages filter with the same parameters and checks."""
        query = request.query_params if isinstance(request, Request) else request.GET
        # No parameter of this API is a list: a repeated one is a mistake, not a choice between values.
        repeated = sorted(name for name, values in query.lists() if len(values) > 1)
        if repeated:
            raise serializers.ValidationError({name: ["Give this parameter once."] for name in repeated})
        declared = cls._declared_fields  # the names, without building the fields twice
        serializer = cls(data={name: value for name, value in query.items() if name in declared})
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class PageParameters(QueryParameters):
    page = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="A page number, from 1."
    )


class PageNumberPagination(pagination.PageNumberPagination):
    """Page numbers are checked like any query parameter: an integer from 1, given once."""

    last_page_strings = ()

    def get_page_number(self, request: Request, paginator: Any) -> int:
        return int(PageParameters.read(request).get("page", 1))

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        return parameters
