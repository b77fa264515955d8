"""All configuration comes from the environment (and `.env` when present).

The README lists every variable. With DEBUG off, missing secrets stop start-up.
"""

from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if env.bool("READ_DOT_ENV", default=True):
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

# CELERY_BROKER_URL: the embedded broker (files under var/) is for one development machine only.
_REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "ALLOWED_HOSTS", "TOKEN_ENCRYPTION_KEYS", "CELERY_BROKER_URL")
if not DEBUG:
    _missing = [name for name in _REQUIRED_IN_PRODUCTION if not env.str(name, default="")]
    if _missing:
        raise ImproperlyConfigured(
            f"GalaxyCo cannot start with DEBUG off: set {', '.join(_missing)} in the "
            "environment (see README, Configuration)."
        )

SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-only-for-debug")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the app: /api/docs/ works offline
    "django_celery_beat",
    "csp",
    "workspaces",
    "integrations",
    "workflows",
    "hooks",
    "integrations.sidemail",
]

MIDDLEWARE = [
    # First: forwarded headers count only from TRUSTED_PROXIES.
    "galaxyco.client_ip.TrustedProxyMiddleware",
    "galaxyco.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "galaxyco.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "galaxyco.middleware.InputGuardMiddleware",
    # Before CsrfViewMiddleware, which reads a form's body.
    "galaxyco.body_limits.BodyLimitMiddleware",
    "galaxyco.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "galaxyco.middleware.AuthenticationMiddleware",
    "galaxyco.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "galaxyco.middleware.AppErrorPageMiddleware",
]

ROOT_URLCONF = "galaxyco.urls"
WSGI_APPLICATION = "galaxyco.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspaces.context_processors.workspace_switcher",
                "workspaces.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, whose health check reads the socket before it spends a `SELECT 1`.
    DATABASES["default"]["ENGINE"] = "galaxyco.db.postgresql"
    # Parameters bound by the server: no quoting of values in Python, each statement planned with
    # its values. Statements are kept prepared only where galaxyco.db.prepared says.
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
# A run's statements, run this many times on a connection, are kept prepared there (PostgreSQL).
# Empty: none, for a pooler that moves server connections between clients per transaction.
_prepare_threshold = env.str("DATABASE_PREPARE_THRESHOLD", default="5")
DATABASE_PREPARE_THRESHOLD = int(_prepare_threshold) if _prepare_threshold else None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers take SQLite's lock when their transaction begins, so a row "lock" (select_for_update,
    # a no-op on SQLite) still serializes token refreshes; and they wait for it instead of failing.
    # WAL lets readers work while one writer commits, without an fsync per commit.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Abuse limits: their counters live in this cache, so it must be shared by every process:
# Redis when CACHE_URL names one, else a table in the database (created by `migrate`).
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://galaxyco_cache")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    # Past MAX_ENTRIES Django culls a third of the rows, counters included: keep it well above
    # the number of keys, members and client IPs active within one window.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 20000)
elif CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "galaxyco.cache.RedisCache"  # one client per pool, not per call
# Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (IPs or networks).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- HTTPS hardening: on by default in production, off in development and tests.
HTTPS = env.bool("HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
# Preloading is hard to undo (browsers ship the list): only when the operator asks for it,
# so `check --deploy`'s reminder to preload (W021) is answered here, not by default.
SECURE_HSTS_PRELOAD = HTTPS and env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SAMESITE = "Lax"

# --- Content-Security-Policy on every response: our pages load scripts and styles from our own
# static files only, with no inline script. (Inline style attributes stay allowed: allauth's
# templates hide forms with them, and they cannot run code.)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    },
}

# Request bodies (galaxyco/body_limits.py decides per endpoint): past its limit a request answers
# 413 before its body is read. The execute API and its preview, whose run input carries Gmail
# attachments as base64 (25 MB of them and the rest of the body), take the large limit; every other
# endpoint, saving a workflow included, takes the small one. Django's own check, wherever a body is read, is the backstop at the larger.
# The general limit keeps the environment variable deployments already set.
REQUEST_BODY_LIMIT = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
LARGE_REQUEST_BODY_LIMIT = env.int("LARGE_REQUEST_BODY_LIMIT", default=26 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(REQUEST_BODY_LIMIT, LARGE_REQUEST_BODY_LIMIT)

# --- Accounts (allauth): email + password, a personal workspace on sign-up.
SITE_ID = 1
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env.str(
    "ACCOUNT_EMAIL_VERIFICATION", default="optional" if DEBUG else "mandatory"
)
ACCOUNT_ADAPTER = "workspaces.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# Without it, allauth prefixes subjects with the request's host ("[127.0.0.1:8000] ").
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[GalaxyCo] "
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
# Failed logins per client IP and per email; the admin site logs in through this form too.
ACCOUNT_RATE_LIMITS = {"login_failed": env.str("LOGIN_FAILED_RATE_LIMIT", default="10/m/ip,5/5m/key")}

# --- Google (connecting Gmail and Calendar; not a way to log in).
GOOGLE_CLIENT_ID = env.str("GOOGLE_CLIENT_ID", default="galaxyco-dev-client")
GOOGLE_CLIENT_SECRET = env.str("GOOGLE_CLIENT_SECRET", default="galaxyco-dev-secret")
GOOGLE_OAUTH_AUTHORIZE_URL = env.str(
    "GOOGLE_OAUTH_AUTHORIZE_URL", default="https://accounts.google.com/o/oauth2/v2/auth"
)
GOOGLE_OAUTH_TOKEN_URL = env.str("GOOGLE_OAUTH_TOKEN_URL", default="https://oauth2.googleapis.com/token")
GOOGLE_OAUTH_USERINFO_URL = env.str(
    "GOOGLE_OAUTH_USERINFO_URL", default="https://www.googleapis.com/oauth2/v3/userinfo"
)
GOOGLE_OAUTH_REVOKE_URL = env.str("GOOGLE_OAUTH_REVOKE_URL", default="https://oauth2.googleapis.com/revoke")
GOOGLE_OAUTH_CERTS_URL = env.str(
    "GOOGLE_OAUTH_CERTS_URL", default="https://www.googleapis.com/oauth2/v1/certs"
)
GOOGLE_ID_TOKEN_ISSUER = env.str("GOOGLE_ID_TOKEN_ISSUER", default="https://accounts.google.com")
# Unset: Google's real API hosts. Set to the emulator's address in development and tests.
GOOGLE_API_BASE_URL = env.str("GOOGLE_API_BASE_URL", default="")
GOOGLE_HTTP_TIMEOUT = env.float("GOOGLE_HTTP_TIMEOUT", default=10.0)

SOCIALACCOUNT_ADAPTER = "integrations.adapter.IntegrationSocialAccountAdapter"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = GOOGLE_HTTP_TIMEOUT
SOCIALACCOUNT_PROVIDERS = {
    "google": {
        # Reads the endpoints above at call time instead of at import time.
        "provider_class": "integrations.google.oauth.provider.GoogleIntegrationProvider",
        "APPS": [
            {"client_id": GOOGLE_CLIENT_ID, "secret": GOOGLE_CLIENT_SECRET, "key": ""},
        ],
        "OAUTH_PKCE_ENABLED": True,
        "SCOPE": ["openid", "email", "profile"],
    }
}

# --- Token encryption: the first key encrypts, every key decrypts.
TOKEN_ENCRYPTION_KEYS = env.list("TOKEN_ENCRYPTION_KEYS", default=[])

# --- REST API
# Per client IP, counted apart: requests without credentials, and refused credentials.
_API_ANONYMOUS_RATE_LIMIT = env.str("API_ANONYMOUS_RATE_LIMIT", default="60/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so that an unauthenticated request answers 401 with its challenge.
        "workspaces.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "galaxyco.api.exception_handler",
    # JSON only: a form or multipart body answers 415 instead of running with empty input.
    "DEFAULT_PARSER_CLASSES": ["galaxyco.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "galaxyco.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "galaxyco.query.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": [
        "galaxyco.throttling.CredentialRateThrottle",
        "galaxyco.throttling.AnonymousRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "credential": env.str("API_RATE_LIMIT", default="600/min"),
        "anonymous": _API_ANONYMOUS_RATE_LIMIT,
        "failed_authentication": _API_ANONYMOUS_RATE_LIMIT,
        # Calls to each webhook trigger's URL (/hooks/<token>/).
        "webhook_trigger": env.str("WEBHOOK_TRIGGER_RATE_LIMIT", default="120/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GalaxyCo API",
    "DESCRIPTION": "Workspaces, Google integrations and workflows.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge fetched from validator.swagger.io: the page loads nothing from elsewhere.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # One name per choice set that several fields share (e.g. `type` of an integration and of a trigger).
    "ENUM_NAME_OVERRIDES": {
        "IntegrationTypeEnum": "integrations.models.IntegrationType",
        "TriggerTypeEnum": "hooks.models.TriggerType",
        "NotificationEventEnum": "hooks.models.NotificationEvent",
        "ErrorCodeEnum": "galaxyco.errors.ErrorCode",
    },
}

# --- Background work: a Celery worker runs every task and Celery beat schedules the periodic
# ones (the Procfile's `worker` and `beat`). CELERY_BROKER_URL names the broker (Redis in
# production); unset (development only), the embedded broker keeps its messages as files under
# var/celery/, so `make run` needs no server. The execute API waits on a task's result.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="")
if CELERY_BROKER_URL == "filesystem://":
    _CELERY_DIR = Path(env.str("CELERY_FILESYSTEM_DIR", default=str(BASE_DIR / "var" / "celery")))
    for _folder in ("queue", "control", "results"):
        (_CELERY_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_CELERY_DIR / "queue"),
        "data_folder_out": str(_CELERY_DIR / "queue"),
        "control_folder": str(_CELERY_DIR / "control"),
        "polling_interval": 0.05,
    }
    CELERY_RESULT_BACKEND = CELERY_RESULT_BACKEND or f"file://{_CELERY_DIR / 'results'}"
elif not CELERY_RESULT_BACKEND and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_RESULT_EXPIRES = 3600  # results only serve the execute API's wait
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # our JSON log lines, not Celery's format

# --- Workflows
WORKFLOW_RETRY_BASE_SECONDS = env.float("WORKFLOW_RETRY_BASE_SECONDS", default=2.0)
WORKFLOW_EXECUTE_WAIT_SECONDS = env.float("WORKFLOW_EXECUTE_WAIT_SECONDS", default=30.0)
# The scheduled sweep enqueues again the runs left queued or running longer than this.
WORKFLOW_RESUME_AFTER_SECONDS = env.float("WORKFLOW_RESUME_AFTER_SECONDS", default=300.0)
# How long a step's attempt may take before another executor may assume it died.
WORKFLOW_ATTEMPT_LEASE_SECONDS = env.float("WORKFLOW_ATTEMPT_LEASE_SECONDS", default=120.0)

# --- Notifications out (hooks): webhook URLs for triggers start with SITE_URL.
# Private, loopback and link-local addresses are refused unless this is on (a developer's machine).
NOTIFICATION_ALLOW_PRIVATE_URLS = env.bool("NOTIFICATION_ALLOW_PRIVATE_URLS", default=DEBUG)
NOTIFICATION_HTTP_TIMEOUT = env.float("NOTIFICATION_HTTP_TIMEOUT", default=10.0)
# Seconds before each retry of a delivery that got no 2xx (with jitter); then it is given up.
NOTIFICATION_RETRY_DELAYS = env.list(
    "NOTIFICATION_RETRY_DELAYS", cast=float, default=[5, 300, 1800, 7200, 18000, 36000]
)
NOTIFICATION_DELIVERY_RETENTION_DAYS = env.int("NOTIFICATION_DELIVERY_RETENTION_DAYS", default=30)

# --- Email: system mail goes through Django's email API only; with a Sidemail key, to Sidemail
# (integrations/sidemail: each email an OutboundEmail row, sent and retried by a task).
SIDEMAIL_API_KEY = env.str("SIDEMAIL_API_KEY", default="")
# The API base with its version; paths such as /email/send are appended. `make run`: the stand-in.
SIDEMAIL_API_URL = env.str("SIDEMAIL_API_URL", default="https://api.sidemail.io/v1")
SIDEMAIL_WEBHOOK_SECRET = env.str("SIDEMAIL_WEBHOOK_SECRET", default="")
SIDEMAIL_HTTP_TIMEOUT = env.float("SIDEMAIL_HTTP_TIMEOUT", default=10.0)
# Seconds before each retry of a 429, 5xx or timeout (the last repeats), and the attempts in all:
# two failed answers in a row still deliver within a minute.
SIDEMAIL_RETRY_DELAYS = env.list("SIDEMAIL_RETRY_DELAYS", cast=float, default=[5, 15, 60, 300, 900, 3600])
SIDEMAIL_MAX_ATTEMPTS = env.int("SIDEMAIL_MAX_ATTEMPTS", default=10)
# The sweep leaves a due email this long to its own retry task before enqueuing it again.
SIDEMAIL_SWEEP_GRACE_SECONDS = env.float("SIDEMAIL_SWEEP_GRACE_SECONDS", default=60.0)
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="integrations.sidemail.backend.EmailBackend"
    if SIDEMAIL_API_KEY
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="GalaxyCo <noreply@galaxyco.example>")

# --- Logging: JSON lines with request context; secrets filtered.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "galaxyco.logging.RequestContextFilter"},
        "secrets": {"()": "galaxyco.logging.SecretsFilter"},
    },
    "formatters": {"json": {"()": "galaxyco.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["context", "secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}
