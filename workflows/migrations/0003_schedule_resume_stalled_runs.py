"""Schedule the sweep that enqueues lost runs again: a row of django-celery-beat's, so it is data
(editable, or switched off, in the admin) and runs under the one `celery beat` scheduler."""

from django.db import migrations
from django.utils import timezone

TASK = "workflows.tasks.resume_stalled_runs"
NAME = "Resume stalled workflow runs"
EVERY_MINUTES = 2


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
            "description": "Enqueues again the runs left queued or running (a lost task, a process that died).",
        },
    )
    # The scheduler reloads its schedule when this marker changes (a migration bypasses signals).
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0002_step_send_slot"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
