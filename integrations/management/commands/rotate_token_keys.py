from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from integrations import crypto
from integrations.models import OAuthToken, SidemailAccount

BATCH = 500
# Every encrypted column: Google's tokens, and the Sidemail keys and from-addresses.
ENCRYPTED = [
    (OAuthToken._meta.db_table, ("access_token", "refresh_token")),
    (SidemailAccount._meta.db_table, ("api_key", "from_address")),
]


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored OAuth token and Sidemail key under the first key of "
        "TOKEN_ENCRYPTION_KEYS. Run it after putting a new key first; then the old keys can be removed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = sum(self._rotate(table, columns) for table, columns in ENCRYPTED)
        self.stdout.write(f"Re-encrypted {rotated} token(s) under the first key.")

    def _rotate(self, table: str, columns: tuple[str, str]) -> int:
        rotated = 0
        last_id = 0
        first, second = columns
        while True:
            # Raw ciphertext in, rotated ciphertext out: plaintext never lands on a model instance.
            with transaction.atomic(), connection.cursor() as cursor:
                # Locked, so that a refresh committing meanwhile is not overwritten with the old token.
                lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
                cursor.execute(
                    f"SELECT id, {first}, {second} FROM {table} WHERE id > %s ORDER BY id LIMIT %s{lock}",  # noqa: S608
                    [last_id, BATCH],
                )
                rows = cursor.fetchall()
                for row_id, one, two in rows:
                    cursor.execute(
                        f"UPDATE {table} SET {first} = %s, {second} = %s WHERE id = %s",  # noqa: S608
                        [crypto.rotate(one) if one else one, crypto.rotate(two) if two else two, row_id],
                    )
            if not rows:
                return rotated
            rotated += len(rows)
            last_id = rows[-1][0]
