from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from workflows.services import resume_stalled_runs


class Command(BaseCommand):
    help = (
        "Enqueue again the runs left queued or running (a lost task, a process that died mid-run). "
        "Celery beat runs the same sweep every few minutes; this runs it now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=int(settings.WORKFLOW_RESUME_AFTER_SECONDS),
            help="Seconds since the run was created.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        resumed = resume_stalled_runs(older_than=timedelta(seconds=options["older_than"]))
        self.stdout.write(f"Resumed {resumed} run(s).")
