"""Sign-up, a change of email or name, and deleting a user keep the user's Sidemail contact in
step, through the task queue once the change is committed. Without a Sidemail key nothing is sent.

A new user is enrolled in the onboarding sequence; a workspace on a trial enrols its owner in the
trial sequence, and one that converts to paid stops it."""

from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from integrations.sidemail import sequences, services
from workspaces.models import Plan, Workspace

_BEFORE = "_sidemail_contact_before"


def _contact_fields(user: Any) -> tuple[str, str]:
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return user.email or "", name


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="sidemail.contact_before")
def remember_contact_fields(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw or instance.pk is None or not services.sidemail_configured():
        return
    stored = get_user_model().objects.filter(pk=instance.pk).first()
    setattr(instance, _BEFORE, _contact_fields(stored) if stored is not None else None)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="sidemail.onboarding")
def enroll_in_onboarding(
    sender: type, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        transaction.on_commit(partial(sequences.enroll_new_user, user_id=instance.pk))


@receiver(post_save, sender=Workspace, dispatch_uid="sidemail.trial")
def follow_workspace_plan(sender: type, instance: Workspace, raw: bool = False, **kwargs: Any) -> None:
    """On commit: the owner is a member by then (a workspace is saved before its membership)."""
    if raw:
        return
    if instance.plan == Plan.TRIAL:
        transaction.on_commit(partial(sequences.enroll_trial_owner, workspace_id=instance.pk))
    else:
        transaction.on_commit(partial(sequences.stop_trial, workspace_id=instance.pk))


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="sidemail.contact_upsert")
def upsert_contact(sender: type, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw or not services.sidemail_configured():
        return
    before = getattr(instance, _BEFORE, None)
    if not created and before is not None and before == _contact_fields(instance):
        return
    previous_email = before[0] if before is not None else ""
    transaction.on_commit(
        partial(services.enqueue_contact_sync, user_id=instance.pk, previous_email=previous_email)
    )


@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="sidemail.contact_delete")
def delete_contact(sender: type, instance: Any, **kwargs: Any) -> None:
    if instance.email and services.sidemail_configured():
        transaction.on_commit(partial(services.enqueue_contact_delete, email=instance.email))
