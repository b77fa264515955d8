"""sidemail.send_email: one Sidemail email per recipient, sent with the workspace's own Sidemail
account (an integration of type `sidemail`: its API key and from-address), never the platform's.

Each recipient's email is recorded (WorkflowEmail) as soon as Sidemail accepts it, so a retried
step sends only to the recipients still without one. Sidemail's errors are classified once, by
`integrations.sidemail.api_client`: retryable ones (429, 5xx, timeouts) become RetryableError, a
refused key ReauthRequired (the account needs a new key, and is marked so), the rest
PermanentError."""

from typing import Any

from rest_framework import serializers

from galaxyco.errors import ErrorCode, IntegrationNotConnected, PermanentError, ReauthRequired, RetryableError
from integrations.health import record_reauth_required
from integrations.models import Integration, IntegrationType, SidemailAccount
from integrations.sidemail.api_client import SidemailClient, SidemailError
from integrations.sidemail.models import WorkflowEmail
from workflows import rendering
from workflows.actions.base import (
    RENDERED,
    Action,
    AddressListField,
    EmailOrPlaceholderField,
    FieldText,
    PlaceholderCharField,
    StepContext,
)

MAX_PROPS_DEPTH = 5


class TemplatePropsField(serializers.DictField):
    """Sidemail's templateProps: a JSON object whose text values may hold placeholders."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        self._check(value, depth=0)
        return value

    def _check(self, value: Any, *, depth: int) -> None:
        if depth > MAX_PROPS_DEPTH:
            raise serializers.ValidationError(f"Template props nest at most {MAX_PROPS_DEPTH} levels deep.")
        if isinstance(value, str) and not self.context.get(RENDERED):
            rendering.validate_placeholders(value)
        elif isinstance(value, list):
            for item in value:
                self._check(item, depth=depth + 1)
        elif isinstance(value, dict):
            for item in value.values():
                self._check(item, depth=depth + 1)


class SidemailSendEmailParams(serializers.Serializer):
    to = AddressListField(child=EmailOrPlaceholderField(), min_length=1, max_length=100)
    template_name = PlaceholderCharField(
        single_line=True, required=False, allow_blank=True, default="", max_length=200
    )
    template_props = TemplatePropsField(required=False, default=dict)
    subject = PlaceholderCharField(
        single_line=True, required=False, allow_blank=True, default="", max_length=998
    )
    text = PlaceholderCharField(required=False, allow_blank=True, default="")
    html = PlaceholderCharField(required=False, allow_blank=True, default="")
    from_address = EmailOrPlaceholderField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Blank: the Sidemail account's from-address. Else an address on the same domain.",
    )
    from_name = PlaceholderCharField(
        single_line=True, required=False, allow_blank=True, default="", max_length=200
    )
    reply_to = EmailOrPlaceholderField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("template_name"):
            if attrs.get("subject") or attrs.get("text") or attrs.get("html"):
                raise serializers.ValidationError(
                    {"template_name": ["Send a template, or a subject with text/HTML, not both."]}
                )
            return attrs
        if attrs.get("template_props"):
            raise serializers.ValidationError({"template_props": ["Template props need a template name."]})
        if not attrs.get("subject"):
            raise serializers.ValidationError({"subject": ["Name a template, or write a subject."]})
        if not attrs.get("text") and not attrs.get("html"):
            raise serializers.ValidationError({"text": ["Write a text body, an HTML body, or both."]})
        return attrs


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


def sender(*, params: dict[str, Any], account_address: str) -> str:
    """The step's from-address: the account's, or another on its (Sidemail-verified) domain."""
    chosen = params.get("from_address") or account_address
    if _domain(chosen) != _domain(account_address):
        raise PermanentError(
            f"This step sends from {chosen}, but its Sidemail account sends from {account_address}: "
            f"use an address at {_domain(account_address)}, or leave the from-address blank.",
            code=ErrorCode.INVALID_PARAMS,
        )
    return chosen


def sidemail_payload(*, to: str, from_address: str, params: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {"toAddress": to, "fromAddress": from_address}
    if params.get("from_name"):
        payload["fromName"] = params["from_name"]
    if params.get("reply_to"):
        payload["replyToAddress"] = params["reply_to"]
    if params.get("template_name"):
        payload["templateName"] = params["template_name"]
        payload["templateProps"] = params.get("template_props") or {}
        return payload
    payload["subject"] = params["subject"]
    for field in ("text", "html"):
        if params.get(field):
            payload[field] = params[field]
    return payload


def step_error(error: SidemailError, *, account_address: str) -> PermanentError | RetryableError:
    if error.retryable:
        return RetryableError(
            f"Sidemail is busy or unavailable right now ({error.message}) We will try again shortly.",
            code=ErrorCode.PROVIDER_UNAVAILABLE,
            retry_after=error.retry_after,
        )
    if error.code == "authentication-failed":
        return ReauthRequired(
            f"Sidemail refused the API key of the account that sends from {account_address}. "
            "Connect Sidemail again with a valid key on the Integrations page."
        )
    return PermanentError(f"Sidemail refused the email: {error.message}", code=ErrorCode.PROVIDER_REJECTED)


class SidemailSendEmail(Action):
    type = "sidemail.send_email"
    label = "Send an email through Sidemail"
    field_text = {
        "to": FieldText(
            label="To",
            help="Separate addresses with commas.",
            placeholder="ada@example.com, {{ input.email }}",
        ),
        "text": FieldText(label="Text body", help="Plain text. Write a text body, an HTML body, or both."),
        "html": FieldText(label="HTML body", help="Placeholders in HTML are escaped."),
        "reply_to": FieldText(label="Reply-To"),
        "from_name": FieldText(
            label="Sender name", help="Shown as the sender's name; the address is the connected mailbox."
        ),
    }
    integration_type = IntegrationType.SIDEMAIL
    params_serializer = SidemailSendEmailParams
    html_params = frozenset({"html"})
    address_params = frozenset({"to", "reply_to", "from_address"})
    output_fields = frozenset({"emails", "from"})

    def run(
        self, *, params: dict[str, Any], integration: Integration | None, step: StepContext
    ) -> dict[str, Any]:
        # The account of an integration the run's workspace was already checked to own.
        account = (
            SidemailAccount.objects.unscoped().filter(integration=integration).first()
            if integration is not None
            else None
        )
        if integration is None or account is None:
            raise IntegrationNotConnected(
                "No connected Sidemail account was found for this step. Connect one on the Integrations page."
            )
        from_address = sender(params=params, account_address=account.from_address)
        client = SidemailClient(api_key=account.api_key)
        recorded = {
            email.to_address: email
            for email in WorkflowEmail.objects.filter(run_id=step.run_id, position=step.position)
        }
        emails = []
        for to in params["to"]:
            email = recorded.get(to)
            if email is None:
                try:
                    sent = client.send_email(
                        sidemail_payload(to=to, from_address=from_address, params=params)
                    )
                except SidemailError as error:
                    failure = step_error(error, account_address=account.from_address)
                    if isinstance(failure, ReauthRequired):
                        record_reauth_required(
                            integration_id=integration.pk,
                            error=failure,
                            credentials_generation=account.updated_at,
                        )
                    raise failure from error
                email, _ = WorkflowEmail.objects.get_or_create(
                    run_id=step.run_id,
                    position=step.position,
                    to_address=to,
                    defaults={
                        "workspace_id": step.workspace_id,
                        "sidemail_id": sent.id,
                        "status": sent.status,
                    },
                )
                recorded[to] = email
            emails.append({"to": to, "id": email.sidemail_id, "status": email.status})
        return {"emails": emails, "from": from_address}
