"""Celery: every task runs on a worker (`celery -A galaxyco worker`), periodic ones are sent by
`celery -A galaxyco beat` (see the Procfile). Only the test settings run tasks in place."""

import os

from celery import Celery

from galaxyco import broker

broker.register()  # the embedded broker writes each message whole (galaxyco/broker.py)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "galaxyco.settings")

app = Celery("galaxyco")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
