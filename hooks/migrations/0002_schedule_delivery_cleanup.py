"""Schedule the sweep that deletes notification delivery logs past their 30 days: a row of
django-celery-beat's, so it is data (editable, or switched off, in the admin)."""

from django.db import migrations
from django.utils import timezone

TASK = "hooks.tasks.delete_old_deliveries"
NAME = "Delete old notification delivery logs"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": interval,
            "description": "Notification delivery attempts are kept 30 days (NOTIFICATION_DELIVERY_RETENTION_DAYS).",
        },
    )
    # The scheduler reloads its schedule when this marker changes (a migration bypasses signals).
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("hooks", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
