"""A deleted API key stops working at once in the process that deleted it, however the row goes
(the admin, a deleted workspace's cascade); other processes drop it within API_KEY_CACHE_SECONDS."""

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from workspaces.key_cache import recent_keys
from workspaces.models import ApiKey


@receiver(post_delete, sender=ApiKey, dispatch_uid="workspaces.api_key_deleted")
def forget_a_deleted_key(sender: type[ApiKey], instance: ApiKey, **kwargs: Any) -> None:
    recent_keys.forget(instance.key_hash)
