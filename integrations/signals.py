"""A member who leaves a workspace, or a user who is deleted, takes their connected accounts
with them: however the row goes (the members page, the admin, a cascade), the accounts they
connected there stop working at once and their grants are revoked at Google after commit."""

from typing import Any

from django.conf import settings
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from integrations.services import disconnect_integrations_of
from workspaces.models import Membership


@receiver(pre_delete, sender=Membership, dispatch_uid="integrations.member_left")
def disconnect_when_a_member_leaves(sender: type[Membership], instance: Membership, **kwargs: Any) -> None:
    disconnect_integrations_of(user_id=instance.user_id, workspace=instance.workspace)


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="integrations.user_deleted")
def disconnect_when_a_user_is_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    disconnect_integrations_of(user_id=instance.pk)
