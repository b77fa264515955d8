"""A member who leaves a workspace, or a user who is deleted, takes their connected accounts
with them: however the row goes (the members page, the admin, a cascade), the accounts they
connected there stop working at once and their grants are revoked at Google after commit.

An account saved or deleted however it is (the services, the admin, a cascade) drops its
workspace's status from this process's cache (integrations.status_cache); writes by
QuerySet.update drop it where they are made (integrations.health)."""

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from integrations import status_cache
from integrations.models import Integration
from integrations.services import disconnect_integrations_of
from workspaces.models import Membership


@receiver(pre_delete, sender=Membership, dispatch_uid="integrations.member_left")
def disconnect_when_a_member_leaves(sender: type[Membership], instance: Membership, **kwargs: Any) -> None:
    disconnect_integrations_of(user_id=instance.user_id, workspace=instance.workspace)


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="integrations.user_deleted")
def disconnect_when_a_user_is_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    disconnect_integrations_of(user_id=instance.pk)


@receiver(post_save, sender=Integration, dispatch_uid="integrations.status_saved")
@receiver(post_delete, sender=Integration, dispatch_uid="integrations.status_deleted")
def forget_the_workspace_status(sender: type[Integration], instance: Integration, **kwargs: Any) -> None:
    status_cache.forget(workspace_id=instance.workspace_id)
