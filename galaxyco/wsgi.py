import os

from django.core.wsgi import get_wsgi_application

from galaxyco import collector

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "galaxyco.settings")
application = get_wsgi_application()
collector.tune_for_serving()  # the app is loaded: see galaxyco/collector.py
