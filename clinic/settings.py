"""Settings for the clinic app, read from environment variables.

Every default works on a laptop with no servers: SQLite under ``var/``, Celery on
kombu's filesystem transport, emails written to ``var/mail/``. Production points
``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``EMAIL_URL`` at real services. See the
configuration table in README.md.
"""

import re
from datetime import time, timedelta
from email.utils import getaddresses
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CLINIC_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no or on/off, not {raw!r}."
    )


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a whole number, not {raw!r}."
        ) from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


# Off unless asked for: a server started without DEBUG set shows no debug page
# and needs its own SECRET_KEY. `make run` and the tests set what they need.
DEBUG = env_bool("DEBUG", default=False)
# The debug page lists the settings: passwords inside the *_URL ones are hidden
# there too (clinic/errors.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "clinic.errors.SettingsFilter"

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off: use a long random string, "
            "for example from `python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'`."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "clinic",
    "plans",
    "aftercare",
    "django.contrib.admin",
    # Django's accounts, under the name the settings show them by.
    "clinic.apps.StaffAccountsConfig",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # `runserver` leaves static files to WhiteNoise, as in production (its own
    # handler answers a crafted path like /static/../manage.py with a 500).
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "crispy_forms",
    "crispy_bootstrap5",
    # django-axes, under the name the settings show it by.
    "clinic.apps.SignInPausesConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "clinic.middleware.TypedTextCleanedMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "clinic.middleware.StaffPagesNotStoredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "clinic.middleware.WordsForEmptyErrorsMiddleware",
    "clinic.middleware.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"

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
                "clinic.context_processors.clinic",
            ],
        },
    },
]

# Database: SQLite under var/ by default, anything dj-database-url style otherwise.
# CONN_MAX_AGE is checked even where SQLite ignores it, so that a typo meant for
# production fails on a laptop too.
CONN_MAX_AGE = env_int("CONN_MAX_AGE", default=60)
DATABASE_URL = env.str(
    "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'clinic.sqlite3'}"
)
try:
    _database = env.db_url_config(DATABASE_URL)
except Exception as exc:  # environ raises a mix of exception types for bad URLs
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
if not _database.get("ENGINE"):
    raise ImproperlyConfigured(f"DATABASE_URL has an unknown scheme: {DATABASE_URL!r}")
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE makes a second writer wait at BEGIN, so the booking check and the
    # insert run as one serialised step (SQLite has no exclusion constraints).
    _database.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    _database["CONN_MAX_AGE"] = CONN_MAX_AGE
    _database["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _database}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "clinic.passwords.VariedPasswordValidator"},
]

# Sign-in throttling (django-axes): after CLINIC_LOGIN_ATTEMPTS failed tries for one
# username from one address, that pair is locked out for CLINIC_LOGIN_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# The settings register axes' records themselves (clinic/admin/signin.py).
AXES_ENABLE_ADMIN = False
AXES_FAILURE_LIMIT = env_int("CLINIC_LOGIN_ATTEMPTS", default=5, minimum=1)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int("CLINIC_LOGIN_COOLOFF_MINUTES", default=30, minimum=1)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = env_int("CLINIC_PROXY_COUNT", default=0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "clinic:dashboard"
LOGOUT_REDIRECT_URL = "login"

# Time: the whole clinic runs in one IANA zone; the database stores UTC.
LANGUAGE_CODE = "en-gb"
# Times on the 24-hour clock everywhere, the admin pages included.
FORMAT_MODULE_PATH = ["clinic.formats"]
CLINIC_TIME_ZONE = env.str("CLINIC_TIME_ZONE", default="Europe/London")
try:
    ZoneInfo(CLINIC_TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"CLINIC_TIME_ZONE must be an IANA time zone name such as "
        f"'Europe/London' or 'America/New_York', not {CLINIC_TIME_ZONE!r}."
    ) from None
TIME_ZONE = CLINIC_TIME_ZONE
USE_I18N = True
USE_TZ = True

# Sections that later apps add to the patient page: callables (request, patient)
# returning HTML. Keeps the core app free of imports from plans and aftercare.
CLINIC_PATIENT_PANELS = [
    "plans.views.plan.patient_plans_panel",
    "aftercare.views.patient_messages_panel",
]
# Notices that later apps add to the top of the Today page: callables (request)
# returning HTML, or "" when there is nothing to say.
CLINIC_TODAY_NOTICES = ["aftercare.views.late_emails_notice"]
# Functions (now, stdout) that add later apps' part of `manage.py seed_demo`.
CLINIC_DEMO_SEEDERS = ["plans.demo.seed"]
# Called inside the transaction of every booking change (see clinic.services.notify).
CLINIC_APPOINTMENT_LISTENERS = ["aftercare.services.on_appointment_event"]
# Called when a patient's details change in a way other apps follow (see
# clinic.services.save_patient_details).
CLINIC_PATIENT_LISTENERS = ["aftercare.services.on_patient_event"]

# The demo clinic's details, the defaults below: `check --deploy` warns while
# patients would read them in their emails (clinic.checks).
DEMO_CLINIC_DETAILS = {
    "CLINIC_NAME": "Clearskin Microneedling Clinic",
    "CLINIC_PHONE": "+44 20 7946 0000",
    "CLINIC_EMAIL": "hello@clinic.example",
    "CLINIC_EMAIL_DOMAIN": "clinic.example",
}
CLINIC_NAME = env.str("CLINIC_NAME", default=DEMO_CLINIC_DETAILS["CLINIC_NAME"])
CLINIC_PHONE = env.str("CLINIC_PHONE", default=DEMO_CLINIC_DETAILS["CLINIC_PHONE"])
CLINIC_EMAIL = env.str("CLINIC_EMAIL", default=DEMO_CLINIC_DETAILS["CLINIC_EMAIL"])
# Where patients come: in every email and in each calendar event's location.
# Empty by default, so that no clinic sends an address that isn't its own
# (`make run` gives the demo clinic one); `check --deploy` warns while empty.
CLINIC_ADDRESS = env.str("CLINIC_ADDRESS", default="").strip()

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = VAR_DIR / "media"
# Clinical photos: never under MEDIA_ROOT or any URL; served by a checked view.
# One machine keeps them in a folder; several share a private S3-compatible bucket.
# Its credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the
# machine's role, never from here. The S3 variables are checked even without a
# bucket, so that a half-done configuration fails instead of writing to local disk.
CLINIC_PRIVATE_MEDIA_ROOT = Path(
    env.str("CLINIC_PRIVATE_MEDIA_ROOT", default=str(VAR_DIR / "private"))
)
CLINIC_PHOTO_BUCKET = env.str("CLINIC_PHOTO_BUCKET", default="").strip()
if CLINIC_PHOTO_BUCKET and not re.fullmatch(
    r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", CLINIC_PHOTO_BUCKET
):
    raise ImproperlyConfigured(
        f"CLINIC_PHOTO_BUCKET must be a bucket name such as clinic-photos (3-63 "
        f"lowercase letters, digits, dots and hyphens), not {CLINIC_PHOTO_BUCKET!r}."
    )
_s3_endpoint = env.str("CLINIC_PHOTO_S3_ENDPOINT_URL", default="").strip()
_parsed_endpoint = urlparse(_s3_endpoint)
if _s3_endpoint and (
    _parsed_endpoint.scheme not in ("http", "https") or not _parsed_endpoint.hostname
):
    raise ImproperlyConfigured(
        f"CLINIC_PHOTO_S3_ENDPOINT_URL must look like https://s3.example.com or "
        f"http://minio.internal:9000, not {_s3_endpoint!r}."
    )
_s3_region = env.str("CLINIC_PHOTO_S3_REGION", default="").strip()
if _s3_region and not re.fullmatch(r"[a-z0-9-]+", _s3_region):
    raise ImproperlyConfigured(
        f"CLINIC_PHOTO_S3_REGION must be a region name such as eu-west-2, "
        f"not {_s3_region!r}."
    )
_s3_prefix = env.str("CLINIC_PHOTO_S3_PREFIX", default="clinic").strip().strip("/")
if _s3_prefix and not re.fullmatch(r"[\w-]+(/[\w-]+)*", _s3_prefix, re.ASCII):
    raise ImproperlyConfigured(
        f"CLINIC_PHOTO_S3_PREFIX must be a folder name such as clinic or "
        f"clinic/production (letters, digits, _ and -), not {_s3_prefix!r}."
    )
_S3_ENCRYPTION = {"aes256": "AES256", "aws:kms": "aws:kms", "off": None}
_s3_encryption = env.str("CLINIC_PHOTO_S3_ENCRYPTION", default="AES256").strip()
if _s3_encryption.lower() not in _S3_ENCRYPTION:
    raise ImproperlyConfigured(
        f"CLINIC_PHOTO_S3_ENCRYPTION must be AES256, aws:kms or off, "
        f"not {_s3_encryption!r}."
    )
_photos: dict = {"BACKEND": "plans.storage.PrivateFileSystemStorage"}
if not CLINIC_PHOTO_BUCKET:
    for _name in (
        "CLINIC_PHOTO_S3_ENDPOINT_URL",
        "CLINIC_PHOTO_S3_REGION",
        "CLINIC_PHOTO_S3_PREFIX",
        "CLINIC_PHOTO_S3_ENCRYPTION",
    ):
        if env.str(_name, default="").strip():
            raise ImproperlyConfigured(
                f"{_name} is set but CLINIC_PHOTO_BUCKET is not: set the bucket "
                f"to keep photos in it, or unset {_name}."
            )
else:
    _sse = _S3_ENCRYPTION[_s3_encryption.lower()]
    _photos = {
        # Private ACL, signed requests and no overwriting are fixed by the class.
        "BACKEND": "plans.storage.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": CLINIC_PHOTO_BUCKET,
            "endpoint_url": _s3_endpoint or None,
            "region_name": _s3_region or None,
            "location": _s3_prefix,
            "object_parameters": {"ServerSideEncryption": _sse} if _sse else {},
        },
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
    "photos": _photos,
}
CLINIC_PHOTO_MAX_BYTES = env_int("CLINIC_PHOTO_MAX_BYTES", default=15 * 1024 * 1024)
CLINIC_PHOTO_MAX_PIXELS = env_int("CLINIC_PHOTO_MAX_PIXELS", default=40_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Email: files under var/mail/ by default, so a newcomer can read what was sent.
EMAIL_URL = env.str("EMAIL_URL", default="")
try:
    _email = env.email_url_config(EMAIL_URL) if EMAIL_URL else {}
except ImproperlyConfigured as exc:
    raise ImproperlyConfigured(
        f"EMAIL_URL must look like smtp+tls://user:password@host:587 or "
        f"filemail:///path/to/folder ({exc})."
    ) from exc
EMAIL_BACKEND = _email.get(
    "EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend"
)
# environ drops the leading slash of filemail:///abs/path: read the path itself.
EMAIL_FILE_PATH = (
    urlparse(EMAIL_URL).path if EMAIL_URL.startswith("filemail:") else ""
) or str(VAR_DIR / "mail")
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", default=20, minimum=1)
# The Date header in the clinic's zone (+0000 or +0100 in London), not "-0000",
# which says the sender's zone is unknown.
EMAIL_USE_LOCALTIME = True
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default=f"{CLINIC_NAME} <{CLINIC_EMAIL}>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL


def _admins(raw: str) -> list[tuple[str, str]]:
    """CLINIC_ADMINS: "Name <address>" or addresses, separated by commas."""
    admins = []
    for name, address in getaddresses([raw]):
        try:
            validate_email(address)
        except ValidationError:
            raise ImproperlyConfigured(
                "CLINIC_ADMINS must be addresses separated by commas, such as "
                f"'Ops <ops@clinic.example>, it@clinic.example', not {raw!r}."
            ) from None
        admins.append((name or address, address))
    return admins


# Who gets an email when a page or a task fails (none by default).
ADMINS = _admins(env.str("CLINIC_ADMINS", default="").strip())
EMAIL_SUBJECT_PREFIX = f"[{CLINIC_NAME}] "

# Celery: kombu's filesystem transport by default (web, worker and beat share one
# folder on this machine); redis:// in production. The database holds every
# schedule, so the broker only ever carries "do this now" messages.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if "://" not in CELERY_BROKER_URL:
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL must be a broker URL such as redis://127.0.0.1:6379/0 "
        f"or filesystem://, not {CELERY_BROKER_URL!r}."
    )
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's, writing each message whole (see clinic/broker.py).
    CELERY_BROKER_TRANSPORT = "clinic.broker:Transport"
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
    # kombu expects the folders to exist; web, worker and beat all import this.
    for _folder in ("queue", "control", "processed"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CLINIC_DISPATCH_INTERVAL = env_int("CLINIC_DISPATCH_INTERVAL", default=30, minimum=5)
CELERY_BEAT_SCHEDULE = {
    "dispatch-patient-emails": {
        "task": "aftercare.tasks.dispatch_due_reminders",
        "schedule": CLINIC_DISPATCH_INTERVAL,
        # A tick that no worker took in time is dropped: the next one covers it.
        "options": {"expires": CLINIC_DISPATCH_INTERVAL},
    },
}

# Patient emails.
CLINIC_BASE_URL = env.str("CLINIC_BASE_URL", default="http://127.0.0.1:8000")
CLINIC_EMAIL_DOMAIN = env.str(
    "CLINIC_EMAIL_DOMAIN", default=DEMO_CLINIC_DETAILS["CLINIC_EMAIL_DOMAIN"]
)
CLINIC_EMAIL_MAX_ATTEMPTS = env_int("CLINIC_EMAIL_MAX_ATTEMPTS", default=6, minimum=1)
# A worker holds the emails it claimed this long; rows still "sending" after it
# are shown to staff as "unknown". Keep it well above a batch's sending time.
CLINIC_EMAIL_LEASE_SECONDS = env_int(
    "CLINIC_EMAIL_LEASE_SECONDS", default=5 * 60, minimum=1
)
_quiet = env.str("CLINIC_QUIET_HOURS", default="").strip()
CLINIC_QUIET_HOURS = None
if _quiet:
    try:
        _start, _end = (time.fromisoformat(t.strip()) for t in _quiet.split("-"))
    except ValueError:
        raise ImproperlyConfigured(
            f"CLINIC_QUIET_HOURS must look like 21:00-08:00, not {_quiet!r}."
        ) from None
    CLINIC_QUIET_HOURS = (_start, _end)

# Security: strict by default once DEBUG is off (`manage.py check --deploy` clean).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", default=12 * 60 * 60, minimum=60)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe the app's own port over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int(
    "SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 60 * 60
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
CLINIC_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
X_FRAME_OPTIONS = "DENY"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").strip().upper()
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
if LOG_LEVEL not in _LOG_LEVELS:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, not {LOG_LEVEL!r}."
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusal_in_one_line": {"()": "clinic.errors.RefusalInOneLine"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["refusal_in_one_line"],
        },
        # ERRORs by mail to CLINIC_ADMINS, without patient data (clinic/errors.py).
        "mail_admins": {
            "()": "clinic.errors.ErrorEmailHandler",
            "filters": ["refusal_in_one_line"],
        },
    },
    "root": {"handlers": ["console", "mail_admins"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own handlers mail the request's form data: replaced by the
        # root's. Its records still reach the root.
        "django": {"handlers": [], "level": "INFO"},
        # A 403 is a refusal, not an error: one line, no traceback (the
        # handlers take the 400s of django.security's many loggers).
        "django.request": {"filters": ["refusal_in_one_line"]},
        # Anyone can send a wrong Host header: logged, not mailed.
        "django.security.DisallowedHost": {
            "handlers": ["console"],
            "propagate": False,
        },
    },
}

CSRF_FAILURE_VIEW = "clinic.views.system.csrf_failure"
