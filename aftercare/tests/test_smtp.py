"""Patient emails over real SMTP: Django's SMTP backend talks to an aiosmtpd
server on loopback, and the tests read back what arrived, or how the row
records a server that refuses."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from aftercare import services
from aftercare.calendar import appointment_uid
from aftercare.models import Kind, Reminder
from aftercare.tests.smtp_sink import Sink, free_port, running_sink
from clinic.models import Appointment, Patient
from clinic.tests.factories import AppointmentFactory, PatientFactory

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
Status = Reminder.Status


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as sink:
        yield sink


def use_smtp(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp(settings, sink: Sink) -> Sink:
    use_smtp(settings, sink.port)
    settings.CLINIC_EMAIL_MAX_ATTEMPTS = 3
    return sink


def due_reminder(
    kind: str = Kind.AFTERCARE_24H,
    *,
    patient: Patient | None = None,
    version: int = 0,
    due_at: datetime = NOW,
) -> Reminder:
    patient = patient or PatientFactory()
    appointment = AppointmentFactory(
        patient=patient,
        kind=Appointment.Kind.TREATMENT,
        start=NOW + timedelta(days=3),
        end=NOW + timedelta(days=3, hours=1),
    )
    return Reminder.objects.create(
        patient=patient,
        appointment=appointment,
        kind=kind,
        version=version,
        due_at=due_at,
    )


def attachment(message, content_type: str):
    parts = [
        p for p in message.iter_attachments() if p.get_content_type() == content_type
    ]
    assert len(parts) == 1
    return parts[0]


# What arrives


@pytest.mark.parametrize(
    ("kind", "version", "method", "status"),
    [
        (Kind.CONFIRMATION, 0, "REQUEST", "CONFIRMED"),
        (Kind.UPDATE, 2, "REQUEST", "CONFIRMED"),
        (Kind.CANCELLATION, 3, "CANCEL", "CANCELLED"),
    ],
)
def test_a_booking_email_arrives_with_both_parts_unsubscribe_headers_and_a_calendar(
    smtp, db, kind, version, method, status
):
    reminder = due_reminder(
        kind, patient=PatientFactory(first_name="Ada"), version=version
    )
    appointment = reminder.appointment
    if kind == Kind.UPDATE:
        # What an update tells: the appointment moved a day later.
        from clinic.models import AppointmentEvent

        AppointmentEvent.objects.create(
            appointment=appointment,
            action=AppointmentEvent.Action.MOVED,
            at=NOW - timedelta(hours=1),
            moved_from_start=appointment.start - timedelta(days=1),
            moved_from_end=appointment.end - timedelta(days=1),
            moved_from_practitioner=appointment.practitioner,
            moved_from_room=appointment.room,
            moved_to_start=appointment.start,
            moved_to_end=appointment.end,
            moved_to_practitioner=appointment.practitioner,
            moved_to_room=appointment.room,
        )

    report = services.dispatch_due(now=NOW)

    assert report.sent == 1
    reminder.refresh_from_db()
    assert reminder.status == Status.SENT
    [message] = smtp.messages
    assert message["Message-ID"] == reminder.message_id
    assert message["To"].addresses[0].addr_spec == reminder.patient.email
    assert message["From"].addresses[0].addr_spec == "hello@clinic.example"
    assert (
        message["Subject"]
        == {
            Kind.CONFIRMATION: "Your booking at Clearskin Microneedling Clinic",
            Kind.UPDATE: "Your booking at Clearskin Microneedling Clinic has changed",
            Kind.CANCELLATION: "Your booking at Clearskin Microneedling Clinic "
            "is cancelled",
        }[kind]
    )
    # Long, so folded onto its own line: compare without the folding space. The
    # token carries the signing time, so check whom it names, not its exact text.
    header = message["List-Unsubscribe"].strip()
    assert header.startswith("<") and header.endswith(">")
    unsubscribe_url = header[1:-1]
    token = unsubscribe_url.rstrip("/").rsplit("/", 1)[1]
    assert services.patient_for_token(token) == reminder.patient
    assert unsubscribe_url == services.unsubscribe_url(reminder.patient).replace(
        services.unsubscribe_token(reminder.patient), token
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Hello Ada" in part
        assert unsubscribe_url in part
    assert "<html" in html

    ics = attachment(message, "text/calendar")
    assert ics.get_filename() == "appointment.ics"
    assert ics.get_param("method") == method
    calendar = Calendar.from_ical(ics.get_content())
    assert calendar["METHOD"] == method
    [event] = calendar.walk("VEVENT")
    assert event["UID"] == appointment_uid(appointment)
    assert event["SEQUENCE"] == version
    assert event["STATUS"] == status
    # Written in UTC ("...Z"), equal to the booked times.
    assert event["DTSTART"].to_ical().endswith(b"Z")
    assert event["DTSTART"].dt == appointment.start
    assert event["DTEND"].dt == appointment.end
    assert event["DTSTART"].dt.utcoffset() == timedelta(0)
    # Addressed to the patient, with no reply asked for: the booking is made.
    attendee = event["ATTENDEE"]
    assert str(attendee) == f"mailto:{reminder.patient.email}"
    assert attendee.params["CN"] == reminder.patient.full_name
    assert attendee.params["RSVP"] == "FALSE"
    assert attendee.params.get("PARTSTAT") == (
        None if method == "CANCEL" else "ACCEPTED"
    )


def test_an_aftercare_email_arrives_without_a_calendar_file(smtp, db):
    reminder = due_reminder(Kind.AFTERCARE_24H)

    services.dispatch_due(now=NOW)

    [message] = smtp.messages
    assert message["Subject"] == "Aftercare: swimming and exercise are fine again"
    assert list(message.iter_attachments()) == []
    assert (
        "You can swim and exercise again" in message.get_body(("plain",)).get_content()
    )
    reminder.refresh_from_db()
    assert reminder.message_id == message["Message-ID"]


def test_a_batch_goes_out_over_one_connection_each_email_once(smtp, db):
    reminders = [due_reminder() for _ in range(5)]

    services.dispatch_due(now=NOW)
    services.dispatch_due(now=NOW + timedelta(minutes=5))

    assert smtp.count() == 5
    ids = smtp.message_ids()
    for reminder in reminders:
        reminder.refresh_from_db()
        assert reminder.status == Status.SENT
        assert ids[reminder.message_id] == 1


# Failing SMTP


def test_a_refused_connection_is_retried_with_backoff_then_fails(settings, db):
    use_smtp(settings, free_port())  # Nothing listens there.
    settings.CLINIC_EMAIL_MAX_ATTEMPTS = 3
    reminder = due_reminder()

    report = services.dispatch_due(now=NOW)

    assert report.retried == 1
    reminder.refresh_from_db()
    assert reminder.status == Status.SCHEDULED
    assert reminder.attempts == 1
    assert reminder.next_attempt_at == NOW + timedelta(minutes=1)
    assert "ConnectionRefusedError" in reminder.last_error

    # Not before its next attempt.
    assert services.dispatch_due(now=NOW + timedelta(seconds=59)).claimed == 0
    services.dispatch_due(now=NOW + timedelta(minutes=1))
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (Status.SCHEDULED, 2)
    assert reminder.next_attempt_at == NOW + timedelta(minutes=1 + 2)

    report = services.dispatch_due(now=NOW + timedelta(minutes=3))

    assert report.failed == 1
    reminder.refresh_from_db()
    assert reminder.status == Status.FAILED
    assert reminder.attempts == 3
    assert reminder.last_error.startswith("Gave up after 3 attempts: ")
    assert "ConnectionRefusedError" in reminder.last_error
    assert reminder.lease_until is None


def test_a_temporary_refusal_of_the_message_is_retried_then_sent(smtp, db):
    smtp.data_reply = "451 4.3.0 Mail server busy, try later"
    reminder = due_reminder()

    report = services.dispatch_due(now=NOW)

    assert report.retried == 1
    reminder.refresh_from_db()
    assert reminder.status == Status.SCHEDULED
    assert reminder.attempts == 1
    assert reminder.next_attempt_at == NOW + timedelta(minutes=1)
    assert reminder.last_error.startswith("451 ")
    assert "try later" in reminder.last_error
    assert smtp.count() == 0

    smtp.data_reply = ""
    services.dispatch_due(now=NOW + timedelta(minutes=1))

    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (Status.SENT, 2)
    assert reminder.last_error == ""
    assert smtp.message_ids() == {reminder.message_id: 1}


def test_a_greylisted_recipient_is_retried_not_failed(smtp, db):
    reminder = due_reminder()
    smtp.refuse[reminder.patient.email] = "450 4.2.0 Greylisted, come back later"

    report = services.dispatch_due(now=NOW)

    assert report.retried == 1
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (Status.SCHEDULED, 1)
    assert "Greylisted" in reminder.last_error

    del smtp.refuse[reminder.patient.email]
    services.dispatch_due(now=NOW + timedelta(minutes=1))

    reminder.refresh_from_db()
    assert reminder.status == Status.SENT
    assert smtp.count() == 1


def test_a_permanent_refusal_of_the_message_fails_at_once(smtp, db):
    smtp.data_reply = "554 5.6.0 Message rejected as spam"
    reminder = due_reminder()

    report = services.dispatch_due(now=NOW)

    assert report.failed == 1
    reminder.refresh_from_db()
    assert reminder.status == Status.FAILED
    assert reminder.attempts == 1
    assert reminder.last_error.startswith("554 ")
    assert "rejected as spam" in reminder.last_error
    assert reminder.lease_until is None

    smtp.data_reply = ""
    assert services.dispatch_due(now=NOW + timedelta(hours=2)).claimed == 0
    assert smtp.count() == 0


def test_a_refused_address_fails_at_once_and_the_rest_of_the_batch_goes_out(smtp, db):
    before = due_reminder(due_at=NOW - timedelta(minutes=2))
    refused = due_reminder(due_at=NOW - timedelta(minutes=1))
    after = due_reminder(due_at=NOW)
    smtp.refuse[refused.patient.email] = "550 5.1.1 No such mailbox here"

    report = services.dispatch_due(now=NOW)

    assert (report.sent, report.failed, report.retried) == (2, 1, 0)
    refused.refresh_from_db()
    assert refused.status == Status.FAILED
    assert refused.attempts == 1
    assert refused.last_error.startswith("The address was refused: ")
    assert refused.patient.email in refused.last_error
    assert "No such mailbox here" in refused.last_error
    assert smtp.recipients() == {before.patient.email: 1, after.patient.email: 1}
    for reminder in (before, after):
        reminder.refresh_from_db()
        assert reminder.status == Status.SENT
