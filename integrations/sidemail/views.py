"""``POST /webhooks/sidemail/``: Sidemail's delivery events, on Anymail's webhook view."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from anymail.signals import AnymailTrackingEvent, EventType, tracking
from anymail.webhooks.base import AnymailCoreWebhookView
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.utils.dateparse import parse_datetime

from integrations.sidemail import services

logger = logging.getLogger(__name__)

SECRET_HEADER = "sidemail-secret"
_ANYMAIL_EVENT = {
    "email.delivered": EventType.DELIVERED,
    "email.open": EventType.OPENED,
    "email.bounce": EventType.BOUNCED,
    "email.complaint": EventType.COMPLAINED,
}


def _refusal(status: int, message: str) -> JsonResponse:
    return JsonResponse({"success": False, "error": {"message": message}}, status=status)


def _timestamp(value: Any) -> datetime | None:
    """The event's time when it is a date and time; a malformed one is no reason to refuse it."""
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


class SidemailTrackingWebhookView(AnymailCoreWebhookView):
    """Sidemail sends a shared secret in a header (no signature, no timestamp): it is compared in
    constant time, and a repeated event is recognised by (email id, type) in the database.

    Answers 401 to a wrong or missing secret, 400 to a body that is not an event, 200 to an
    event (new or repeated; a type we do not act on is acknowledged and dropped), 503 when the database is unavailable (Sidemail tries again later).
    Each new event goes out on Anymail's ``tracking`` signal."""

    esp_name = "Sidemail"
    signal = tracking

    def validate_request(self, request: HttpRequest) -> None:
        # Checked in post() so a refusal answers 401; Anymail's validators answer 400.
        pass

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        expected = settings.SIDEMAIL_WEBHOOK_SECRET
        given = request.headers.get(SECRET_HEADER, "")
        if not expected or not constant_time_compare(given, expected):
            logger.warning(
                "Sidemail webhook refused: wrong or missing secret",
                extra={"event": "sidemail_webhook_refused"},
            )
            return _refusal(401, "The sidemail-secret header is missing or wrong.")
        try:
            event = services.parse_webhook_event(json.loads(request.body))
        except (ValueError, UnicodeDecodeError) as error:
            message = (
                str(error) if isinstance(error, services.InvalidWebhookEvent) else "The body is not JSON."
            )
            return _refusal(400, message)
        if event is None:
            # Any answer but 200 makes Sidemail send the event again.
            logger.info("Sidemail webhook event ignored", extra={"event": "sidemail_webhook_ignored"})
            return JsonResponse({"success": True, "ignored": True})
        try:
            new = services.apply_webhook_event(event=event)
        except DatabaseError:
            logger.exception("Sidemail webhook not recorded", extra={"event": "sidemail_webhook_failed"})
            return _refusal(503, "The event could not be recorded now; send it again later.")
        if new:
            self._announce(event)
        return JsonResponse({"success": True, "duplicate": not new})

    def _announce(self, event: services.WebhookEventData) -> None:
        data = event.payload["data"]  # parse_webhook_event found the email there
        email = data["email"]
        tracking_event = AnymailTrackingEvent(
            event_type=_ANYMAIL_EVENT[event.event_type],
            timestamp=_timestamp(data.get("time")),
            message_id=event.sidemail_id,
            recipient=email.get("toAddress"),
            esp_event=event.payload,
        )
        for _receiver, result in self.signal.send_robust(
            sender=self.__class__, event=tracking_event, esp_name=self.esp_name
        ):
            if isinstance(result, Exception):
                logger.error(
                    "A tracking receiver failed",
                    exc_info=result,
                    extra={"event": "sidemail_tracking_receiver_failed"},
                )
