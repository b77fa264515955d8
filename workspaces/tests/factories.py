import factory
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from workspaces.models import Membership, Role, Workspace
from workspaces.services import create_api_key


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    username = factory.SelfAttribute("email")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"workspace-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OWNER


def api_key_for(workspace: Workspace, name: str = "test key", role: str = Role.MEMBER) -> str:
    _, raw_key = create_api_key(workspace=workspace, name=name, role=role)
    return raw_key


def api_client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def page_client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
