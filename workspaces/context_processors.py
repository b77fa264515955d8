from typing import Any

from django.http import HttpRequest

from workspaces.selectors import workspaces_for_user


def workspace_switcher(request: HttpRequest) -> dict[str, Any]:
    """The header's workspace switcher lists only the signed-in person's workspaces."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"my_workspaces": []}
    return {"my_workspaces": list(workspaces_for_user(user=user))}
