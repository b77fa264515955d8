from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from galaxyco.client_ip import client_ip
from workspaces.services import create_personal_workspace


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: User, form: Any, commit: bool = True) -> User:
        """Signing up creates the new user's personal workspace."""
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            create_personal_workspace(user=user)
        return user

    def get_client_ip(self, request: HttpRequest) -> str:
        """The address login limits count by: the same one the API's limits use."""
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip
