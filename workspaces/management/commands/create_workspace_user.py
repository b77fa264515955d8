import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workspaces.services import provision_workspace_user


class Command(BaseCommand):
    help = "Create or update a verified user, the workspace (if new) and an owner membership."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--workspace", required=True, help="The workspace's name.")

    def handle(self, *args: Any, **options: Any) -> None:
        user, workspace = provision_workspace_user(
            email=options["email"], password=options["password"], workspace_name=options["workspace"]
        )
        self.stdout.write(
            json.dumps({"user_id": user.pk, "workspace_id": workspace.pk, "workspace_slug": workspace.slug})
        )
