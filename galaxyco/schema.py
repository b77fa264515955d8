"""The API contract as the code keeps it: the OpenAPI schema documents the one error shape on every
operation and the bounds of ids in paths (query parameters: galaxyco.query).
"""

import inspect
from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from galaxyco.errors import ErrorCode
from galaxyco.query import MAX_ID

# The client errors any operation may answer, each with the error shape (galaxyco.errors.error_payload).
ERROR_STATUSES = {
    "400": "The request is not valid: see `error.fields` for what to change.",
    "401": "No valid API key or session was sent.",
    "403": "The credential may not do this.",
    "404": "Nothing with that id exists here, or the credential may not see it.",
    "409": "The request conflicts with the current state, e.g. an account that needs reconnecting.",
    "413": "The request body is too large.",
    "415": "The request body is not JSON.",
    "429": "Too many requests: wait for `Retry-After` seconds.",
}


class ErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=[(code.value, code.name) for code in ErrorCode],
        help_text="A stable, machine-readable code such as `invalid` or `not_found`.",
    )
    message = serializers.CharField(help_text="A sentence a person can act on.")
    request_id = serializers.CharField(allow_null=True, help_text="Quote it when you contact support.")
    # DRF takes declared fields off the class, so this does not hide Serializer.fields.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="For `invalid`: the messages for each field that was not accepted."
    )


class ErrorResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always false.")
    error = ErrorSerializer()


class AutoSchema(SpectacularAutoSchema):
    """Adds the error responses to every operation, so no view needs to list them, and bounds
    integer ids in paths as the URL patterns and the database do."""

    def get_description(self) -> str:  # type: ignore[override]
        # Only the view's own docstring describes the operation; its base classes' are notes for us.
        own_doc = type(self.view).__dict__.get("__doc__") or ""
        return inspect.cleandoc(own_doc)

    def _map_serializer_field(self, field: Any, direction: Any, bypass_extensions: bool = False) -> Any:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # drf-spectacular leaves out the item limits of nested lists (a workflow's steps).
        if isinstance(field, serializers.ListSerializer) and schema:
            # getattr: the DRF stubs predate ListSerializer's min_length and max_length.
            for keyword, limit in (("minItems", "min_length"), ("maxItems", "max_length")):
                if (value := getattr(field, limit, None)) is not None:
                    schema[keyword] = value
        return schema

    def _resolve_path_parameters(self, variables: list[str]) -> list[dict[str, Any]]:
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["schema"].get("type") == "integer":
                parameter["schema"].update({"minimum": 0, "maximum": MAX_ID})
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        bodies = super()._get_response_bodies(direction)
        for status, description in ERROR_STATUSES.items():
            if status not in bodies:
                bodies[status] = self._get_response_for_code(
                    OpenApiResponse(ErrorResponseSerializer, description=description),
                    status,
                    direction=direction,
                )
        return bodies
