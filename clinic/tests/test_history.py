"""Each appointment's history: a line per change, saved with the change."""

import importlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import Appointment, AppointmentEvent
from clinic.services import (
    BookingError,
    Move,
    Slot,
    book_appointment,
    book_appointments,
    cancel_appointment,
    cancel_appointments,
    check_in_appointment,
    complete_appointment,
    mark_no_show,
    move_appointments,
    reschedule_appointment,
    undo_check_in,
    undo_no_show,
)
from clinic.tests.factories import AppointmentFactory, clinic_time, open_clinic

LONDON = ZoneInfo("Europe/London")
# A Monday morning; the bookings under test are on the Thursday.
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)
Action = AppointmentEvent.Action

backfill = importlib.import_module("clinic.migrations.0013_appointment_history")


@pytest.fixture(autouse=True)
def london(settings) -> None:
    settings.TIME_ZONE = "Europe/London"


def thursday(hour: int, minute: int = 0) -> datetime:
    return clinic_time(2026, 11, 26, hour, minute)


@pytest.fixture
def booked(patient, practitioner, other_practitioner, room, front_desk) -> Appointment:
    open_clinic(practitioner, other_practitioner)
    return book(patient, practitioner, room, thursday(10), by=front_desk)


def book(patient, practitioner, room, start, *, by, **kwargs) -> Appointment:
    """book_appointment(): an hour's consultation at ``start``, as of NOW."""
    return book_appointment(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=start,
        end=start + timedelta(hours=1),
        kind=Appointment.Kind.CONSULTATION,
        booked_by=by,
        now=NOW,
        **kwargs,
    )


def move(appointment, start, *, by, practitioner=None, room=None, now=NOW):
    """reschedule_appointment(): to an hour from ``start``, with the same
    practitioner and room unless told."""
    return reschedule_appointment(
        appointment=appointment,
        start=start,
        end=start + timedelta(hours=1),
        practitioner=practitioner or appointment.practitioner,
        room=room or appointment.room,
        by=by,
        now=now,
    )


def lines(appointment: Appointment) -> list[tuple[str, str | None, datetime, str]]:
    return [
        (e.action, e.by.username if e.by else None, e.at, e.reason)
        for e in appointment.events.order_by("at", "id")
    ]


def test_a_booking_starts_the_history_with_who_booked_it_and_when(booked):
    assert lines(booked) == [(Action.BOOKED, "frontdesk", NOW, "")]


def test_a_booking_outside_hours_keeps_its_reason(
    booked, patient, practitioner, room, manager
):
    early = book(
        patient,
        practitioner,
        room,
        thursday(7),
        by=manager,
        override_reason="Patient flies out at noon.",
    )

    assert lines(early) == [
        (Action.BOOKED, "manager", NOW, "Patient flies out at noon.")
    ]


def test_a_move_keeps_where_and_when_it_was_and_where_it_went(
    booked, other_practitioner, other_room, front_desk
):
    later = NOW + timedelta(minutes=5)
    move(
        booked,
        clinic_time(2026, 11, 27, 14),
        by=front_desk,
        practitioner=other_practitioner,
        room=other_room,
        now=later,
    )

    event = booked.events.get(action=Action.MOVED)
    assert (event.by, event.at) == (front_desk, later)
    assert (event.moved_from_start, event.moved_from_end) == (
        thursday(10),
        thursday(11),
    )
    assert (event.moved_to_start, event.moved_to_end) == (
        clinic_time(2026, 11, 27, 14),
        clinic_time(2026, 11, 27, 15),
    )
    assert event.moved_from_practitioner == booked.practitioner.__class__.objects.get(
        user__username="practitioner"
    )
    assert event.moved_to_practitioner == other_practitioner
    assert event.moved_to_room == other_room


def test_only_the_appointments_that_change_get_a_move_line(
    booked, patient, practitioner, room, front_desk
):
    second = book(patient, practitioner, room, thursday(14), by=front_desk)

    move_appointments(
        moves=[
            Move(booked, Slot(thursday(12), thursday(13), practitioner, room)),
            Move(second, Slot(thursday(14), thursday(15), practitioner, room)),
        ],
        by=front_desk,
        now=NOW,
    )

    assert booked.events.filter(action=Action.MOVED).count() == 1
    assert not second.events.filter(action=Action.MOVED).exists()


def test_a_refused_move_leaves_no_line(booked, patient, practitioner, room, front_desk):
    AppointmentFactory(
        practitioner=practitioner, room=room, start=thursday(12), end=thursday(13)
    )

    with pytest.raises(BookingError):
        move(booked, thursday(12), by=front_desk)

    assert [line[0] for line in lines(booked)] == [Action.BOOKED]


def test_a_cancellation_keeps_who_when_and_why(booked, manager):
    cancel_appointment(
        appointment=booked, by=manager, reason="Patient is unwell.", now=NOW
    )

    assert lines(booked)[-1] == (Action.CANCELLED, "manager", NOW, "Patient is unwell.")


def test_a_cancellation_without_a_reason_is_refused_and_leaves_no_line(
    booked, front_desk
):
    with pytest.raises(BookingError):
        cancel_appointments(appointments=[booked], by=front_desk, reason=" ", now=NOW)

    assert booked.events.count() == 1


def test_check_in_and_taking_it_back_are_both_kept(booked, front_desk, manager):
    on_the_day = thursday(9, 50)
    check_in_appointment(appointment=booked, by=front_desk, now=on_the_day)
    undo_check_in(appointment=booked, by=manager, now=on_the_day + timedelta(minutes=3))

    assert lines(booked)[1:] == [
        (Action.CHECKED_IN, "frontdesk", on_the_day, ""),
        (
            Action.CHECK_IN_UNDONE,
            "manager",
            on_the_day + timedelta(minutes=3),
            "",
        ),
    ]


def test_a_no_show_and_taking_it_back_are_both_kept(booked, front_desk):
    after_start = thursday(10, 20)
    mark_no_show(appointment=booked, by=front_desk, now=after_start)
    undo_no_show(
        appointment=booked, by=front_desk, now=after_start + timedelta(minutes=10)
    )

    assert [line[0] for line in lines(booked)] == [
        Action.BOOKED,
        Action.NO_SHOW,
        Action.NO_SHOW_UNDONE,
    ]


def test_completing_is_kept_with_who_signed_it_off(booked, practitioner):
    complete_appointment(appointment=booked, by=practitioner.user, now=thursday(11, 5))

    assert lines(booked)[-1] == (Action.COMPLETED, "practitioner", thursday(11, 5), "")


def test_booking_several_writes_their_lines_in_one_query(
    booked, patient, practitioner, room, front_desk
):
    slots = [
        Slot(thursday(h), thursday(h + 1), practitioner, room) for h in (12, 13, 14)
    ]

    with CaptureQueriesContext(connection) as captured:
        appointments = book_appointments(
            patient=patient,
            slots=slots,
            kind=Appointment.Kind.CONSULTATION,
            booked_by=front_desk,
            now=NOW,
        )

    inserts = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("INSERT") and AppointmentEvent._meta.db_table in q["sql"]
    ]
    assert len(inserts) == 1
    assert [lines(a) for a in appointments] == [
        [(Action.BOOKED, "frontdesk", NOW, "")]
    ] * 3


def test_a_move_line_needs_both_places(booked):
    with pytest.raises(IntegrityError):
        AppointmentEvent.objects.create(appointment=booked, action=Action.MOVED, at=NOW)


def test_the_appointment_page_shows_the_history(
    client, booked, other_practitioner, other_room, front_desk
):
    move(
        booked,
        clinic_time(2026, 11, 27, 14),
        by=front_desk,
        practitioner=other_practitioner,
        room=other_room,
    )
    cancel_appointment(
        appointment=booked, by=front_desk, reason="Clash <b>at work</b>", now=NOW
    )
    client.force_login(front_desk)

    page = client.get(reverse("clinic:appointment_detail", args=[booked.pk]))

    text = page.content.decode()
    assert "History" in text
    assert "Moved</strong> by" in text
    assert "from Thu 26 Nov 2026, 10:00-11:00 to Fri 27 Nov 2026, 14:00-15:00" in text
    assert (
        f"from {booked.events.get(action=Action.MOVED).moved_from_practitioner} "
        f"to {other_practitioner}" in text
    )
    assert "from Room 1 to Room 2" in text
    assert "Reason: Clash &lt;b&gt;at work&lt;/b&gt;" in text


def test_the_appointment_page_reads_the_history_in_one_query(
    client, booked, front_desk, manager, django_assert_num_queries
):
    client.force_login(front_desk)
    url = reverse("clinic:appointment_detail", args=[booked.pk])
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for hour in (12, 13, 14):
        move(booked, thursday(hour), by=manager)

    with django_assert_num_queries(len(few.captured_queries)):
        page = client.get(url)

    assert page.content.decode().count("Moved</strong>") == 3


def test_existing_appointments_start_their_history_with_what_their_rows_tell(
    practitioner, room, patient, front_desk
):
    kept = AppointmentFactory(
        practitioner=practitioner, room=room, patient=patient, booked_by=front_desk
    )
    cancelled = AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=kept.start + timedelta(hours=2),
        end=kept.start + timedelta(hours=3),
        status=Appointment.Status.CANCELLED,
        cancel_reason="Unwell.",
        cancelled_at=NOW,
        checked_in_at=NOW - timedelta(hours=1),
    )

    completed = AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=kept.start + timedelta(hours=4),
        end=kept.start + timedelta(hours=5),
        status=Appointment.Status.COMPLETED,
        checked_in_at=NOW,
    )
    missed = AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=kept.start + timedelta(hours=6),
        end=kept.start + timedelta(hours=7),
        status=Appointment.Status.NO_SHOW,
    )
    Appointment.objects.update(
        created_at=NOW - timedelta(days=3), updated_at=NOW + timedelta(hours=2)
    )
    for appointment in (kept, cancelled, completed, missed):
        appointment.refresh_from_db()

    backfill.backfill(apps, None)

    assert lines(kept) == [(Action.BOOKED, "frontdesk", kept.created_at, "")]
    assert lines(cancelled) == [
        (Action.BOOKED, None, cancelled.created_at, ""),
        (Action.CHECKED_IN, None, NOW - timedelta(hours=1), ""),
        (Action.CANCELLED, None, NOW, "Unwell."),
    ]
    assert [line[0] for line in lines(completed)] == [
        Action.BOOKED,
        Action.CHECKED_IN,
        Action.COMPLETED,
    ]
    assert lines(missed)[-1] == (Action.NO_SHOW, None, NOW + timedelta(hours=2), "")


def test_a_manager_reads_the_history_in_the_admin_and_cannot_change_it(
    client, booked, manager
):
    manager.is_staff = True
    manager.save()
    cancel_appointment(appointment=booked, by=manager, reason="Unwell today.", now=NOW)
    booked.events.filter(action=Action.CANCELLED).update(reason="Kept in history.")
    client.force_login(manager)

    page = client.get(reverse("admin:clinic_appointment_change", args=[booked.pk]))

    text = page.content.decode()
    assert page.status_code == 200
    assert 'id="events-group"' in text
    assert "Appointment history" in text
    assert "Kept in history." in text
    assert 'name="events-0-reason"' not in text  # Shown, not editable.
    assert not manager.has_perm("clinic.change_appointmentevent")
    assert not manager.has_perm("clinic.delete_appointmentevent")
    assert manager.has_perm("clinic.view_appointmentevent")
