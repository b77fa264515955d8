from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from integrations import crypto
from integrations.models import OAuthToken

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored OAuth token under the first key of TOKEN_ENCRYPTION_KEYS. "
        "Run it after putting a new key first; then the old keys can be removed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        table = OAuthToken._meta.db_table
        rotated = 0
        last_id = 0
        while True:
            # Raw ciphertext in, rotated ciphertext out: plaintext never lands on a model instance.
            with transaction.atomic(), connection.cursor() as cursor:
                # Locked, so that a refresh committing meanwhile is not overwritten with the old token.
                lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
                cursor.execute(
                    f"SELECT id, access_token, refresh_token FROM {table} WHERE id > %s ORDER BY id LIMIT %s{lock}",  # noqa: S608
                    [last_id, BATCH],
                )
                rows = cursor.fetchall()
                for token_id, access, refresh in rows:
                    cursor.execute(
                        f"UPDATE {table} SET access_token = %s, refresh_token = %s WHERE id = %s",  # noqa: S608
                        [
                            crypto.rotate(access) if access else access,
                            crypto.rotate(refresh) if refresh else refresh,
                            token_id,
                        ],
                    )
            if not rows:
                break
            rotated += len(rows)
            last_id = rows[-1][0]
        self.stdout.write(f"Re-encrypted {rotated} token(s) under the first key.")
