from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workspaces.models import Workspace
from workspaces.services import create_api_key


class Command(BaseCommand):
    help = "Create an API key for a workspace and print it (its last line). It is shown only once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="The workspace's slug.")
        parser.add_argument("--name", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace has the slug {options['workspace']!r}.")
        _, raw_key = create_api_key(workspace=workspace, name=options["name"])
        self.stdout.write(raw_key)
