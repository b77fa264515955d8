"""Migration operations the apps share."""

from typing import Any

from django.db import migrations


def postgresql_only(*, forward: str, backward: str) -> migrations.RunPython:
    """SQL run on PostgreSQL and skipped elsewhere: a PL/pgSQL function whose work the app does
    in Python on SQLite."""

    def run(sql: str) -> Any:
        def operation(apps: Any, schema_editor: Any) -> None:
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(sql)

        return operation

    return migrations.RunPython(run(forward), run(backward), elidable=False)
