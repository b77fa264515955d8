"""Settings for the test suite: the production settings with throwaway secrets and no .env.

Keys are generated per run, so no secret is ever committed.
"""

import os
import secrets

from cryptography.fernet import Fernet

os.environ["READ_DOT_ENV"] = "false"
# No broker named: the suite runs tasks in place. A worker process started by a test gets one.
os.environ.setdefault("CELERY_BROKER_URL", "memory://localhost/")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("TOKEN_ENCRYPTION_KEYS", Fernet.generate_key().decode())
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("HTTPS", "false")
os.environ.setdefault("ACCOUNT_EMAIL_VERIFICATION", "optional")

from galaxyco.settings import *  # noqa: F403

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: the Celery worker test's worker process must see the same database.
    # TEST_SQLITE_NAME lets suites that run side by side each keep their own file.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.environ.get("TEST_SQLITE_NAME", str(BASE_DIR / "test_db.sqlite3"))  # noqa: F405
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
# Serve static files from the app folders, as in development: tests do not run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Retries back off from 10 ms instead of 2 s, so retry tests take moments.
WORKFLOW_RETRY_BASE_SECONDS = 0.01

# Tasks run in the process that enqueues them, their waits slept in place (workflows/tasks.py).
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL.startswith("memory://")  # noqa: F405
CELERY_TASK_EAGER_PROPAGATES = True
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_RESULT_BACKEND = "cache+memory://"
    # Celery reads this variable before its settings: gone, a test can point this process at a
    # real broker (devtools.celery_broker.use_broker).
    del os.environ["CELERY_BROKER_URL"]

# The suite's traffic is not limited; tests of the limits set their own rates and caches
# (tests/security/test_abuse_limits.py). Each test process keeps its own cache.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {  # noqa: F405
    "credential": None,
    "anonymous": None,
    "failed_authentication": None,
}
