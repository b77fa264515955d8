from datetime import timedelta

import factory
from django.utils import timezone

from integrations.models import Integration, IntegrationStatus, IntegrationType, OAuthToken
from workspaces.tests.factories import UserFactory, WorkspaceFactory


class IntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Integration

    workspace = factory.SubFactory(WorkspaceFactory)
    connected_by = factory.SubFactory(UserFactory)
    type = IntegrationType.GMAIL
    status = IntegrationStatus.ACTIVE
    email = factory.Sequence(lambda n: f"mailbox{n}@gmail.test")
    display_name = "Mailbox"
    provider_account_id = factory.Sequence(lambda n: f"10000{n}")
    scopes = factory.LazyFunction(
        lambda: ["openid", "email", "profile", "https://www.googleapis.com/auth/gmail.send"]
    )
    connected_at = factory.LazyFunction(timezone.now)


class OAuthTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OAuthToken

    integration = factory.SubFactory(IntegrationFactory)
    workspace = factory.SelfAttribute("integration.workspace")
    access_token = factory.Sequence(lambda n: f"ya29.test-access-{n}")
    refresh_token = factory.Sequence(lambda n: f"1//test-refresh-{n}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    scope = "openid email profile https://www.googleapis.com/auth/gmail.send"
