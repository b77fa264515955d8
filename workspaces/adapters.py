from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth.models import User
from django.http import HttpRequest

from workspaces.services import create_personal_workspace


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: User, form: Any, commit: bool = True) -> User:
        """Signing up creates the new user's personal workspace."""
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            create_personal_workspace(user=user)
        return user
