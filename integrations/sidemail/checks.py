"""With DEBUG off and a Sidemail key set, start-up needs the webhook secret and a from-address."""

from typing import Any

from anymail.exceptions import AnymailInvalidAddress
from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility)
def sidemail_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG or not settings.SIDEMAIL_API_KEY:
        return []
    from integrations.sidemail.backend import address_parts

    errors: list[checks.CheckMessage] = []
    if not settings.SIDEMAIL_WEBHOOK_SECRET:
        errors.append(
            checks.Error(
                "SIDEMAIL_WEBHOOK_SECRET is not set: Sidemail's delivery webhooks would be refused.",
                hint="Set it to the secret shown in Sidemail's webhook settings.",
                id="sidemail.E001",
            )
        )
    try:
        _, address = address_parts(settings.DEFAULT_FROM_EMAIL or "")
    except AnymailInvalidAddress:
        address = ""
    if not address:
        errors.append(
            checks.Error(
                "DEFAULT_FROM_EMAIL has no from-address: Sidemail needs one on a verified domain.",
                hint='Set it, e.g. "GalaxyCo <noreply@galaxyco.example>".',
                id="sidemail.E002",
            )
        )
    return errors
