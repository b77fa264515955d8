"""Each step gets a key, `{{ steps.<key>.<field> }}` in later steps: existing steps get their
action's (gmail_send_email, then gmail_send_email_2 in the same workflow), and each step run the
key of its step, so runs keep what they snapshot."""

from django.db import migrations, models


def default_key(action: str) -> str:
    key = "".join(c if c.isalnum() else "_" for c in action.lower()).strip("_")
    return key if key[:1].isalpha() else f"step_{key}"


def keys_in_order(actions: list[str]) -> list[str]:
    taken: set[str] = set()
    keys = []
    for action in actions:
        base = default_key(action)
        key, number = base, 1
        while key in taken:
            number += 1
            key = f"{base}_{number}"
        taken.add(key)
        keys.append(key)
    return keys


def fill_keys(apps, schema_editor):
    WorkflowStep = apps.get_model("workflows", "WorkflowStep")
    StepRun = apps.get_model("workflows", "StepRun")
    for model, parent in ((WorkflowStep, "workflow_id"), (StepRun, "run_id")):
        rows: dict[int, list] = {}
        for row in model.objects.order_by(parent, "position").only("pk", parent, "position", "action"):
            rows.setdefault(getattr(row, parent), []).append(row)
        for group in rows.values():
            for row, key in zip(group, keys_in_order([row.action for row in group]), strict=True):
                row.key = key
            model.objects.bulk_update(group, ["key"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0005_run_trigger"),
    ]

    operations = [
        migrations.AddField(
            model_name="workflowstep",
            name="key",
            field=models.CharField(default="", max_length=60),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="steprun",
            name="key",
            field=models.CharField(blank=True, max_length=60),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="workflowstep",
            constraint=models.UniqueConstraint(fields=("workflow", "key"), name="unique_step_key"),
        ),
    ]
