"""Schedule the sweep that enqueues again the system emails a lost task left behind: a row of
django-celery-beat's, so it is data (editable, or switched off, in the admin) under `celery beat`."""

from django.db import migrations
from django.utils import timezone

TASK = "integrations.sidemail.tasks.requeue_outbound_emails"
NAME = "Re-enqueue due system emails"
EVERY_MINUTES = 1


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval, _ = IntervalSchedule.objects.get_or_create(every=EVERY_MINUTES, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": interval,
            "description": "Enqueues again the Sidemail emails still due after their retry (a lost task, a restart).",
        },
    )
    # The scheduler reloads its schedule when this marker changes (a migration bypasses signals).
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sidemail", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
