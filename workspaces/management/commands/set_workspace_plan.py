import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from galaxyco.errors import AppError
from workspaces.models import TRIAL_DAYS, Plan
from workspaces.services import set_workspace_plan


class Command(BaseCommand):
    help = "Put a workspace on a trial (N days from now) or on the paid plan."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="The workspace's slug.")
        parser.add_argument("--plan", required=True, choices=Plan.values)
        parser.add_argument("--trial-days", type=int, default=TRIAL_DAYS, help="A trial's length in days.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            workspace = set_workspace_plan(
                workspace_slug=options["workspace"], plan=options["plan"], trial_days=options["trial_days"]
            )
        except AppError as error:
            raise CommandError(error.message) from error
        ends = workspace.trial_ends_at.isoformat() if workspace.trial_ends_at else None
        self.stdout.write(
            json.dumps({"workspace": workspace.slug, "plan": workspace.plan, "trial_ends_at": ends})
        )
