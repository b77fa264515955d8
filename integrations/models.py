from django.conf import settings
from django.db import models
from django.db.models import Q

from integrations.fields import EncryptedTextField
from workspaces.models import Workspace
from workspaces.querysets import WorkspaceQuerySet


class IntegrationType(models.TextChoices):
    GMAIL = "gmail", "Gmail"
    CALENDAR = "calendar", "Google Calendar"
    SIDEMAIL = "sidemail", "Sidemail"


class IntegrationStatus(models.TextChoices):
    ACTIVE = "active", "Connected"
    REAUTH_REQUIRED = "reauth_required", "Reconnect needed"
    DISCONNECTED = "disconnected", "Disconnected"
    ERROR = "error", "Error"


class Integration(models.Model):
    """An account connected to a workspace for one purpose: a Google account (Gmail or Calendar),
    or the workspace's own Sidemail account (an API key and a from-address).

    Its owner is the member who connected it (`connected_by`). A private account sends only for
    its owner's runs; a shared one for any member's, API key's or trigger's. At most one shared
    account per type is the workspace's default, used by steps that name no account.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="integrations")
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    shared = models.BooleanField(
        default=False, help_text="Shared with the workspace: any member's runs may send from it."
    )
    is_default = models.BooleanField(
        default=False, help_text="The workspace's account of this type for steps that name none."
    )
    provider = models.CharField(max_length=20, default="google")
    type = models.CharField(max_length=20, choices=IntegrationType.choices)
    status = models.CharField(
        max_length=20, choices=IntegrationStatus.choices, default=IntegrationStatus.ACTIVE
    )
    email = models.EmailField()
    display_name = models.CharField(max_length=200, blank=True)
    provider_account_id = models.CharField(max_length=255)
    scopes = models.JSONField(default=list, blank=True, help_text="Scopes Google granted.")
    connected_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_error_code = models.CharField(max_length=50, blank=True)
    last_error_message = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # When (Unix time) this account may next send, so sends keep to the provider's per-account rate.
    paced_until = models.FloatField(null=True, blank=True, editable=False)
    # When (Unix time) the account's next send may go out, counted from the sends that went out:
    # late sends never make up their lateness in a burst (`health.reserve_send_moment`).
    sent_until = models.FloatField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider", "type", "provider_account_id"],
                name="unique_integration_per_account",
            ),
            models.UniqueConstraint(
                fields=["workspace", "type"],
                condition=Q(is_default=True),
                name="one_default_integration_per_type",
            ),
            models.CheckConstraint(
                condition=Q(is_default=False) | Q(shared=True), name="default_integration_is_shared"
            ),
        ]
        indexes = [
            # Also the status endpoint's index: the newest account of a type and status is its
            # first row (integrations.selectors.integration_status).
            models.Index(
                fields=["workspace", "type", "status", "connected_at", "id"], name="integration_status_idx"
            )
        ]
        ordering = ["type", "-connected_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_type_display()} · {self.email}"


class OAuthToken(models.Model):
    """One per integration; token values are encrypted at rest and never leave the server."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, related_name="token")
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField()
    expires_at = models.DateTimeField()
    scope = models.TextField(blank=True)
    # Until when one worker is refreshing this token (outside any transaction); the others wait.
    refresh_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        verbose_name = "OAuth token"
        verbose_name_plural = "OAuth tokens"

    def __str__(self) -> str:
        return f"Token for integration {self.integration_id}"


class SidemailAccount(models.Model):
    """A Sidemail integration's credentials, encrypted at rest like OAuth tokens and never shown
    again: the workspace's API key and the address its emails are sent from."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, related_name="sidemail_account")
    api_key = EncryptedTextField()
    from_address = EncryptedTextField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Sidemail key for integration {self.integration_id}"
