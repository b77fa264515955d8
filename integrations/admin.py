from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from galaxyco.errors import AppError
from integrations import services
from integrations.google.credentials import refresh_credentials
from integrations.models import Integration, OAuthToken
from workspaces.admin_scope import AcrossWorkspaces


def mask(value: str) -> str:
    """`ya29…3f9c`: enough to tell tokens apart, never enough to use one."""
    if not value:
        return "—"
    return f"{value[:4]}…{value[-4:]}" if len(value) > 12 else "…"


class MaskedTokenMixin:
    @admin.display(description="Access token")
    def masked_access_token(self, obj: OAuthToken) -> str:
        return mask(obj.access_token)

    @admin.display(description="Refresh token")
    def masked_refresh_token(self, obj: OAuthToken) -> str:
        return mask(obj.refresh_token)


class OAuthTokenInline(AcrossWorkspaces, MaskedTokenMixin, admin.StackedInline):
    model = OAuthToken
    fk_name = "integration"
    can_delete = False
    extra = 0
    fields = readonly_fields = (
        "masked_access_token",
        "masked_refresh_token",
        "expires_at",
        "scope",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Integration)
class IntegrationAdmin(AcrossWorkspaces, admin.ModelAdmin):
    list_display = [
        "email",
        "type",
        "status",
        "workspace",
        "connected_by",
        "connected_at",
        "last_refreshed_at",
    ]
    list_filter = ["type", "status", "provider"]
    search_fields = ["email", "display_name", "workspace__name", "workspace__slug", "status"]
    # Status is written by the connect flow, refreshes and disconnects only: an admin marking a
    # token-less account "active" would make runs fail later instead of asking to reconnect.
    readonly_fields = [
        "status",
        "workspace",
        "connected_by",
        "provider",
        "type",
        "provider_account_id",
        "scopes",
        "connected_at",
        "last_refreshed_at",
        "last_used_at",
        "last_error_code",
        "last_error_message",
        "last_error_at",
        "created_at",
        "updated_at",
    ]
    inlines = [OAuthTokenInline]
    actions = ["refresh_now", "disconnect"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # integrations come from the connect flow only

    @admin.action(description="Refresh the selected integrations' access tokens now")
    def refresh_now(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset:
            try:
                refresh_credentials(integration=integration, force=True)
            except AppError as error:
                self.message_user(
                    request, f"Integration “{integration}” was not refreshed: {error.message}", messages.ERROR
                )
            else:
                self.message_user(
                    request, f"Integration “{integration}”: its access token was refreshed.", messages.SUCCESS
                )

    @admin.action(description="Disconnect the selected integrations (revoke at Google)")
    def disconnect(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset:
            disconnection = services.disconnect_integration(
                workspace=integration.workspace, integration_id=integration.pk
            )
            self.message_user(request, f"Integration {disconnection.message}", messages.SUCCESS)


@admin.register(OAuthToken)
class OAuthTokenAdmin(AcrossWorkspaces, MaskedTokenMixin, admin.ModelAdmin):
    list_display = ["integration", "workspace", "masked_access_token", "expires_at", "updated_at"]
    search_fields = ["integration__email", "workspace__name", "workspace__slug", "integration__status"]
    list_filter = ["integration__status", "integration__type"]
    fields = readonly_fields = (
        "workspace",
        "integration",
        "masked_access_token",
        "masked_refresh_token",
        "expires_at",
        "scope",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# Google is not a way to log in here and tokens are kept in OAuthToken (SOCIALACCOUNT_STORE_TOKENS
# is off): allauth's social-login tables stay empty, so their admin pages would only mislead.
for model in (SocialApp, SocialAccount, SocialToken):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
