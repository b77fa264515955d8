import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from galaxyco.errors import Conflict, Forbidden, InvalidInput, NotFound
from workspaces.key_cache import recent_keys
from workspaces.models import API_KEY_ROLES, TRIAL_DAYS, ApiKey, Membership, Plan, Role, Workspace
from workspaces.permissions import Action, may

API_KEY_PREFIX = "gxy_"
# A key's last_used_at is written at most this often, so a busy key does not write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug = base
    while Workspace.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def create_workspace(*, name: str, owner: User) -> Workspace:
    name = name.strip()
    if not name:
        raise InvalidInput("Give the workspace a name.")
    # A new workspace starts a trial (its owner gets the trial sequence).
    workspace = Workspace.objects.create(
        name=name,
        slug=_unique_slug(name),
        plan=Plan.TRIAL,
        trial_ends_at=timezone.now() + timedelta(days=TRIAL_DAYS),
    )
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def create_personal_workspace(*, user: User) -> Workspace:
    email = getattr(user, "email", "") or "My"
    return create_workspace(name=f"{email.split('@')[0]}'s workspace", owner=user)


ROLE_CHOICE_MESSAGE = "Choose a role: owner, admin, member or viewer."


def _ensure_may_touch_roles(*, actor: Membership, roles: set[str]) -> None:
    """Owners and admins are managed by an owner only: granting, changing or removing them."""
    if roles & {Role.OWNER, Role.ADMIN} and not may(actor.role, Action.MANAGE_ADMINS):
        raise Forbidden(
            "Only an owner can make someone an owner or admin, or change or remove an owner or admin."
        )


def add_member(*, workspace: Workspace, email: str, role: str = Role.MEMBER, actor: Membership) -> Membership:
    user = get_user_model().objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise InvalidInput(
            "No GalaxyCo account uses that email address. Ask them to sign up first, then add them."
        )
    if role not in Role.values:
        raise InvalidInput(ROLE_CHOICE_MESSAGE)
    _ensure_may_touch_roles(actor=actor, roles={role})
    try:
        with transaction.atomic():
            return Membership.objects.create(workspace=workspace, user=user, role=role)
    except IntegrityError:
        raise Conflict("That person is already a member of this workspace.") from None


def _get_membership(*, workspace: Workspace, membership_id: int) -> Membership:
    membership = Membership.objects.for_workspace(workspace).filter(pk=membership_id).first()
    if membership is None:
        raise NotFound()
    return membership


def _ensure_an_owner_remains(*, workspace: Workspace, leaving: Membership) -> None:
    if leaving.role != Role.OWNER:
        return
    owners = Membership.objects.for_workspace(workspace).select_for_update().filter(role=Role.OWNER)
    if owners.exclude(pk=leaving.pk).count() == 0:
        raise Forbidden("A workspace needs at least one owner. Make someone else an owner first.")


@transaction.atomic
def change_role(*, workspace: Workspace, membership_id: int, role: str, actor: Membership) -> Membership:
    if role not in Role.values:
        raise InvalidInput(ROLE_CHOICE_MESSAGE)
    membership = _get_membership(workspace=workspace, membership_id=membership_id)
    if membership.role == role:
        return membership
    _ensure_may_touch_roles(actor=actor, roles={membership.role, role})
    if role != Role.OWNER:
        _ensure_an_owner_remains(workspace=workspace, leaving=membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(*, workspace: Workspace, membership_id: int, actor: Membership) -> None:
    """Remove a member. The accounts they connected here are disconnected with them
    (integrations.signals), so no workflow can send from them any more."""
    membership = _get_membership(workspace=workspace, membership_id=membership_id)
    _ensure_may_touch_roles(actor=actor, roles={membership.role})
    _ensure_an_owner_remains(workspace=workspace, leaving=membership)
    membership.delete()


def create_api_key(
    *, workspace: Workspace, name: str, created_by: User | None = None, role: str = Role.MEMBER
) -> tuple[ApiKey, str]:
    """Returns the key row and the key itself, which is shown once and never stored."""
    name = name.strip()
    if not name:
        raise InvalidInput("Give the API key a name, such as the service that will use it.")
    if role not in {value for value, _ in API_KEY_ROLES}:
        raise InvalidInput("Choose the key's role: admin, member or viewer.")
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        workspace=workspace,
        name=name[:100],
        prefix=raw_key[:12],
        key_hash=hash_api_key(raw_key),
        created_by=created_by,
        role=role,
    )
    return api_key, raw_key


def revoke_api_key(*, workspace: Workspace, api_key_id: int) -> ApiKey:
    """Revoke a key: this process refuses it from its next request, every other one within
    API_KEY_CACHE_SECONDS (workspaces.key_cache)."""
    api_key = ApiKey.objects.for_workspace(workspace).filter(pk=api_key_id).first()
    if api_key is None:
        raise NotFound()
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    recent_keys.forget(api_key.key_hash)
    return api_key


def authenticate_api_key(*, raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, with its last use recorded; None if there is none."""
    if not raw_key.startswith(API_KEY_PREFIX):
        return None
    # The key is the credential: looked up by its hash in any workspace, which it then names.
    api_key = (
        ApiKey.objects.unscoped()
        .select_related("workspace")
        .filter(key_hash=hash_api_key(raw_key), revoked_at__isnull=True)
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.unscoped().filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


@transaction.atomic
def provision_workspace_user(*, email: str, password: str, workspace_name: str) -> tuple[User, Workspace]:
    """Create or update a verified user, the named workspace if new, and an owner membership."""
    from allauth.account.models import EmailAddress

    email = email.strip().lower()
    user_model = get_user_model()
    user = user_model.objects.filter(email__iexact=email).first()
    if user is None:
        user = user_model.objects.create_user(username=email[:150], email=email, password=password)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    # Only a workspace this user already belongs to: never join someone else's by its name or slug.
    workspace = Workspace.objects.filter(memberships__user=user, name=workspace_name.strip()).first()
    if workspace is None:
        workspace = create_workspace(name=workspace_name, owner=user)
    else:
        Membership.objects.for_workspace(workspace).update_or_create(
            workspace=workspace, user=user, defaults={"role": Role.OWNER}
        )
    return user, workspace


@transaction.atomic
def set_workspace_plan(*, workspace_slug: str, plan: str, trial_days: int = TRIAL_DAYS) -> Workspace:
    """Put a workspace on a trial of `trial_days` from now, or on the paid plan (which ends the
    trial's email sequence)."""
    if plan not in Plan.values:
        raise InvalidInput(f"Choose a plan: {', '.join(Plan.values)}.")
    if trial_days < 1:
        raise InvalidInput("A trial lasts at least one day.")
    workspace = Workspace.objects.select_for_update().filter(slug=workspace_slug).first()
    if workspace is None:
        raise NotFound(f"No workspace has the slug “{workspace_slug}”.")
    workspace.plan = plan
    workspace.trial_ends_at = timezone.now() + timedelta(days=trial_days) if plan == Plan.TRIAL else None
    workspace.save(update_fields=["plan", "trial_ends_at"])
    return workspace
