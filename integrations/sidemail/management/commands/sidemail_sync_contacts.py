"""Upsert every user's Sidemail contact, page by page, with a progress bar.

Idempotent (an upsert per user) and safe to rerun: after a failure it names the ``--after-id`` to
resume from. ``--prune`` also deletes the contacts of users who no longer exist.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.sidemail import services
from integrations.sidemail.api_client import SidemailClient, SidemailError

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Create or update every user's Sidemail contact (identifier = the user's id)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200, help="users read per query (default: 200)")
        parser.add_argument("--after-id", type=int, default=0, help="start after this user id (to resume)")
        parser.add_argument(
            "--prune", action="store_true", help="delete contacts of users that no longer exist"
        )

    def handle(self, *args: Any, batch_size: int, after_id: int, prune: bool, **options: Any) -> None:
        if not services.sidemail_configured():
            raise CommandError("SIDEMAIL_API_KEY is not set: there is no Sidemail account to sync to.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        users = get_user_model().objects.filter(pk__gt=after_id).exclude(email="").order_by("pk")
        total = users.count()
        client = SidemailClient()
        done, counts = 0, {"created": 0, "updated": 0, "skipped": 0}
        last_id = after_id
        while True:
            batch = list(users.filter(pk__gt=last_id).values_list("pk", flat=True)[:batch_size])
            if not batch:
                break
            for user_id in batch:
                try:
                    outcome = services.sync_contact(user_id=user_id, client=client)
                except SidemailError as error:
                    self.stderr.write("")
                    raise CommandError(
                        f"Sidemail refused the contact of user {user_id}: {error.message} "
                        f"Rerun with --after-id {last_id} to carry on from there."
                    ) from error
                counts[outcome] = counts.get(outcome, 0) + 1
                last_id = user_id
                done += 1
                self._progress(done, total)
        self.stderr.write("")
        pruned = services.prune_contacts(client=client) if prune else 0
        summary = f"{done} users synced: {counts['created']} created, {counts['updated']} updated"
        if counts["skipped"]:
            summary += f", {counts['skipped']} skipped"
        if prune:
            summary += f"; {pruned} stale contacts deleted"
        self.stdout.write(self.style.SUCCESS(summary + "."))

    def _progress(self, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        self.stderr.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}", ending="")
        self.stderr.flush()
