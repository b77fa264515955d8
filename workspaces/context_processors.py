from typing import Any

from django.http import HttpRequest

from workspaces.selectors import workspaces_for_user


def workspace_switcher(request: HttpRequest) -> dict[str, Any]:
    """The header's workspace switcher lists only the signed-in person's workspaces."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"my_workspaces": []}
    return {"my_workspaces": list(workspaces_for_user(user=user))}


# The header's sections, each with the URL names (by prefix) of the pages it holds.
NAV_SECTIONS = (
    ("home", ("workspace_home",)),
    ("integrations", ("integrations_",)),
    ("workflows", ("workflow_",)),
    ("runs", ("run_",)),
    ("members", ("workspace_member",)),
    ("settings", ("workspace_settings", "workspace_api_key")),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """`nav_section`: which item of the header's navigation the page belongs to ("" for none)."""
    match = getattr(request, "resolver_match", None)
    name = (match.url_name if match else None) or ""
    section = next((key for key, prefixes in NAV_SECTIONS if name.startswith(prefixes)), "")
    return {"nav_section": section}
