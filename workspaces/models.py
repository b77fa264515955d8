from django.conf import settings
from django.db import models
from django.db.models import Q

from workspaces.querysets import WorkspaceQuerySet


class Plan(models.TextChoices):
    TRIAL = "trial", "Trial"
    PAID = "paid", "Paid"


# How long a new workspace's trial lasts.
TRIAL_DAYS = 14


class Workspace(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    # A workspace made outside sign-up (the admin, a command, the workspaces that predate plans)
    # is paid: only a trial sends trial email.
    plan = models.CharField(max_length=10, choices=Plan.choices, default=Plan.PAID)
    trial_ends_at = models.DateTimeField(null=True, blank=True, help_text="When a trial ends.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(plan="trial") | Q(trial_ends_at__isnull=False),
                name="workspace_trial_has_end",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """Highest first. What each role may do is in workspaces.permissions."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# An API key acts for a service, never as the workspace's owner.
API_KEY_ROLES = [
    (Role.ADMIN.value, Role.ADMIN.label),
    (Role.MEMBER.value, Role.MEMBER.label),
    (Role.VIEWER.value, Role.VIEWER.label),
]


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="unique_membership"),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class ApiKey(models.Model):
    """A workspace credential for other services. Only a SHA-256 hash of the key is kept."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    role = models.CharField(max_length=10, choices=API_KEY_ROLES, default=Role.MEMBER)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
