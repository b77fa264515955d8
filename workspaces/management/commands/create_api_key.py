from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workspaces.models import API_KEY_ROLES, Role, Workspace
from workspaces.services import create_api_key


class Command(BaseCommand):
    help = "Create an API key for a workspace and print it (its last line). It is shown only once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="The workspace's slug.")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--role",
            choices=[value for value, _ in API_KEY_ROLES],
            default=Role.MEMBER.value,
            help="What the key may do (default: member).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace has the slug {options['workspace']!r}.")
        _, raw_key = create_api_key(workspace=workspace, name=options["name"], role=options["role"])
        self.stdout.write(raw_key)
