import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

REPO = Path(__file__).resolve().parents[2]
SETUP = (
    "import django, os; "
    "os.environ['DJANGO_SETTINGS_MODULE'] = 'clinic.settings'; "
    "django.setup()"
)
SHOW = (
    "; import json; from django.conf import settings as s; print(json.dumps({"
    "'DEBUG': s.DEBUG, 'TIME_ZONE': s.TIME_ZONE, "
    "'ENGINE': s.DATABASES['default']['ENGINE'], "
    "'NAME': s.DATABASES['default']['NAME'], "
    "'CONN_MAX_AGE': s.DATABASES['default'].get('CONN_MAX_AGE'), "
    "'EMAIL_BACKEND': s.EMAIL_BACKEND, 'EMAIL_HOST': s.EMAIL_HOST, "
    "'EMAIL_USE_TLS': s.EMAIL_USE_TLS, 'BROKER': s.CELERY_BROKER_URL, "
    "'TRANSPORT': getattr(s, 'CELERY_BROKER_TRANSPORT', None)}))"
)


def set_up_django(
    tmp_path: Path, code: str = SETUP, *, debug: str | None = "1", **variables: str
):
    """Start Django in a fresh interpreter with only these environment variables
    (and DEBUG as ``debug``; None leaves it unset)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "CLINIC_VAR_DIR": str(tmp_path),
        **({} if debug is None else {"DEBUG": debug}),
        **variables,
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"CLINIC_TIME_ZONE": "Mars/Olympus"}, "CLINIC_TIME_ZONE"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"DEBUG": "0"}, "SECRET_KEY"),
        ({"EMAIL_URL": "bogus://x"}, "EMAIL_URL"),
        ({"CELERY_BROKER_URL": "justtext"}, "CELERY_BROKER_URL"),
        ({"CONN_MAX_AGE": "abc"}, "CONN_MAX_AGE"),
        ({"EMAIL_TIMEOUT": "0"}, "EMAIL_TIMEOUT"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
        # Photos in a bucket (plans/tests/test_photo_storage_s3.py).
        ({"CLINIC_PHOTO_BUCKET": "s3://clinic-photos"}, "CLINIC_PHOTO_BUCKET"),
        ({"CLINIC_PHOTO_BUCKET": "Clinic_Photos"}, "CLINIC_PHOTO_BUCKET"),
        (
            {
                "CLINIC_PHOTO_BUCKET": "photos",
                "CLINIC_PHOTO_S3_ENDPOINT_URL": "minio.internal:9000",
            },
            "CLINIC_PHOTO_S3_ENDPOINT_URL",
        ),
        (
            {"CLINIC_PHOTO_BUCKET": "photos", "CLINIC_PHOTO_S3_REGION": "EU West"},
            "CLINIC_PHOTO_S3_REGION",
        ),
        (
            {"CLINIC_PHOTO_BUCKET": "photos", "CLINIC_PHOTO_S3_PREFIX": "../up"},
            "CLINIC_PHOTO_S3_PREFIX",
        ),
        (
            {"CLINIC_PHOTO_BUCKET": "photos", "CLINIC_PHOTO_S3_ENCRYPTION": "yes"},
            "CLINIC_PHOTO_S3_ENCRYPTION",
        ),
        # Half a configuration would quietly keep photos on one machine's disk.
        ({"CLINIC_PHOTO_S3_REGION": "eu-west-2"}, "CLINIC_PHOTO_BUCKET"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, dict) else None,
)
def test_a_bad_setting_stops_django_with_a_message_naming_it(
    tmp_path, variables, named
):
    result = set_up_django(tmp_path, **variables)

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: ")
    assert named in last_line


def test_without_any_variables_django_is_in_production_and_asks_for_a_secret_key(
    tmp_path,
):
    """A server started with nothing set shows no debug page and signs nothing
    with a key anyone can read."""
    result = set_up_django(tmp_path, debug=None)

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "SECRET_KEY must be set when DEBUG is off" in last_line


def test_development_starts_with_debug_alone(tmp_path):
    result = set_up_django(tmp_path, code=SETUP + SHOW)

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["DEBUG"] is True
    assert shown["TIME_ZONE"] == "Europe/London"
    assert shown["ENGINE"] == "django.db.backends.sqlite3"
    assert shown["NAME"] == str(tmp_path / "clinic.sqlite3")
    assert shown["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert shown["BROKER"] == "filesystem://"
    # kombu's, writing each message whole (clinic/broker.py).
    assert shown["TRANSPORT"] == "clinic.broker:Transport"


def test_a_production_configuration_is_read_as_written(tmp_path):
    result = set_up_django(
        tmp_path,
        code=SETUP + SHOW,
        DEBUG="off",
        SECRET_KEY="a-long-random-production-secret-key-0123456789",
        ALLOWED_HOSTS="clinic.example",
        CLINIC_TIME_ZONE="America/New_York",
        DATABASE_URL="postgres://clinic:secret@db.internal:5432/clinic",
        CONN_MAX_AGE="120",
        EMAIL_URL="smtp+tls://mailer:secret@smtp.internal:587",
        CELERY_BROKER_URL="redis://cache.internal:6379/0",
        LOG_LEVEL="warning",
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "TIME_ZONE": "America/New_York",
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "clinic",
        "CONN_MAX_AGE": 120,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.internal",
        "EMAIL_USE_TLS": True,
        "BROKER": "redis://cache.internal:6379/0",
        "TRANSPORT": None,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path,status",
    [
        ("/static/css/clinic.css", 200),
        ("/static/%2e%2e/manage.py", 404),
        ("/static/../manage.py", 404),
    ],
)
def test_the_development_server_serves_static_files_as_production_does(
    path, status, settings
):
    """`make run` serves through `runserver`: its handler must answer a crafted
    static path with a 404, as WhiteNoise in production does, not a 500."""
    from django.core.management import get_commands, load_command_class
    from django.test import RequestFactory

    settings.DEBUG = True
    runserver = load_command_class(get_commands()["runserver"], "runserver")
    # As `manage.py runserver` runs it, with its default options.
    options = runserver.create_parser("manage.py", "runserver").parse_args([])
    handler = runserver.get_handler(**vars(options))
    environ = RequestFactory().get("/").environ | {"PATH_INFO": path}
    statuses = []

    body = handler(environ, lambda status, headers, *args: statuses.append(status))
    b"".join(body)

    assert int(statuses[0].split()[0]) == status


@pytest.mark.parametrize(
    "name", ["clinic:dashboard", "clinic:patient_list", "clinic:calendar_day"]
)
def test_pages_for_staff_are_not_kept_by_browsers_or_proxies(client, front_desk, name):
    """A shared front-desk computer keeps no copy of patients' pages."""
    client.force_login(front_desk)

    response = client.get(reverse(name))

    cache = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store", "no-cache"} <= cache


def test_the_sign_in_page_keeps_its_own_cache_header(client):
    response = client.get(reverse("login"))

    assert "no-store" in response["Cache-Control"]
