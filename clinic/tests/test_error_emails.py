"""When a page or a task fails, the people who run the app get an email with
what they need to fix it, and none of the patient's data."""

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse
from django.views.debug import get_exception_reporter_filter

from clinic import services
from clinic.celery import app
from clinic.settings import _admins

ADMINS = [("Ops", "ops@clinic.example")]
MARY = {
    "first_name": "Mary",
    "last_name": "Seacole",
    "date_of_birth": "1985-11-23",
    "email": "mary.seacole@example.com",
    "notes": "Allergic to lidocaine",
}


def register_and_fail(front_desk, monkeypatch) -> Client:
    """The registration page crashes while saving Mary Seacole, as PostgreSQL
    reports a broken constraint: quoting her row, inside a database error."""

    row = ", ".join(MARY.values())

    def broken():
        # (The code lines go into the email: the patient's data stays in ``row``.)
        try:
            raise ValueError(f"DETAIL: Failing row contains ({row})")
        except ValueError as cause:
            raise IntegrityError(f"check constraint violated ({row})") from cause

    monkeypatch.setattr(services, "hold_registration_lock", broken)
    client = Client(raise_request_exception=False)
    client.force_login(front_desk)
    response = client.post(
        reverse("clinic:patient_create") + "?from=Seacole",
        {**MARY, "preferred_contact": "email"},
    )
    assert response.status_code == 500
    return client


def test_a_failing_page_emails_the_error_without_the_patients_data(
    front_desk, monkeypatch, settings
):
    settings.ADMINS = ADMINS

    register_and_fail(front_desk, monkeypatch)

    [email] = mail.outbox
    assert email.to == ["ops@clinic.example"]
    assert email.subject.startswith(f"[{settings.CLINIC_NAME}] ERROR: Internal Server")
    body = email.body
    assert f"Request: POST {reverse('clinic:patient_create')}" in body
    assert f"Signed in as: {front_desk.username}" in body
    assert "django.db.utils.IntegrityError (message left out)" in body
    assert "Caused by:" in body
    assert "builtins.ValueError (message left out)" in body
    assert "Traceback (most recent call last)" in body
    assert "in broken" in body  # where it failed
    for patient_data in ("Mary", "Seacole", "1985", "example.com", "lidocaine"):
        assert patient_data not in body


def test_no_admins_no_email(front_desk, monkeypatch, settings):
    settings.ADMINS = []

    register_and_fail(front_desk, monkeypatch)

    assert mail.outbox == []


def test_a_wrong_host_header_is_not_mailed(client, settings):
    settings.ADMINS = ADMINS

    response = client.get("/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert mail.outbox == []


def test_a_failing_task_emails_the_error(settings, db):
    settings.ADMINS = ADMINS

    @app.task(name="clinic.tests.failing")
    def failing(patient_name):
        raise ValueError(f"no such room for {patient_name}")

    failing.apply(args=["Mary Seacole"])

    [email] = mail.outbox
    assert "Task clinic.tests.failing failed: ValueError" in email.subject
    assert "builtins.ValueError (message left out)" in email.body
    assert "Mary" not in email.body


@pytest.mark.parametrize(
    ("raw", "admins"),
    [
        ("", []),
        ("ops@clinic.example", [("ops@clinic.example", "ops@clinic.example")]),
        (
            "Ops <ops@clinic.example>, it@clinic.example",
            [("Ops", "ops@clinic.example"), ("it@clinic.example", "it@clinic.example")],
        ),
    ],
)
def test_admins_are_read_from_one_setting(raw, admins):
    assert _admins(raw) == admins


def test_a_bad_admins_setting_says_what_it_should_be():
    with pytest.raises(ImproperlyConfigured, match="addresses separated by commas"):
        _admins("ops at clinic")


def test_a_refused_page_is_one_line_in_the_log_not_a_traceback(
    client, front_desk, caplog
):
    client.force_login(front_desk)

    with caplog.at_level("WARNING", logger="django.request"):
        response = client.get(reverse("clinic:access_log"))

    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Forbidden (Permission denied): /access-log/"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_a_failing_page_keeps_its_traceback_in_the_log(front_desk, monkeypatch, caplog):
    with caplog.at_level("ERROR", logger="django.request"):
        register_and_fail(front_desk, monkeypatch)

    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is not None


def test_a_tampered_admin_filter_is_one_line_in_the_log(client, manager):
    """Django answers 400 (a lookup the admin doesn't allow) and logs it as
    suspicious, on a logger of its own: the log's handlers write a refusal
    without its traceback."""
    import logging

    manager.is_staff = True
    manager.save(update_fields=["is_staff"])
    client.force_login(manager)
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record)

    console = next(
        h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler
    )
    keep = Keep()
    keep.filters = console.filters
    logging.getLogger().addHandler(keep)
    try:
        response = client.get(
            reverse("admin:auth_user_changelist"),
            {"password__startswith": "pbkdf2"},
        )
    finally:
        logging.getLogger().removeHandler(keep)

    assert response.status_code == 400
    [record] = [r for r in seen if r.name.startswith("django.security")]
    assert record.exc_info is None


def test_a_debug_page_hides_the_passwords_inside_url_settings(settings):
    settings.DATABASE_URL = "postgres://clinic:db-secret@db.internal:5432/clinic"
    settings.EMAIL_URL = "smtp+tls://mailer:mail-secret@smtp.internal:587"
    settings.CELERY_BROKER_URL = "redis://:broker-secret@cache.internal:6379/0"
    settings.CLINIC_BASE_URL = "https://clinic.example"

    shown = get_exception_reporter_filter(None).get_safe_settings()

    assert (
        shown["DATABASE_URL"]
        == "postgres://clinic:********************@db.internal:5432/clinic"
    )
    assert (
        shown["EMAIL_URL"] == "smtp+tls://mailer:********************@smtp.internal:587"
    )
    assert (
        shown["CELERY_BROKER_URL"]
        == "redis://:********************@cache.internal:6379/0"
    )
    assert shown["CLINIC_BASE_URL"] == "https://clinic.example"
    for password in ("db-secret", "mail-secret", "broker-secret"):
        assert password not in repr(shown)
