"""Celery: with CELERY_BROKER_URL unset, tasks run in the web process (task_always_eager)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "galaxyco.settings")

app = Celery("galaxyco")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
