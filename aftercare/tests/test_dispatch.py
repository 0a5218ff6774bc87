"""Sending due emails: once, in order, on time, and visibly when it fails."""

import email
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from email import policy
from email.message import EmailMessage as ParsedMessage
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from icalendar import Calendar

from aftercare import services
from aftercare.models import AFTERCARE, CopyReason, Kind, Reminder, ReminderRule
from aftercare.services import OutboxError
from aftercare.tasks import dispatch_due_reminders
from clinic.models import Appointment, Consultation, Patient, screened
from clinic.services import (
    book_appointment,
    cancel_appointment,
    complete_appointment,
    record_consultation,
    reschedule_appointment,
)
from clinic.tests.factories import AppointmentFactory, PatientFactory, open_clinic
from plans.services import (
    Scope,
    SeriesRequest,
    book_series,
    cancel_plan,
    cancel_session,
    move_sessions,
    propose_for_plan,
)
from plans.tests.factories import ConsultationFactory, TreatmentPlanFactory
from plans.tests.record_factories import add_session, make_plan, signed

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# A Monday morning; the consultation under test is on Thursday.
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)
THURSDAY = datetime(2026, 11, 26, 10, 0, tzinfo=LONDON)
NEXT_THURSDAY = datetime(2026, 12, 3, 10, 0, tzinfo=LONDON)
Status = Reminder.Status
BACKENDS = "aftercare.tests.backends"


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def london(settings) -> None:
    settings.TIME_ZONE = "Europe/London"
    settings.CLINIC_QUIET_HOURS = None
    settings.CLINIC_EMAIL_MAX_ATTEMPTS = 3


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def dispatch(frozen) -> Callable[[datetime], services.DispatchReport]:
    """Travel to ``moment`` and run one dispatch there, as beat would."""

    def dispatch(moment: datetime, **kwargs) -> services.DispatchReport:
        frozen.move_to(moment)
        return services.dispatch_due(now=moment, **kwargs)

    return dispatch


@pytest.fixture
def clinic(practitioner, other_practitioner) -> None:
    open_clinic(practitioner, other_practitioner)


@pytest.fixture
def book(clinic, patient, practitioner, room, front_desk) -> Callable[..., Appointment]:
    """book_appointment(): Ada's consultation on Thursday 10:00-11:00, unless told."""

    def book(start: datetime = THURSDAY, **kwargs) -> Appointment:
        arguments = {
            "patient": patient,
            "practitioner": practitioner,
            "room": room,
            "start": start,
            "end": start + HOUR,
            "kind": Appointment.Kind.CONSULTATION,
            "booked_by": front_desk,
            "now": NOW,
        } | kwargs
        return book_appointment(**arguments)

    return book


def move(appointment: Appointment, start: datetime, room, by) -> None:
    """reschedule_appointment(): an hour from ``start`` in ``room``, an hour
    after NOW, with the same practitioner."""
    reschedule_appointment(
        appointment=appointment,
        start=start,
        end=start + HOUR,
        practitioner=appointment.practitioner,
        room=room,
        by=by,
        now=NOW + HOUR,
    )


def row(kind: str, **filters) -> Reminder:
    return Reminder.objects.get(kind=kind, **filters)


def parse(message) -> ParsedMessage:
    """The message as a mail program receives it."""
    return email.message_from_bytes(message.message().as_bytes(), policy=policy.default)


def text_of(message) -> str:
    return parse(message).get_body(("plain",)).get_content()


def html_of(message) -> str:
    return parse(message).get_body(("html",)).get_content()


def calendar_parts(message) -> list:
    return [
        part
        for part in parse(message).walk()
        if part.get_content_type() == "text/calendar"
    ]


def calendar_text(message) -> str:
    [part] = calendar_parts(message)
    return part.get_content()


def calendars(message) -> list[Calendar]:
    return [Calendar.from_ical(part.get_content()) for part in calendar_parts(message)]


def events(message) -> list:
    """The events of the message's calendar files, one file per event."""
    found = []
    for calendar in calendars(message):
        assert str(calendar["version"]) == "2.0"
        assert calendar["prodid"]
        [event] = calendar.walk("VEVENT")
        for required in ("uid", "dtstamp", "dtstart", "dtend", "sequence"):
            assert required in event
        found.append(event)
    return found


def method(message) -> str:
    """The scheduling method, the same in every calendar file and part."""
    methods = {str(calendar["method"]) for calendar in calendars(message)}
    methods |= {part.get_param("method") for part in calendar_parts(message)}
    [found] = methods
    return found


# Sending once ---------------------------------------------------------------------


def test_a_due_email_is_sent_once_however_often_dispatch_runs(
    book, dispatch, mailoutbox
):
    book()

    first = dispatch(NOW)
    second = dispatch(NOW)
    dispatch(NOW + MINUTE)

    assert len(mailoutbox) == 1
    assert (first.sent, second.sent, second.claimed) == (1, 0, 0)
    confirmation = row(Kind.CONFIRMATION)
    assert confirmation.status == Status.SENT
    assert confirmation.sent_at == NOW
    assert confirmation.attempts == 1
    assert confirmation.message_id == mailoutbox[0].extra_headers["Message-ID"]
    assert confirmation.sent_to == mailoutbox[0].to[0] != ""
    assert row(Kind.REMINDER).status == Status.SCHEDULED


def test_the_dispatch_task_reports_what_it_did(book, frozen, mailoutbox):
    book()
    frozen.move_to(NOW + MINUTE)

    assert dispatch_due_reminders() == {
        "claimed": 1,
        "sent": 1,
        "failed": 0,
        "retried": 0,
        "skipped": 0,
        "unknown": 0,
    }
    assert len(mailoutbox) == 1


def test_an_email_is_not_sent_before_it_is_due(book, dispatch, mailoutbox):
    book()
    dispatch(NOW)

    dispatch(THURSDAY - DAY - MINUTE)
    assert len(mailoutbox) == 1

    dispatch(THURSDAY - DAY)
    assert len(mailoutbox) == 2
    assert row(Kind.REMINDER).status == Status.SENT


def test_dispatch_works_through_every_due_row_in_batches(
    practitioner, room, dispatch, mailoutbox
):
    for hour in range(25):
        appointment = AppointmentFactory(
            practitioner=practitioner, room=room, start=THURSDAY + hour * HOUR
        )
        services.plan_booking([appointment], now=NOW)

    report = dispatch(NOW, batch_size=10)

    assert (report.claimed, report.sent) == (25, 25)
    assert len(mailoutbox) == 25
    assert not Reminder.objects.filter(kind=Kind.CONFIRMATION).exclude(
        status=Status.SENT
    )


# Emails that should have gone out ---------------------------------------------------


def test_emails_not_sent_long_after_their_time_are_said_to_be_late(
    book, dispatch, settings
):
    settings.CLINIC_DISPATCH_INTERVAL = 30
    book()  # Its confirmation is due at once.

    assert services.late_emails(NOW + 9 * MINUTE) is None  # beat may be slow
    late = services.late_emails(NOW + 11 * MINUTE)
    assert (late.count, late.since) == (1, NOW)

    dispatch(NOW + 12 * MINUTE)
    assert services.late_emails(NOW + 12 * MINUTE) is None


def test_emails_planned_already_due_wait_from_when_they_were_planned(
    practitioner, patient, room, frozen
):
    session = add_session(
        make_plan(practitioner, patient=patient), local(2026, 11, 24, 10), room
    )
    late = SESSION_END + 13 * HOUR  # signed the next morning
    frozen.move_to(late)
    signed(session, practitioner.user, now=late, ended_at=SESSION_END)

    assert services.late_emails(late + 5 * MINUTE) is None
    found = services.late_emails(late + 11 * MINUTE)
    assert (found.count, found.since) == (2, late)  # the guide and the 12 h step


def test_emails_held_back_on_purpose_are_not_late(completed, dispatch, quiet_nights):
    dispatch(SESSION_END)  # The guide goes; the 12 h step is due at 23:00.
    ReminderRule.objects.filter(kind=Kind.AFTERCARE_24H).update(enabled=False)

    # At night the 12 h step waits for the morning; the 24 h one for its rule.
    assert services.late_emails(local(2026, 11, 25, 7, 59)) is None
    # Released at 08:00: late only once the morning's dispatches had their time.
    assert services.late_emails(local(2026, 11, 25, 8, 5)) is None
    assert services.late_emails(SESSION_END + 30 * HOUR) == services.Late(
        count=1, since=SESSION_END + 12 * HOUR
    )


# What each email holds --------------------------------------------------------------


def test_every_email_has_both_parts_the_patient_the_clinic_and_one_click_unsubscribe(
    book, dispatch, mailoutbox, patient, settings
):
    settings.CLINIC_ADDRESS = "4 Mill Lane, Manchester M1 1AA"
    book()
    dispatch(NOW)
    dispatch(THURSDAY - DAY)

    assert [m.subject for m in mailoutbox] == [
        f"Your booking at {settings.CLINIC_NAME}",
        f"See you on Thursday 26 November 2026 at {settings.CLINIC_NAME}",
    ]
    for message in mailoutbox:
        assert message.to == [patient.email]
        text, html = text_of(message), html_of(message)
        for part in (text, html):
            assert "Hello Ada" in part
            assert settings.CLINIC_NAME in part
            assert settings.CLINIC_PHONE in part
            assert settings.CLINIC_ADDRESS in part
        assert "Thursday 26 November 2026" in text
        # Read on a phone at its own width, with the number to call a tap away.
        assert '<meta name="viewport" content="width=device-width' in html
        assert 'href="tel:+442079460000"' in html
        assert f'href="mailto:{settings.CLINIC_EMAIL}"' in html
        headers = parse(message)
        url = headers["List-Unsubscribe"].strip().strip("<>")
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # Dated in the clinic's zone: "-0000" would say it is unknown.
        assert headers["Date"].endswith(" +0000")
        assert url in text
        assert url in html
        token = url.rstrip("/").rsplit("/", 1)[-1]
        assert services.patient_for_token(token) == patient
        assert "\n" not in message.subject


def test_the_confirmation_carries_the_appointment_as_a_calendar_event_in_utc(
    book, dispatch, mailoutbox, settings
):
    settings.CLINIC_ADDRESS = "4 Mill Lane, Manchester M1 1AA"
    appointment = book()
    dispatch(NOW)

    [message] = mailoutbox
    assert method(message) == "REQUEST"
    [event] = events(message)
    assert str(event["uid"]) == f"appointment-{appointment.pk}@clinic.example"
    assert event["sequence"] == 0
    assert str(event["status"]) == "CONFIRMED"
    assert event.decoded("dtstart") == THURSDAY
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert event.decoded("dtend") == THURSDAY + HOUR
    assert str(event["location"]) == (
        f"{settings.CLINIC_NAME}, {appointment.room}, {settings.CLINIC_ADDRESS}"
    )
    assert str(event["description"]) == (
        f"Consultation with {appointment.practitioner}. To change or cancel it, "
        f"call {settings.CLINIC_NAME} on {settings.CLINIC_PHONE}."
    )
    assert message.attachments[0].get_filename() == "appointment.ics"


def test_without_an_address_emails_and_events_leave_it_out(
    book, dispatch, mailoutbox, settings
):
    settings.CLINIC_ADDRESS = ""
    appointment = book()

    dispatch(NOW)

    [message] = mailoutbox
    [event] = events(message)
    assert str(event["location"]) == f"{settings.CLINIC_NAME}, {appointment.room}"
    assert f"{settings.CLINIC_NAME}\n{settings.CLINIC_PHONE}" in text_of(message)


@pytest.mark.parametrize(
    ("number", "link"),
    [
        ("+44 20 7946 0000", "+442079460000"),
        ("+44 (0)20 7946 0000", "+442079460000"),
        ("020 7946 0000", "02079460000"),
    ],
)
def test_the_clinics_phone_is_linked_as_a_phone_dials_it(number, link):
    from aftercare.emails import phone_link

    assert phone_link(number) == link


def test_a_cancelled_event_doesnt_ask_to_call_to_cancel_it(
    book, dispatch, mailoutbox, front_desk
):
    appointment = book()
    dispatch(NOW)
    cancel_appointment(
        appointment=appointment, by=front_desk, reason="Unwell", now=NOW + HOUR
    )

    dispatch(NOW + HOUR)

    confirmation, cancellation = mailoutbox
    assert "To change or cancel it" in str(events(confirmation)[0]["description"])
    assert "description" not in events(cancellation)[0]


def test_calendar_times_in_summer_are_converted_to_utc(
    clinic, patient, practitioner, room, front_desk, dispatch, mailoutbox
):
    summer_now = local(2026, 6, 1, 8)
    start = local(2026, 6, 4, 10)  # 09:00 UTC
    book_appointment(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=start,
        end=start + HOUR,
        kind=Appointment.Kind.CONSULTATION,
        booked_by=front_desk,
        now=summer_now,
    )

    dispatch(summer_now)

    [message] = mailoutbox
    [event] = events(message)
    assert event.decoded("dtstart") == datetime(2026, 6, 4, 9, tzinfo=UTC)
    assert "DTSTART:20260604T090000Z" in calendar_text(message)


def test_a_move_and_a_cancellation_update_the_same_event_with_a_rising_sequence(
    book, dispatch, mailoutbox, practitioner, room, front_desk
):
    appointment = book()
    dispatch(NOW)
    new_start = local(2026, 11, 27, 14)
    move(appointment, new_start, room, front_desk)
    dispatch(NOW + HOUR)
    cancel_appointment(
        appointment=appointment, by=front_desk, reason="Unwell.", now=NOW + 2 * HOUR
    )
    dispatch(NOW + 2 * HOUR)

    confirmation, update, cancellation = mailoutbox
    assert "has changed" in update.subject
    assert "cancelled" in cancellation.subject
    assert [method(m) for m in mailoutbox] == ["REQUEST", "REQUEST", "CANCEL"]
    [first], [second], [third] = (events(m) for m in mailoutbox)
    assert str(first["uid"]) == str(second["uid"]) == str(third["uid"])
    assert [e["sequence"] for e in (first, second, third)] == [0, 1, 2]
    assert second.decoded("dtstart") == new_start
    assert str(third["status"]) == "CANCELLED"
    calendar_part = next(
        p for p in parse(cancellation).walk() if p.get_content_type() == "text/calendar"
    )
    assert calendar_part.get_param("method") == "CANCEL"
    # The reminder of the old time and of the new one: neither goes out.
    dispatch(new_start - DAY)
    assert len(mailoutbox) == 3


def test_an_update_names_the_time_each_appointment_was_moved_from(
    book, dispatch, mailoutbox, practitioner, room, other_room, front_desk, client
):
    appointment = book()
    dispatch(NOW)
    move(appointment, local(2026, 11, 27, 14), other_room, front_desk)

    dispatch(NOW + HOUR)

    update = mailoutbox[-1]
    assert "has changed" in update.subject
    # Moved to another room too: both are named.
    assert f"(was Thursday 26 November 2026, 10:00-11:00, in {room})" in text_of(update)
    assert f"was Thu 26 Nov 2026, 10:00-11:00, in {room}" in html_of(update)
    # The staff's preview shows the same.
    client.force_login(front_desk)
    preview = client.get(row(Kind.UPDATE, version=1).get_absolute_url())
    assert "was Thursday 26 November 2026, 10:00-11:00" in preview.content.decode()


def test_a_cancellation_after_an_untold_move_names_the_time_the_patient_knows(
    book, dispatch, mailoutbox, room, front_desk
):
    appointment = book()
    dispatch(NOW)  # Told: Thursday 10:00.
    move(appointment, THURSDAY + HOUR, room, front_desk)
    cancel_appointment(
        appointment=appointment, by=front_desk, reason="Phoned to cancel", now=NOW
    )

    dispatch(NOW + HOUR)

    [cancellation] = [m for m in mailoutbox if "cancelled" in m.subject]
    text = text_of(cancellation)
    assert "Thursday 26 November 2026, 10:00-11:00" in text
    assert "11:00-12:00" not in text
    [event] = events(cancellation)
    assert event["DTSTART"].dt == THURSDAY
    assert not [m for m in mailoutbox if "changed" in m.subject]


def test_an_update_of_a_booking_moved_away_and_back_is_not_sent(
    book, dispatch, mailoutbox, room, other_room, front_desk
):
    appointment = book()
    dispatch(NOW)  # Told: Thursday 10:00 in this room.
    move(appointment, THURSDAY, other_room, front_desk)
    move(appointment, THURSDAY, room, front_desk)

    dispatch(NOW + HOUR)

    assert [m.subject for m in mailoutbox if "changed" in m.subject] == []
    latest = Reminder.objects.filter(appointment=appointment, kind=Kind.UPDATE).last()
    assert latest.status == Status.SKIPPED
    assert latest.skip_reason == "the booking is where the patient last heard it was"


def test_an_update_of_length_only_names_the_time_it_was(
    book, dispatch, mailoutbox, practitioner, room, front_desk
):
    appointment = book()
    dispatch(NOW)
    reschedule_appointment(
        appointment=appointment,
        start=appointment.start,
        end=appointment.start + HOUR / 2,
        practitioner=practitioner,
        room=room,
        by=front_desk,
        now=NOW,
    )

    dispatch(NOW + HOUR)

    text = text_of(mailoutbox[-1])
    assert "10:00-10:30: Consultation" in text
    assert "(was Thursday 26 November 2026, 10:00-11:00)" in text


def test_an_update_of_room_only_names_the_room_it_was_in(
    book, dispatch, mailoutbox, practitioner, room, other_room, front_desk
):
    appointment = book()
    dispatch(NOW)
    move(appointment, THURSDAY, other_room, front_desk)

    dispatch(NOW + HOUR)

    text = text_of(mailoutbox[-1])
    assert f"(was in {room})" in text
    assert "(was Thursday" not in text
    assert f"was in {room}" in html_of(mailoutbox[-1])


def test_an_update_of_the_practitioner_from_one_session_on_says_who_it_was(
    book, dispatch, mailoutbox, practitioner, other_practitioner, room, front_desk
):
    """Change from here: the time stays, the practitioner changes."""
    appointment = book()
    dispatch(NOW)
    reschedule_appointment(
        appointment=appointment,
        start=appointment.start,
        end=appointment.end,
        practitioner=other_practitioner,
        room=room,
        by=front_desk,
        now=NOW,
    )

    dispatch(NOW + HOUR)

    text = text_of(mailoutbox[-1])
    assert f"with {other_practitioner}, {room} (was with {practitioner})" in text


def test_an_update_of_practitioner_and_room_names_both_as_the_session_line_does(
    book,
    dispatch,
    mailoutbox,
    practitioner,
    other_practitioner,
    room,
    other_room,
    front_desk,
):
    appointment = book()
    dispatch(NOW)
    reschedule_appointment(
        appointment=appointment,
        start=appointment.start,
        end=appointment.end,
        practitioner=other_practitioner,
        room=other_room,
        by=front_desk,
        now=NOW,
    )

    dispatch(NOW + HOUR)

    assert f"(was with {practitioner} in {room})" in text_of(mailoutbox[-1])


@pytest.fixture
def plan(clinic, patient, practitioner):
    return TreatmentPlanFactory(
        patient=patient, practitioner=practitioner, consented=True
    )


def book_whole_series(plan, room, front_desk) -> list:
    """Ada's six sessions from next Thursday, as proposed, booked at NOW."""
    proposals = propose_for_plan(
        plan=plan,
        request=SeriesRequest(
            first_start=NEXT_THURSDAY,
            practitioner=plan.practitioner,
            room=room,
            chosen={},
        ),
        now=NOW,
    )
    return book_series(
        plan=plan,
        proposals=proposals,
        practitioner=plan.practitioner,
        by=front_desk,
        now=NOW,
    )


def test_a_series_confirmation_has_one_event_per_session(
    plan, room, front_desk, dispatch, mailoutbox
):
    sessions = book_whole_series(plan, room, front_desk)

    dispatch(NOW)

    [message] = mailoutbox
    appointments = [s.appointment for s in sessions]
    found = events(message)
    assert [str(e["uid"]) for e in found] == [
        f"appointment-{a.pk}@clinic.example" for a in appointments
    ]
    assert [e.decoded("dtstart") for e in found] == [a.start for a in appointments]
    assert [part.get_filename() for part in message.attachments] == [
        f"appointment-{timezone.localdate(a.start):%Y-%m-%d}.ics" for a in appointments
    ]
    text = text_of(message)
    assert text.count("Treatment session with") == 6


@pytest.fixture
def booked_series(plan, room, front_desk, dispatch) -> list:
    """Six sessions of Ada's plan from next Thursday, confirmed."""
    sessions = book_whole_series(plan, room, front_desk)
    dispatch(NOW)
    return sessions


def move_third_and_following(third, front_desk, *, now) -> None:
    """Session 3 and the ones after it, a day later."""
    move_sessions(
        session=third,
        start=third.appointment.start + DAY,
        scope=Scope.FOLLOWING,
        by=front_desk,
        now=now,
    )


def test_moving_sessions_together_sends_one_update_with_each_sessions_sequence(
    booked_series, front_desk, dispatch, mailoutbox
):
    third = booked_series[2]
    # The last session alone first: its event is at sequence 1 before the big move.
    last = booked_series[5]
    move_sessions(
        session=last,
        start=last.appointment.start + DAY,
        scope=Scope.THIS,
        by=front_desk,
        now=NOW + HOUR,
    )
    dispatch(NOW + HOUR)
    mailoutbox.clear()

    move_third_and_following(third, front_desk, now=NOW + 2 * HOUR)
    dispatch(NOW + 2 * HOUR)

    [update] = mailoutbox
    assert "has changed" in update.subject
    moved = [s.appointment for s in booked_series[2:]]
    for appointment in moved:
        appointment.refresh_from_db()
    found = events(update)
    assert method(update) == "REQUEST"
    assert [str(e["uid"]) for e in found] == [
        f"appointment-{a.pk}@clinic.example" for a in moved
    ]
    assert [e.decoded("dtstart") for e in found] == [a.start for a in moved]
    assert [e["sequence"] for e in found] == [1, 1, 1, 2]
    assert text_of(update).count("Treatment session with") == 4
    rows = Reminder.objects.filter(kind=Kind.UPDATE, version__gt=0).order_by("id")
    included = [r for r in rows if r.status == Status.SKIPPED]
    assert len(included) == 3
    assert {r.skip_reason for r in included} == {
        "in one email with the other sessions changed"
    }


def test_the_others_still_hear_of_their_move_when_the_first_is_cancelled_before_it(
    booked_series, front_desk, dispatch, mailoutbox
):
    mailoutbox.clear()
    third = booked_series[2]
    move_third_and_following(third, front_desk, now=NOW + HOUR)
    # Before the dispatcher runs (workers down, say), session 3 is cancelled.
    third.refresh_from_db()
    cancel_session(
        session=third, reason="Unwell.", by=front_desk, now=NOW + HOUR + MINUTE
    )
    dispatch(NOW + HOUR + 2 * MINUTE)

    update = next(m for m in mailoutbox if "has changed" in m.subject)
    cancellation = next(m for m in mailoutbox if "cancelled" in m.subject)
    uids = [str(e["uid"]) for e in events(update)]
    assert uids == [
        f"appointment-{s.appointment.pk}@clinic.example" for s in booked_series[3:]
    ]
    assert [str(e["uid"]) for e in events(cancellation)] == [
        f"appointment-{third.appointment.pk}@clinic.example"
    ]
    assert len(mailoutbox) == 2


def test_an_update_leaves_out_a_session_cancelled_before_it_went_out(
    booked_series, front_desk, dispatch, mailoutbox
):
    mailoutbox.clear()
    third, fifth = booked_series[2], booked_series[4]
    move_third_and_following(third, front_desk, now=NOW + HOUR)
    fifth.refresh_from_db()
    cancel_session(
        session=fifth, reason="Unwell.", by=front_desk, now=NOW + HOUR + MINUTE
    )
    dispatch(NOW + HOUR + 2 * MINUTE)

    update = next(m for m in mailoutbox if "has changed" in m.subject)
    uids = [str(e["uid"]) for e in events(update)]
    assert f"appointment-{fifth.appointment.pk}@clinic.example" not in uids
    assert len(uids) == 3
    assert text_of(update).count("Treatment session with") == 3


def test_a_cancellation_names_the_session_booked_in_its_place(
    booked_series, front_desk, dispatch, mailoutbox
):
    mailoutbox.clear()
    third, fifth = booked_series[2], booked_series[4]
    replacement = cancel_session(
        session=third, reason="Unwell.", by=front_desk, replace=True, now=NOW + HOUR
    )
    cancel_session(session=fifth, reason="Away.", by=front_desk, now=NOW + HOUR)
    dispatch(NOW + HOUR + MINUTE)

    third_cancelled, fifth_cancelled = sorted(
        (m for m in mailoutbox if "cancelled" in m.subject),
        key=lambda m: str(events(m)[0]["dtstart"].dt),
    )
    when = timezone.localtime(replacement.appointment.start)
    assert f"Booked in its place: {when:%A} {when.day} {when:%B %Y, %H:%M}" in text_of(
        third_cancelled
    )
    assert (
        f"Booked in its place: <strong>{when:%a} {when.day} {when:%b %Y, %H:%M}"
        in html_of(third_cancelled)
    )
    # Its confirmation is an email of its own, with its calendar file.
    confirmation = next(m for m in mailoutbox if "cancelled" not in m.subject)
    assert [str(e["uid"]) for e in events(confirmation)] == [
        f"appointment-{replacement.appointment.pk}@clinic.example"
    ]
    # Nothing to book again: the new time is there.
    assert "To book again" not in text_of(third_cancelled)
    assert "If the new time doesn't suit you, please call us" in (
        text_of(third_cancelled)
    )
    # Cancelled without a replacement: nothing is said to be booked instead.
    assert "in its place" not in text_of(fifth_cancelled)
    assert "To book again, please call us on" in text_of(fifth_cancelled)
    assert len(mailoutbox) == 3


def test_a_cancellation_names_no_replacement_that_was_cancelled_too(
    booked_series, front_desk, dispatch, mailoutbox
):
    mailoutbox.clear()
    replacement = cancel_session(
        session=booked_series[2],
        reason="Unwell.",
        by=front_desk,
        replace=True,
        now=NOW + HOUR,
    )
    cancel_session(
        session=replacement, reason="Changed her mind.", by=front_desk, now=NOW + HOUR
    )
    dispatch(NOW + HOUR + MINUTE)

    cancellations = [m for m in mailoutbox if "cancelled" in m.subject]
    assert cancellations
    assert not any("in its place" in text_of(m) for m in cancellations)


def test_the_rest_of_a_series_is_confirmed_when_session_1_moves_before_it(
    plan, room, front_desk, dispatch, mailoutbox
):
    sessions = book_whole_series(plan, room, front_desk)
    first = sessions[0]
    move_sessions(
        session=first,
        start=first.appointment.start - DAY,
        scope=Scope.THIS,
        by=front_desk,
        now=NOW + MINUTE,
    )
    dispatch(NOW + 2 * MINUTE)

    # The patient never had a time for session 1 to be told it "was": it is
    # confirmed where it is now, in an email of its own.
    rest, moved = sorted(
        (m for m in mailoutbox if "Your booking at" in m.subject),
        key=lambda m: -len(events(m)),
    )
    assert [str(e["uid"]) for e in events(rest)] == [
        f"appointment-{s.appointment.pk}@clinic.example" for s in sessions[1:]
    ]
    assert [str(e["uid"]) for e in events(moved)] == [
        f"appointment-{first.appointment.pk}@clinic.example"
    ]
    assert not any("has changed" in m.subject for m in mailoutbox)
    assert len(mailoutbox) == 2


def test_cancelling_the_rest_of_a_plan_sends_one_cancellation(
    booked_series, plan, front_desk, dispatch, mailoutbox
):
    mailoutbox.clear()

    cancel_plan(plan=plan, reason="Moving abroad.", by=front_desk, now=NOW + HOUR)
    dispatch(NOW + HOUR)

    [cancellation] = mailoutbox
    assert "cancelled" in cancellation.subject
    # The text speaks of the whole booking, not of the first session alone.
    assert "The appointments listed below are cancelled" in cancellation.body
    sessions = [line for line in cancellation.body.splitlines() if line[:2] == "- "]
    assert len(sessions) == 6
    assert method(cancellation) == "CANCEL"
    found = events(cancellation)
    assert len(found) == 6
    assert {str(e["status"]) for e in found} == {"CANCELLED"}
    assert {e["sequence"] for e in found} == {1}


def test_appointments_of_different_patients_changed_together_get_an_email_each(
    practitioner, room, dispatch, mailoutbox
):
    first = AppointmentFactory(practitioner=practitioner, room=room, start=THURSDAY)
    second = AppointmentFactory(
        practitioner=practitioner, room=room, start=THURSDAY + 2 * HOUR
    )
    services.plan_booking([first], now=NOW)
    services.plan_booking([second], now=NOW)
    dispatch(NOW)  # Both patients have their confirmations.

    services.plan_cancellation([first, second], now=NOW)
    mailoutbox.clear()
    dispatch(NOW)

    assert sorted(m.to[0] for m in mailoutbox) == sorted(
        [first.patient.email, second.patient.email]
    )
    assert [len(events(m)) for m in mailoutbox] == [1, 1]


@pytest.mark.parametrize(
    ("medication", "note"),
    [
        ("tretinoin cream", "Please stop tretinoin cream 3 to 5 days before"),
        ("", None),
    ],
)
def test_pre_care_asks_to_stop_the_topical_medication_recorded_at_consultation(
    practitioner, patient, room, dispatch, mailoutbox, medication, note
):
    plan = make_plan(
        practitioner, patient=patient, consultation__topical_medication=medication
    )
    session = add_session(plan, NEXT_THURSDAY, room)
    services.plan_booking([session.appointment], now=NOW)

    dispatch(NEXT_THURSDAY - 5 * DAY)

    [message] = [m for m in mailoutbox if m.subject.startswith("Getting ready")]
    assert "Thursday 3 December 2026" in message.subject
    if note:
        assert note in text_of(message)
        assert note in html_of(message)
    else:
        assert "Please stop" not in text_of(message)


def test_a_reminder_saved_with_another_kinds_placeholders_says_nothing_of_them(
    practitioner, patient, room, dispatch, mailoutbox
):
    """A text saved before each kind had its own placeholders: the reminder
    doesn't ask to stop a medication now, nor to book again."""
    ReminderRule.objects.filter(kind=Kind.REMINDER).update(
        body="See you {date}.\n{medication_note}\n{rebook_note}"
    )
    plan = make_plan(
        practitioner, patient=patient, consultation__topical_medication="tretinoin"
    )
    session = add_session(plan, NEXT_THURSDAY, room)
    services.plan_booking([session.appointment], now=NOW)

    dispatch(NEXT_THURSDAY - 5 * DAY)
    dispatch(NEXT_THURSDAY - DAY)

    [reminder] = [m for m in mailoutbox if "See you" in text_of(m)]
    assert "tretinoin" not in text_of(reminder)
    assert "book again" not in text_of(reminder)
    assert "{" not in text_of(reminder)
    # The pre-care, whose own it is, still names it.
    [pre_care] = [m for m in mailoutbox if m.subject.startswith("Getting ready")]
    assert "Please stop tretinoin" in text_of(pre_care)


def test_pre_care_names_the_medication_of_the_latest_consultation(
    practitioner, patient, room, dispatch, mailoutbox
):
    plan = make_plan(
        practitioner, patient=patient, consultation__topical_medication="adapalene"
    )
    # Screened again since the plan began: another medication now.
    ConsultationFactory(patient=patient, topical_medication="tretinoin cream")
    session = add_session(plan, NEXT_THURSDAY, room)
    services.plan_booking([session.appointment], now=NOW)

    dispatch(NEXT_THURSDAY - 5 * DAY)

    [message] = [m for m in mailoutbox if m.subject.startswith("Getting ready")]
    assert "Please stop tretinoin cream 3 to 5 days before" in text_of(message)
    assert "adapalene" not in text_of(message)


def pre_care_sent(practitioner, patient, room, dispatch, medication: str = ""):
    """Next Thursday's session of a plan whose consultation names
    ``medication``, and its pre-care sent five days before."""
    plan = make_plan(
        practitioner, patient=patient, consultation__topical_medication=medication
    )
    session = add_session(plan, NEXT_THURSDAY, room)
    services.plan_booking([session.appointment], now=NOW)
    dispatch(NEXT_THURSDAY - 5 * DAY)
    return session


# The patient's consultation three days before that session.
SCREENED_AGAIN = local(2026, 11, 30, 9)


def screened_again(patient, practitioner, room, frozen) -> Consultation:
    """An eligible consultation, unsaved, of an appointment at SCREENED_AGAIN,
    with the clock an hour later."""
    visit = AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        kind=Appointment.Kind.CONSULTATION,
        start=SCREENED_AGAIN,
        end=SCREENED_AGAIN + HOUR / 2,
    )
    frozen.move_to(SCREENED_AGAIN + HOUR)
    return Consultation(
        appointment=visit,
        areas=["face"],
        goals=["lines"],
        decision=Consultation.Decision.ELIGIBLE,
        **screened(),
    )


def test_a_medication_recorded_after_the_pre_care_went_out_is_told_again(
    practitioner, patient, room, dispatch, mailoutbox, frozen
):
    """Screened again three days before a session whose pre-care named no
    medication: the pre-care goes again, naming the one to stop; saving the
    consultation again, or one that names none, sends nothing more."""
    session = pre_care_sent(practitioner, patient, room, dispatch)
    [first] = [m for m in mailoutbox if m.subject.startswith("Getting ready")]
    assert "Please stop" not in text_of(first)
    monday = SCREENED_AGAIN
    consultation = screened_again(patient, practitioner, room, frozen)

    def screen(medication: str) -> None:
        nonlocal consultation
        consultation.topical_medication = medication
        consultation = record_consultation(
            consultation=consultation, by=practitioner.user, now=monday + HOUR
        )

    screen("Tretinoin 0.5% cream")
    dispatch(monday + HOUR + MINUTE)
    # Ten minutes to correct a slip: the same email then names the correction.
    assert len([m for m in mailoutbox if "Getting ready" in m.subject]) == 1
    screen("Tretinoin 0.05% cream")
    screen("Tretinoin 0.05% cream")
    dispatch(monday + HOUR + 11 * MINUTE)

    [_, again] = [m for m in mailoutbox if "Getting ready" in m.subject]
    assert "Please stop Tretinoin 0.05% cream" in text_of(again)
    # The patient reads that it replaces the first, and why.
    assert again.subject.startswith("Updated: Getting ready")
    for part in (text_of(again), html_of(again)):
        assert "This email replaces our earlier one" in part
    copy = Reminder.objects.get(copy_of__isnull=False)
    assert (copy.appointment, copy.kind, copy.status, copy.copy_reason) == (
        session.appointment,
        Kind.PRE_CARE,
        Status.SENT,
        CopyReason.MEDICATION_CHANGED,
    )
    assert "0.5%" not in text_of(again)
    screen("")
    dispatch(monday + HOUR + 30 * MINUTE)
    assert Reminder.objects.filter(copy_of__isnull=False).count() == 1


@pytest.mark.parametrize(
    ("named", "slip"),
    [("", "Adapalene 0.1% gel"), ("Tretinoin 0.05% cream", "Tretinoin 0.5% cream")],
)
def test_a_medication_changed_and_changed_back_before_the_copy_goes_sends_nothing(
    practitioner, patient, room, dispatch, mailoutbox, frozen, named, slip
):
    pre_care_sent(practitioner, patient, room, dispatch, named)
    pre_care = Reminder.objects.get(kind=Kind.PRE_CARE, copy_of__isnull=True)
    assert (pre_care.status, pre_care.named_medication) == (Status.SENT, named)
    monday = SCREENED_AGAIN
    consultation = screened_again(patient, practitioner, room, frozen)
    for medication in (slip, named):
        consultation.topical_medication = medication
        consultation = record_consultation(
            consultation=consultation, by=practitioner.user, now=monday + HOUR
        )
    dispatch(monday + HOUR + 11 * MINUTE)

    [only] = [m for m in mailoutbox if "Getting ready" in m.subject]
    assert only.subject.startswith("Getting ready")
    copy = Reminder.objects.get(copy_of=pre_care)
    assert (copy.status, copy.skip_reason) == (
        Status.SKIPPED,
        "it would name the medication the earlier email named",
    )


def test_a_medication_changed_back_after_its_copy_went_is_told_again(
    practitioner, patient, room, dispatch, mailoutbox, frozen
):
    """Adapalene, then tretinoin (a copy goes), then adapalene again: the last
    email said tretinoin, so the patient hears of adapalene once more."""
    pre_care_sent(practitioner, patient, room, dispatch, "Adapalene")
    monday = SCREENED_AGAIN
    consultation = screened_again(patient, practitioner, room, frozen)
    for medication, at in (("Tretinoin", HOUR), ("Adapalene", 2 * HOUR)):
        consultation.topical_medication = medication
        consultation = record_consultation(
            consultation=consultation, by=practitioner.user, now=monday + at
        )
        dispatch(monday + at + 11 * MINUTE)

    subjects = [m.subject for m in mailoutbox if "Getting ready" in m.subject]
    assert len(subjects) == 3
    assert "Please stop Adapalene" in text_of(mailoutbox[-1])


def test_a_copy_for_a_new_medication_goes_even_close_to_the_session(
    practitioner, patient, room, dispatch, mailoutbox, frozen
):
    session = pre_care_sent(practitioner, patient, room, dispatch)
    [pre_care] = Reminder.objects.filter(kind=Kind.PRE_CARE)
    close = NEXT_THURSDAY - HOUR
    frozen.move_to(close)
    Reminder.objects.create(
        patient=patient,
        appointment=session.appointment,
        kind=Kind.PRE_CARE,
        version=pre_care.version,
        due_at=close,
        copy_of=pre_care,
        copy_reason=CopyReason.ON_REQUEST,
    )

    dispatch(close)

    # Within two hours of the session, a first pre-care would be skipped.
    assert Reminder.objects.get(copy_of=pre_care).status == Status.SENT


def test_each_pre_care_sent_keeps_the_medication_it_named(practitioner, room, dispatch):
    named = {"": PatientFactory(), "Adapalene gel": PatientFactory()}
    for hour, (medication, patient) in enumerate(named.items()):
        plan = make_plan(
            practitioner,
            patient=patient,
            consultation__topical_medication=medication,
        )
        session = add_session(plan, NEXT_THURSDAY + hour * HOUR, room)
        services.plan_booking([session.appointment], now=NOW)

    dispatch(NEXT_THURSDAY - 5 * DAY + 2 * HOUR)

    sent = Reminder.objects.filter(kind=Kind.PRE_CARE, status=Status.SENT)
    assert dict(sent.values_list("named_medication", "patient")) == {
        medication: patient.pk for medication, patient in named.items()
    }
    # Other emails name none.
    assert not Reminder.objects.exclude(kind=Kind.PRE_CARE).exclude(
        named_medication=None
    )


def test_pre_care_for_a_session_booked_at_short_notice_asks_to_stop_now(
    practitioner, patient, room, dispatch, mailoutbox
):
    plan = make_plan(
        practitioner, patient=patient, consultation__topical_medication="adapalene"
    )
    soon = NOW + 2 * DAY + 2 * HOUR  # Wednesday 10:00
    session = add_session(plan, soon, room)
    services.plan_booking([session.appointment], now=NOW)

    dispatch(NOW)

    [message] = [m for m in mailoutbox if m.subject.startswith("Getting ready")]
    text = text_of(message)
    assert "Please stop adapalene now" in text
    assert "3 to 5 days before your session" not in text
    assert f"call us on {settings.CLINIC_PHONE} before your visit" in text
    # Once: the note asks to call, the text's own line gives the number.
    assert text.count("before your visit") == 2
    assert text.count(settings.CLINIC_PHONE) == 2  # the text and the footer


# Consent ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "consent", "reason"),
    [
        ("ada@patients.example", False, "no consent to emails"),
        ("", False, "no email address"),
    ],
)
def test_without_consent_or_address_emails_are_skipped_with_the_reason(
    book, dispatch, mailoutbox, patient, address, consent, reason
):
    patient.email, patient.email_consent = address, consent
    patient.save()
    book()

    report = dispatch(NOW)
    dispatch(THURSDAY - DAY)

    assert mailoutbox == []
    assert report.skipped == 1
    assert set(Reminder.objects.values_list("status", "skip_reason")) == {
        (Status.SKIPPED, reason)
    }


def test_a_rule_switched_off_holds_back_its_emails_until_it_is_on_again(
    book, dispatch, mailoutbox
):
    book()
    dispatch(NOW)
    mailoutbox.clear()
    ReminderRule.objects.filter(kind=Kind.REMINDER).update(enabled=False)

    dispatch(THURSDAY - DAY)

    assert row(Kind.REMINDER).status == Status.SCHEDULED
    assert mailoutbox == []

    ReminderRule.objects.filter(kind=Kind.REMINDER).update(enabled=True)
    dispatch(THURSDAY - DAY + HOUR)

    assert row(Kind.REMINDER).status == Status.SENT
    assert len(mailoutbox) == 1


# Late and quiet -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("late", "status", "reason"),
    [
        (19 * HOUR, Status.SENT, ""),
        (21 * HOUR, Status.SKIPPED, "too late to be useful"),
    ],
)
def test_a_reminder_later_than_its_staleness_is_skipped(
    book, dispatch, mailoutbox, late, status, reason
):
    book()
    dispatch(NOW)

    dispatch(THURSDAY - DAY + late)  # Workers were down meanwhile.

    reminder = row(Kind.REMINDER)
    assert (reminder.status, reminder.skip_reason) == (status, reason)
    assert len(mailoutbox) == (2 if status == Status.SENT else 1)


SESSION_END = local(2026, 11, 24, 11)


@pytest.fixture
def completed(practitioner, patient, room, frozen):
    """Ada's session on Tuesday 10:00-11:00, signed at 11:00: aftercare planned."""
    session = add_session(
        make_plan(practitioner, patient=patient), local(2026, 11, 24, 10), room
    )
    frozen.move_to(SESSION_END)
    signed(session, practitioner.user, now=SESSION_END)
    return session


def aftercare() -> dict[str, tuple[str, str]]:
    return {
        r.kind: (r.status, r.skip_reason)
        for r in Reminder.objects.filter(kind__in=AFTERCARE)
    }


def test_after_a_day_without_workers_only_the_latest_due_aftercare_step_is_sent(
    completed, dispatch, mailoutbox
):
    dispatch(SESSION_END + 30 * HOUR)

    assert aftercare() == {
        Kind.AFTERCARE_GUIDE: (Status.SKIPPED, "too late to be useful"),
        Kind.AFTERCARE_12H: (Status.SKIPPED, "too late to be useful"),
        Kind.AFTERCARE_24H: (Status.SENT, ""),
        Kind.AFTERCARE_48H: (Status.SCHEDULED, ""),
        Kind.AFTERCARE_10D: (Status.SCHEDULED, ""),
    }
    [message] = mailoutbox
    assert "swimming and exercise" in message.subject


def test_an_aftercare_step_whose_next_step_is_due_is_skipped_not_sent_out_of_order(
    completed, dispatch, mailoutbox
):
    ReminderRule.objects.filter(kind=Kind.AFTERCARE_12H).update(
        staleness_minutes=48 * 60
    )

    dispatch(SESSION_END + 25 * HOUR)

    statuses = aftercare()
    assert statuses[Kind.AFTERCARE_12H] == (
        Status.SKIPPED,
        "the next aftercare step is already due",
    )
    assert statuses[Kind.AFTERCARE_24H] == (Status.SENT, "")
    assert len(mailoutbox) == 1


def test_a_session_signed_after_its_12_hours_sends_the_guide_and_the_12_h_email(
    practitioner, patient, room, frozen, dispatch, mailoutbox
):
    session = add_session(
        make_plan(practitioner, patient=patient), local(2026, 11, 24, 10), room
    )
    # Signed the next morning, 13 hours after the session ended.
    late = SESSION_END + 13 * HOUR
    frozen.move_to(late)
    signed(session, practitioner.user, now=late, ended_at=SESSION_END)

    dispatch(late)

    statuses = aftercare()
    assert statuses[Kind.AFTERCARE_GUIDE] == (Status.SENT, "")
    assert statuses[Kind.AFTERCARE_12H] == (Status.SENT, "")
    # Together, in the same dispatch, the guide first.
    assert [m.subject for m in mailoutbox] == [
        "Caring for your skin after your session",
        "Aftercare: makeup is fine again (mineral only)",
    ]


def test_the_guide_of_a_session_signed_a_day_late_still_goes_out(
    practitioner, patient, room, frozen, dispatch, mailoutbox
):
    session = add_session(
        make_plan(practitioner, patient=patient), local(2026, 11, 24, 10), room
    )
    late = SESSION_END + 30 * HOUR
    frozen.move_to(late)
    signed(session, practitioner.user, now=late, ended_at=SESSION_END)

    dispatch(late + 11 * HOUR)  # and the workers were slow to send it

    statuses = aftercare()
    assert statuses[Kind.AFTERCARE_GUIDE] == (Status.SENT, "")
    assert statuses[Kind.AFTERCARE_12H] == (Status.SKIPPED, "too late to be useful")


def test_each_aftercare_step_goes_out_at_its_time_when_workers_run(
    completed, dispatch, mailoutbox
):
    for offset in (0, 12, 24, 48, 240):
        dispatch(SESSION_END + offset * HOUR)

    assert [m.subject.split(":")[0] for m in mailoutbox] == [
        "Caring for your skin after your session",
        "Aftercare",
        "Aftercare",
        "Aftercare",
        "Aftercare",
    ]
    assert set(aftercare().values()) == {(Status.SENT, "")}


@pytest.fixture
def quiet_nights(settings) -> None:
    settings.CLINIC_QUIET_HOURS = (time(21), time(8))


def test_quiet_hours_hold_reminders_due_at_night_until_the_morning(
    quiet_nights, completed, dispatch, mailoutbox
):
    dispatch(SESSION_END)  # The guide, at 11:00.
    twelve_hours = SESSION_END + 12 * HOUR  # 23:00

    dispatch(twelve_hours)
    dispatch(local(2026, 11, 25, 7, 59))
    assert row(Kind.AFTERCARE_12H).status == Status.SCHEDULED
    assert len(mailoutbox) == 1

    dispatch(local(2026, 11, 25, 8))
    assert row(Kind.AFTERCARE_12H).status == Status.SENT
    assert len(mailoutbox) == 2


def test_time_held_by_quiet_hours_does_not_save_an_email_that_is_stale_anyway(
    quiet_nights, completed, dispatch, mailoutbox
):
    # Held from 23:00 until 08:00, then workers were down until 15:00: more
    # than the 12 h email's six hours late even counted from the morning.
    dispatch(local(2026, 11, 25, 15))

    assert row(Kind.AFTERCARE_12H).skip_reason == "too late to be useful"


def test_pre_care_held_by_quiet_hours_until_just_before_the_session_is_skipped(
    quiet_nights, book, dispatch, mailoutbox
):
    late_evening = local(2026, 11, 24, 22)
    book(
        start=local(2026, 11, 25, 9), kind=Appointment.Kind.TREATMENT, now=late_evening
    )

    dispatch(late_evening)
    dispatch(local(2026, 11, 25, 8))

    assert row(Kind.PRE_CARE).skip_reason == "the session is about to start"
    assert not [m for m in mailoutbox if "Getting ready" in m.subject]


def test_quiet_hours_do_not_hold_a_confirmation(
    quiet_nights, book, dispatch, mailoutbox
):
    late_evening = local(2026, 11, 23, 22, 30)
    book(now=late_evening)

    dispatch(late_evening)

    [message] = mailoutbox
    assert message.subject.startswith("Your booking")


# Failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "error"),
    [
        ("DisconnectingBackend", "SMTPServerDisconnected"),
        ("GreylistingBackend", "451"),
        ("UnreachableBackend", "Connection refused"),
    ],
)
def test_a_temporary_failure_retries_with_backoff_then_fails_visibly(
    book, dispatch, mailoutbox, settings, backend, error
):
    settings.EMAIL_BACKEND = f"{BACKENDS}.{backend}"
    book()

    report = dispatch(NOW)
    confirmation = row(Kind.CONFIRMATION)
    assert report.retried == 1
    assert confirmation.status == Status.SCHEDULED
    assert confirmation.attempts == 1
    assert confirmation.next_attempt_at == NOW + services.backoff(1)
    assert error in confirmation.last_error

    assert dispatch(NOW + 30 * timedelta(seconds=1)).claimed == 0  # Not yet.
    dispatch(NOW + MINUTE)
    confirmation.refresh_from_db()
    assert confirmation.attempts == 2
    assert confirmation.next_attempt_at == NOW + MINUTE + services.backoff(2)

    dispatch(NOW + 3 * MINUTE)
    confirmation.refresh_from_db()
    assert confirmation.status == Status.FAILED
    assert confirmation.attempts == settings.CLINIC_EMAIL_MAX_ATTEMPTS == 3
    assert confirmation.last_error.startswith("Gave up after 3 attempts")
    assert error in confirmation.last_error
    assert dispatch(NOW + DAY).claimed == 0
    assert mailoutbox == []


def test_the_backoff_doubles_up_to_an_hour():
    assert [services.backoff(n) for n in (1, 2, 3, 4)] == [
        MINUTE,
        2 * MINUTE,
        4 * MINUTE,
        8 * MINUTE,
    ]
    assert services.backoff(30) == HOUR


def test_a_retry_that_gets_through_sends_the_email_once(
    book, dispatch, mailoutbox, settings
):
    settings.EMAIL_BACKEND = f"{BACKENDS}.GreylistingBackend"
    book()
    dispatch(NOW)

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    dispatch(NOW + MINUTE)
    dispatch(NOW + 2 * MINUTE)

    assert len(mailoutbox) == 1
    confirmation = row(Kind.CONFIRMATION)
    assert (confirmation.status, confirmation.attempts) == (Status.SENT, 2)
    assert confirmation.last_error == ""


@pytest.mark.parametrize(
    ("backend", "error"),
    [("RefusingBackend", "The address was refused"), ("RejectingBackend", "550")],
)
def test_a_refused_address_or_a_550_fails_at_once(
    book, dispatch, settings, backend, error
):
    settings.EMAIL_BACKEND = f"{BACKENDS}.{backend}"
    book()

    report = dispatch(NOW)

    confirmation = row(Kind.CONFIRMATION)
    assert report.failed == 1
    assert (confirmation.status, confirmation.attempts) == (Status.FAILED, 1)
    assert error in confirmation.last_error
    # The address refused is kept, whatever the patient's address becomes.
    assert confirmation.sent_to == confirmation.patient.email != ""
    assert dispatch(NOW + HOUR).claimed == 0


def book_one_each(addresses: list[str], practitioner, room) -> None:
    """A consultation on Thursday for a patient at each address, an hour apart,
    with its emails planned at NOW."""
    for n, address in enumerate(addresses):
        appointment = AppointmentFactory(
            patient=PatientFactory(email=address),
            practitioner=practitioner,
            room=room,
            start=THURSDAY + n * HOUR,
        )
        services.plan_booking([appointment], now=NOW)


def test_a_refused_address_does_not_hold_up_the_other_emails(
    practitioner, room, dispatch, mailoutbox, settings
):
    settings.EMAIL_BACKEND = f"{BACKENDS}.BouncingBackend"
    book_one_each(
        ["one@patients.example", "gone@bounce.example", "two@patients.example"],
        practitioner,
        room,
    )

    report = dispatch(NOW)

    assert (report.sent, report.failed) == (2, 1)
    assert sorted(m.to[0] for m in mailoutbox) == [
        "one@patients.example",
        "two@patients.example",
    ]
    assert row(Kind.CONFIRMATION, patient__email="gone@bounce.example").status == (
        Status.FAILED
    )


def test_a_connection_that_cant_open_for_any_reason_retries_with_the_error_shown(
    book, dispatch, settings, mailoutbox
):
    """Not only a server that doesn't answer: a setting gone wrong sends
    nothing either, so the emails wait and staff see why (not "unknown")."""
    settings.EMAIL_BACKEND = f"{BACKENDS}.MisconfiguredBackend"
    book()

    report = dispatch(NOW)

    confirmation = row(Kind.CONFIRMATION)
    assert report.retried == 1
    assert (confirmation.status, confirmation.attempts) == (Status.SCHEDULED, 1)
    assert confirmation.last_error.startswith("ImproperlyConfigured: Path for")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    dispatch(confirmation.next_attempt_at)
    assert row(Kind.CONFIRMATION).status == Status.SENT
    assert len(mailoutbox) == 1


def test_an_email_that_cant_be_written_waits_and_the_others_go(
    practitioner, room, dispatch, mailoutbox, monkeypatch
):
    from aftercare import emails

    write = emails.reminder_message

    def fails_for_one(reminder, **kwargs):
        if reminder.patient.email == "broken@patients.example":
            raise KeyError("a text's placeholder")
        return write(reminder, **kwargs)

    monkeypatch.setattr(emails, "reminder_message", fails_for_one)
    book_one_each(
        ["one@patients.example", "broken@patients.example", "two@patients.example"],
        practitioner,
        room,
    )

    report = dispatch(NOW)

    assert (report.sent, report.retried) == (2, 1)
    broken = row(Kind.CONFIRMATION, patient__email="broken@patients.example")
    assert broken.status == Status.SCHEDULED
    assert "KeyError" in broken.last_error


def test_a_database_error_while_writing_an_email_stops_the_run(
    book, dispatch, monkeypatch
):
    """Not the email's own trouble: no row is retried or marked for it; the
    leases say later what became of them."""
    from django.db import OperationalError

    from aftercare import emails

    def database_gone(reminder, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(emails, "reminder_message", database_gone)
    book()

    with pytest.raises(OperationalError):
        dispatch(NOW)

    confirmation = row(Kind.CONFIRMATION)
    assert (confirmation.status, confirmation.attempts) == (Status.SENDING, 0)


def test_a_send_stopped_part_way_by_the_unforeseen_is_unknown_at_once(
    practitioner, room, dispatch, mailoutbox, settings
):
    """It may have gone out: never resent silently, and the rest of the batch
    goes on."""
    settings.EMAIL_BACKEND = f"{BACKENDS}.CrashingBackend"
    book_one_each(["gone@crash.example", "two@patients.example"], practitioner, room)

    report = dispatch(NOW)

    crashed = row(Kind.CONFIRMATION, patient__email="gone@crash.example")
    assert (report.sent, report.unknown) == (1, 1)
    assert (crashed.status, crashed.sent_to) == (Status.UNKNOWN, "gone@crash.example")
    assert crashed.last_error == (
        "Sending stopped part-way, so it may have gone out: "
        "RuntimeError: stopped part-way"
    )
    assert dispatch(NOW + HOUR).claimed == 0
    assert [m.to for m in mailoutbox] == [["two@patients.example"]]


def test_a_row_left_sending_by_a_dead_worker_becomes_unknown_and_is_not_resent(
    book, dispatch, mailoutbox
):
    book()
    [claimed] = services.claim(NOW, 10)  # ... and the worker died here.
    assert row(Kind.CONFIRMATION).status == Status.SENDING

    assert dispatch(NOW + MINUTE).claimed == 0  # Its lease still holds.
    assert row(Kind.CONFIRMATION).status == Status.SENDING

    report = dispatch(NOW + HOUR)  # Long after the lease ran out.
    confirmation = row(Kind.CONFIRMATION)
    assert report.unknown == 1
    assert confirmation.status == Status.UNKNOWN
    assert "stopped before it recorded the result" in confirmation.last_error

    dispatch(NOW + 2 * HOUR)
    assert row(Kind.CONFIRMATION).status == Status.UNKNOWN
    assert mailoutbox == []


# Staff actions ------------------------------------------------------------------------


def test_staff_can_resend_an_unknown_email_once(book, dispatch, mailoutbox):
    book()
    services.claim(NOW, 10)
    dispatch(NOW + HOUR)
    confirmation = row(Kind.CONFIRMATION)
    assert confirmation.status == Status.UNKNOWN

    services.resend(confirmation, now=NOW + 2 * HOUR)
    dispatch(NOW + 2 * HOUR)
    dispatch(NOW + 3 * HOUR)

    assert len(mailoutbox) == 1
    confirmation.refresh_from_db()
    assert (confirmation.status, confirmation.sent_at) == (
        Status.SENT,
        NOW + 2 * HOUR,
    )
    with pytest.raises(OutboxError, match="not sent twice"):
        services.resend(confirmation, now=NOW + 3 * HOUR)
    assert len(mailoutbox) == 1


def test_a_sent_confirmation_is_sent_again_as_a_copy_on_request(
    book, dispatch, mailoutbox
):
    appointment = book()
    dispatch(NOW)
    original = row(Kind.CONFIRMATION)
    assert "This email went out a moment ago" in services.why_not_copy(
        original, now=NOW + timedelta(minutes=1)
    )

    copy = services.send_copy(original, now=NOW + HOUR)
    # A second click while the copy waits sends no third email.
    with pytest.raises(OutboxError, match="on its way already"):
        services.send_copy(original, now=NOW + HOUR)
    dispatch(NOW + HOUR)

    first, again = mailoutbox
    assert again.subject == first.subject
    assert again.extra_headers["Message-ID"] != first.extra_headers["Message-ID"]
    # The same calendar event at the same SEQUENCE: calendars keep one.
    assert [(str(e["uid"]), e["sequence"]) for e in events(again)] == [
        (f"appointment-{appointment.pk}@clinic.example", 0)
    ]
    copy.refresh_from_db()
    assert (copy.status, copy.copy_of, copy.version, copy.copy_reason) == (
        Status.SENT,
        original,
        0,
        CopyReason.ON_REQUEST,
    )
    original.refresh_from_db()
    assert original.sent_at == NOW  # the original's record stays as it was
    # Sent already, but a moment ago: another click is taken for a second one,
    # and the page doesn't offer it.
    a_moment_later = NOW + HOUR + timedelta(minutes=1)
    went = f"A copy went out at {timezone.localtime(copy.sent_at):%H:%M}"
    assert went in services.why_not_copy(original, now=a_moment_later)
    with pytest.raises(OutboxError, match=went):
        services.send_copy(original, now=a_moment_later)
    assert services.send_copy(original, now=NOW + HOUR + timedelta(minutes=3))


def test_a_failed_copy_is_resent_unless_another_copy_is_on_its_way(
    book, dispatch, front_desk
):
    book()
    dispatch(NOW)
    original = row(Kind.CONFIRMATION)
    failed = services.send_copy(original, now=NOW + HOUR)
    Reminder.objects.filter(pk=failed.pk).update(
        status=Status.FAILED, last_error="550 mailbox full", sent_at=None
    )
    # A failed copy is no reason to wait: another may be asked for at once.
    waiting = services.send_copy(original, now=NOW + HOUR + timedelta(seconds=30))

    with pytest.raises(OutboxError, match="on its way already"):
        services.resend(failed, now=NOW + 2 * HOUR)

    Reminder.objects.filter(pk=waiting.pk).update(
        status=Status.SENT, sent_at=NOW + HOUR + timedelta(minutes=1)
    )
    resent = services.resend(failed, now=NOW + 2 * HOUR)
    assert resent.status == Status.SCHEDULED


def test_no_copy_of_an_email_that_no_longer_tells_the_truth(book, dispatch, front_desk):
    appointment = book()
    dispatch(NOW)
    cancel_appointment(
        appointment=appointment, by=front_desk, reason="Unwell.", now=NOW + HOUR
    )

    with pytest.raises(OutboxError, match="this email no longer applies"):
        services.send_copy(row(Kind.CONFIRMATION), now=NOW + 2 * HOUR)
    with pytest.raises(OutboxError, match="Only an email that was sent"):
        services.send_copy(row(Kind.REMINDER), now=NOW + 2 * HOUR)


def test_staff_can_resend_a_failed_email(book, dispatch, mailoutbox, settings):
    settings.EMAIL_BACKEND = f"{BACKENDS}.RefusingBackend"
    book()
    dispatch(NOW)
    assert row(Kind.CONFIRMATION).status == Status.FAILED

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    services.resend(row(Kind.CONFIRMATION), now=NOW + HOUR)
    dispatch(NOW + HOUR)

    assert len(mailoutbox) == 1
    assert row(Kind.CONFIRMATION).status == Status.SENT


def test_a_resent_email_gets_its_tries_again(book, dispatch, mailoutbox, settings):
    settings.EMAIL_BACKEND = f"{BACKENDS}.GreylistingBackend"
    book()
    for minutes in (0, 1, 3):
        dispatch(NOW + minutes * MINUTE)
    assert row(Kind.CONFIRMATION).status == Status.FAILED

    # The mail server is still down when staff resend it: it is retried, soon.
    services.resend(row(Kind.CONFIRMATION), now=NOW + HOUR)
    report = dispatch(NOW + HOUR)

    confirmation = row(Kind.CONFIRMATION)
    assert report.retried == 1
    assert confirmation.status == Status.SCHEDULED
    assert confirmation.attempts == 4
    assert confirmation.next_attempt_at == NOW + HOUR + services.backoff(1)
    # Up, at the next try.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    dispatch(NOW + HOUR + MINUTE)
    assert row(Kind.CONFIRMATION).status == Status.SENT
    assert len(mailoutbox) == 1


def test_a_reminder_for_a_cancelled_appointment_is_not_resent(book, front_desk):
    appointment = book()
    cancel_appointment(appointment=appointment, by=front_desk, reason="Ill.", now=NOW)

    with pytest.raises(OutboxError, match="The appointment is cancelled: this email"):
        services.resend(row(Kind.REMINDER), now=NOW)

    assert row(Kind.REMINDER).status == Status.CANCELLED


def test_a_failed_series_confirmation_is_resent_while_sessions_remain(
    plan, room, front_desk, dispatch, mailoutbox, settings
):
    settings.EMAIL_BACKEND = f"{BACKENDS}.RefusingBackend"
    sessions = book_whole_series(plan, room, front_desk)
    dispatch(NOW)
    confirmation = row(Kind.CONFIRMATION)
    assert confirmation.status == Status.FAILED
    # The first session, which carries the email, is cancelled since.
    cancel_appointment(
        appointment=sessions[0].appointment, by=front_desk, reason="Ill.", now=NOW
    )
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    services.resend(confirmation, now=NOW + HOUR)
    dispatch(NOW + HOUR)

    [confirmation_sent] = [
        m for m in mailoutbox if m.subject == f"Your booking at {settings.CLINIC_NAME}"
    ]
    assert len(events(confirmation_sent)) == 5


def test_an_email_a_move_replaced_is_not_resent(book, practitioner, room, front_desk):
    appointment = book()
    later = THURSDAY + DAY
    reschedule_appointment(
        appointment=appointment,
        start=later,
        end=later + HOUR,
        practitioner=practitioner,
        room=room,
        by=front_desk,
        now=NOW,
    )

    with pytest.raises(OutboxError, match="A newer version of this email replaced"):
        services.resend(row(Kind.REMINDER, version=0), now=NOW)

    assert row(Kind.REMINDER, version=0).status == Status.CANCELLED


def test_aftercare_retimed_after_a_corrected_end_is_not_resent(book, front_desk):
    session = book(kind=Appointment.Kind.TREATMENT)
    ended = THURSDAY + HOUR
    complete_appointment(appointment=session, by=front_desk, ended_at=ended, now=ended)
    services.on_appointment_event(
        event="end_changed",
        appointments=[session],
        now=ended,
        ended_at=ended + HOUR,
    )

    with pytest.raises(OutboxError, match="A newer version of this email replaced"):
        services.resend(row(Kind.AFTERCARE_12H, version=0), now=ended)

    assert row(Kind.AFTERCARE_12H, version=1).status == Status.SCHEDULED


def move_together(appointments: list[Appointment], *, by) -> None:
    """move_appointments(): each an hour later, in one change (one email)."""
    from clinic.services import Move, Slot, move_appointments

    move_appointments(
        moves=[
            Move(
                appointment=a,
                slot=Slot(a.start + HOUR, a.end + HOUR, a.practitioner, a.room),
            )
            for a in appointments
        ],
        by=by,
        now=NOW,
    )


def test_a_change_told_in_one_email_with_others_is_not_resent_alone(book, front_desk):
    first, second = book(), book(start=THURSDAY + DAY)
    services.dispatch_due(now=NOW)  # The patient has both confirmations.
    move_together([first, second], by=front_desk)
    included = row(Kind.UPDATE, appointment=second)
    assert included.skip_reason == services.INCLUDED

    with pytest.raises(OutboxError, match="which is scheduled: resend that one"):
        services.resend(included, now=NOW)
    services.dispatch_due(now=NOW)

    with pytest.raises(OutboxError, match="went out in one email"):
        services.resend(included, now=NOW)


def test_an_email_of_sessions_changed_together_is_resent_when_nothing_changed_since(
    book, mailoutbox, front_desk
):
    first, second = book(), book(start=THURSDAY + DAY)
    services.dispatch_due(now=NOW)  # The patient has both confirmations.
    move_together([first, second], by=front_desk)
    carrier = row(Kind.UPDATE, appointment=first)
    services.cancel(carrier, now=NOW)

    services.resend(carrier, now=NOW)
    services.dispatch_due(now=NOW)

    [update] = [m for m in mailoutbox if "changed" in m.subject]
    assert len(events(update)) == 2


def test_an_email_of_sessions_changed_together_isnt_resent_after_a_later_change(
    book, patient, practitioner, room, front_desk
):
    """Resent, it would show session 2's later move as part of the first change."""
    first, second = book(), book(start=THURSDAY + DAY)
    services.dispatch_due(now=NOW)  # The patient has both confirmations.
    services.plan_move([first, second], now=NOW)
    carrier = row(Kind.UPDATE, appointment=first)
    services.cancel(carrier, now=NOW)
    reschedule_appointment(
        appointment=second,
        start=THURSDAY + DAY + HOUR,
        end=THURSDAY + DAY + 2 * HOUR,
        practitioner=practitioner,
        room=room,
        by=front_desk,
        now=NOW,
    )

    with pytest.raises(OutboxError, match="would mix the two changes"):
        services.resend(carrier, now=NOW)


def test_no_email_tells_of_a_change_the_patient_cant_know_of_or_that_changed_nothing(
    book, practitioner, room, front_desk
):
    """A cancellation of a booking never confirmed, and an update of one moved
    away and back, would tell the patient nothing true."""
    rule = ReminderRule.objects.get(kind=Kind.CONFIRMATION)
    rule.enabled = False
    rule.save()
    unheard = book()
    cancel_appointment(appointment=unheard, by=front_desk, reason="Typo", now=NOW)
    never_told = row(Kind.CANCELLATION, appointment=unheard)
    rule.enabled = True
    rule.save()
    heard = book(start=THURSDAY + DAY)
    services.dispatch_due(now=NOW)
    away = heard.start + 2 * HOUR
    move(heard, away, room, front_desk)
    move(heard, heard.start, room, front_desk)
    latest = Reminder.objects.filter(appointment=heard, kind=Kind.UPDATE).last()
    services.cancel(latest, now=NOW)

    assert never_told.status == Reminder.Status.SKIPPED
    with pytest.raises(OutboxError, match="never told of this booking"):
        services.resend(never_told, now=NOW)
    with pytest.raises(OutboxError, match="no change to tell"):
        services.resend(latest, now=NOW)


def test_an_included_change_whose_email_was_skipped_points_to_that_email(book, patient):
    """The patient had opted out: saying the change went out would be untrue."""
    first, second = book(), book(start=THURSDAY + DAY)
    services.dispatch_due(now=NOW)  # The patient has both confirmations.
    services.plan_move([first, second], now=NOW)
    Patient.objects.filter(pk=patient.pk).update(email_consent=False)
    services.dispatch_due(now=NOW)
    # Consent given again by hand in the database: no listener tells the change.
    Patient.objects.filter(pk=patient.pk).update(email_consent=True)
    included = row(Kind.UPDATE, appointment=second)

    with pytest.raises(OutboxError) as refused:
        services.resend(included, now=NOW)

    assert "went out" not in str(refused.value)
    assert "which is skipped: resend that one" in str(refused.value)


def test_the_preview_offers_resend_only_where_it_may_go_out(
    client, book, front_desk, manager
):
    appointment = book()
    cancel_appointment(appointment=appointment, by=front_desk, reason="Ill.", now=NOW)
    client.force_login(manager)

    page = client.get(row(Kind.REMINDER).get_absolute_url()).content.decode()

    assert "The appointment is cancelled: this email no longer applies." in page
    assert "Resend</button>" not in page


def test_an_email_on_its_way_cannot_be_resent(book):
    book()

    with pytest.raises(OutboxError, match="scheduled already, for "):
        services.resend(row(Kind.CONFIRMATION), now=NOW)
    assert row(Kind.CONFIRMATION).due_at == NOW
    Reminder.objects.filter(pk=row(Kind.CONFIRMATION).pk).update(
        status=Status.SENDING, lease_until=NOW + HOUR
    )
    with pytest.raises(OutboxError, match="already on its way"):
        services.resend(row(Kind.CONFIRMATION), now=NOW)


def test_staff_can_cancel_an_email_only_while_it_is_scheduled(
    book, dispatch, mailoutbox
):
    book()
    dispatch(NOW)

    services.cancel(row(Kind.REMINDER), now=NOW + HOUR)
    dispatch(THURSDAY - DAY)

    assert row(Kind.REMINDER).status == Status.CANCELLED
    assert row(Kind.REMINDER).skip_reason == "cancelled by staff"
    assert len(mailoutbox) == 1
    for kind in (Kind.CONFIRMATION, Kind.REMINDER):  # sent, cancelled
        with pytest.raises(OutboxError, match="still scheduled"):
            services.cancel(row(kind), now=NOW + 2 * HOUR)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.FAILED, "closed by staff"),
        (Status.UNKNOWN, "closed by staff after checking"),
    ],
)
def test_staff_close_a_failed_or_unknown_email_they_looked_into(
    book, dispatch, status, reason
):
    book()
    dispatch(NOW)
    Reminder.objects.filter(pk=row(Kind.CONFIRMATION).pk).update(status=status)

    services.cancel(row(Kind.CONFIRMATION), now=NOW + HOUR)

    closed = row(Kind.CONFIRMATION)
    assert (closed.status, closed.skip_reason) == (Status.CANCELLED, reason)


class SlowClock:
    """A monotonic clock on which every reading is ``step`` seconds later."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.seconds = 0.0

    def monotonic(self) -> float:
        self.seconds += self.step
        return self.seconds


def test_a_long_run_leases_each_batch_from_its_own_time_so_none_turns_unknown(
    practitioner, room, dispatch, mailoutbox, monkeypatch
):
    # A slow server: by the third batch the run is older than the 5-minute lease.
    for hour in range(3):
        appointment = AppointmentFactory(
            practitioner=practitioner, room=room, start=THURSDAY + hour * HOUR
        )
        services.plan_booking([appointment], now=NOW)
    clock = SlowClock(step=100)
    monkeypatch.setattr(services.dispatch, "time", clock)
    leases = []
    claim = services.claim

    def claim_then_let_another_dispatcher_expire_leases(moment, limit):
        batch = claim(moment, limit)
        really = NOW + timedelta(seconds=clock.seconds)
        leases.extend((really, reminder.lease_until) for reminder in batch)
        services.expire_leases(really)
        return batch

    monkeypatch.setattr(
        services.dispatch, "claim", claim_then_let_another_dispatcher_expire_leases
    )

    report = dispatch(NOW, batch_size=1)

    assert clock.seconds > services.lease().total_seconds()
    assert all(lease_until > really for really, lease_until in leases)
    assert (report.sent, report.unknown) == (3, 0)
    assert len(mailoutbox) == 3
    assert not Reminder.objects.filter(status=Status.UNKNOWN).exists()


# Cost ---------------------------------------------------------------------------------


def test_one_dispatch_of_a_hundred_emails_takes_a_few_queries(
    practitioner, room, dispatch, mailoutbox, django_assert_max_num_queries
):
    plan = make_plan(practitioner, consultation__topical_medication="adapalene gel")
    appointments = [
        AppointmentFactory(
            practitioner=practitioner, room=room, start=THURSDAY + n * HOUR
        )
        for n in range(50)
    ]
    appointments += [
        add_session(plan, NEXT_THURSDAY + n * HOUR, room).appointment for n in range(50)
    ]
    Reminder.objects.bulk_create(
        Reminder(
            patient_id=a.patient_id,
            appointment=a,
            kind=Kind.CONFIRMATION if n % 2 else Kind.PRE_CARE,
            due_at=NOW,
            series=[a.pk],
        )
        for n, a in enumerate(appointments)
    )

    with django_assert_max_num_queries(20):
        report = dispatch(NOW)

    assert report.sent == len(mailoutbox) == 100
    pre_care = [m for m in mailoutbox if m.subject.startswith("Getting ready")]
    assert sum("Please stop adapalene gel" in m.body for m in pre_care) == 25
