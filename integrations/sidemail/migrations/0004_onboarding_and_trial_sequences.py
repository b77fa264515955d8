"""The two sequences (onboarding, trial) and the beat row that sends their due steps every minute."""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

TASK = "integrations.sidemail.tasks.send_due_sequence_steps"
NAME = "Send due sequence emails"
SEQUENCES = [
    (
        "onboarding",
        "Onboarding",
        "new_users",
        [
            ("onboarding-welcome", timedelta(0), "enrolled"),
            ("onboarding-tips-day-2", timedelta(days=2), "enrolled"),
            ("onboarding-tips-day-5", timedelta(days=5), "enrolled"),
        ],
    ),
    (
        "trial",
        "Trial",
        "trial_owners",
        [
            ("trial-started", timedelta(0), "enrolled"),
            ("trial-ending", -timedelta(days=3), "trial_end"),
        ],
    ),
]


def create(apps, schema_editor):
    Sequence = apps.get_model("sidemail", "Sequence")
    SequenceStep = apps.get_model("sidemail", "SequenceStep")
    for slug, name, audience, steps in SEQUENCES:
        sequence, _ = Sequence.objects.get_or_create(slug=slug, defaults={"name": name, "audience": audience})
        for position, (template_name, delay, anchor) in enumerate(steps):
            SequenceStep.objects.get_or_create(
                sequence=sequence,
                position=position,
                defaults={"template_name": template_name, "delay": delay, "anchor": anchor},
            )
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": interval,
            "description": "Sends the onboarding and trial emails that are due, each once.",
        },
    )
    # The scheduler reloads its schedule when this marker changes (a migration bypasses signals).
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()
    apps.get_model("sidemail", "Sequence").objects.filter(slug__in=[s[0] for s in SEQUENCES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sidemail", "0003_sequences"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
