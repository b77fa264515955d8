from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workflows.selectors import stalled_runs
from workflows.tasks import enqueue_run


class Command(BaseCommand):
    help = (
        "Enqueue again the runs left queued or running (a lost task, a process that died mid-run). "
        "Safe to schedule every few minutes: a step that succeeded never runs again, and an "
        "attempt under way keeps its lease."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, default=300, help="Seconds since the run was created.")

    def handle(self, *args: Any, **options: Any) -> None:
        run_ids = list(
            stalled_runs(older_than=timedelta(seconds=options["older_than"])).values_list("pk", flat=True)
        )
        for run_id in run_ids:
            enqueue_run(run_id=run_id)
        self.stdout.write(f"Resumed {len(run_ids)} run(s).")
