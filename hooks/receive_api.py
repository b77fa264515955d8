"""POST /hooks/<token>/: the machine endpoint a webhook trigger answers at. No session, no CSRF,
no API key: the unguessable token in the URL (and, when the trigger signs, the signature) is the
credential. Errors keep the API's shape; limits are counted per token, and a body past 256 KB is
refused before it is read (galaxyco.body_limits)."""

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from galaxyco.throttling import _RateThrottle
from hooks.inbound import receive_webhook
from hooks.keys import token_hash


class WebhookTokenThrottle(_RateThrottle):
    """Each webhook URL's own window (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["webhook_trigger"]),
    so one flooded hook slows no other."""

    scope = "webhook_trigger"

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return str(rate) if rate else None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.key_for("token-" + token_hash(str(view.kwargs.get("token", "")))[:32])


@extend_schema(exclude=True)
class WebhookReceiveApi(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [WebhookTokenThrottle]
    # Read raw: a signature covers the body's exact bytes.
    parser_classes: list[Any] = []

    def post(self, request: Request, token: str) -> Response:
        run = receive_webhook(token=token, body=request.body, headers=request.headers)
        url = reverse("api_run_detail", kwargs={"workspace_id": run.workspace_id, "run_id": run.pk})
        return Response(
            {"run": {"id": run.pk, "url": url}}, status=status.HTTP_202_ACCEPTED, headers={"Location": url}
        )
