from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aftercare.models import Reminder
from clinic.models import Appointment, ClosureDay, Consultation, screened
from clinic.services import (
    BookingError,
    Move,
    Slot,
    book_appointment,
    cancel_appointment,
    cancel_appointments,
    check_in_appointment,
    mark_no_show,
    move_appointments,
    record_consultation,
    reschedule_appointment,
    undo_check_in,
    undo_no_show,
)
from clinic.tests.factories import (
    AppointmentFactory,
    PatientFactory,
    TimeOffFactory,
    clinic_time,
    open_clinic,
)

LONDON = ZoneInfo("Europe/London")
# A Monday morning; the bookings under test are later that week.
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def london(settings) -> None:
    settings.TIME_ZONE = "Europe/London"


@pytest.fixture
def clinic(practitioner, other_practitioner) -> None:
    """Open Monday to Saturday 09:00-18:00, both practitioners working all of it."""
    open_clinic(practitioner, other_practitioner)


def thursday(hour: int, minute: int = 0) -> datetime:
    return clinic_time(2026, 11, 26, hour, minute)


@pytest.fixture
def book(clinic, patient, practitioner, room, front_desk) -> Callable[..., Appointment]:
    """book_appointment() for Thu 26 Nov 10:00-11:00 by the front desk, unless told."""

    def book(**kwargs) -> Appointment:
        arguments = {
            "patient": patient,
            "practitioner": practitioner,
            "room": room,
            "start": thursday(10),
            "end": thursday(11),
            "kind": Appointment.Kind.CONSULTATION,
            "booked_by": front_desk,
            "now": NOW,
        } | kwargs
        return book_appointment(**arguments)

    return book


@pytest.fixture
def booked(book) -> Appointment:
    """Ada Lovelace's consultation, Thu 26 Nov 10:00-11:00, Room 1."""
    return book()


@pytest.fixture
def move(practitioner, room, front_desk) -> Callable[..., Appointment]:
    """reschedule_appointment() by the front desk, to the same people unless told."""

    def move(appointment: Appointment, start: datetime, end: datetime, **kwargs):
        arguments = {
            "appointment": appointment,
            "start": start,
            "end": end,
            "practitioner": practitioner,
            "room": room,
            "by": front_desk,
            "now": NOW,
        } | kwargs
        return reschedule_appointment(**arguments)

    return move


def refusal(call: Callable[[], object]) -> BookingError:
    """Run ``call``, which must be refused, and return the refusal."""
    with pytest.raises(BookingError) as excinfo:
        call()
    return excinfo.value


# Booking


def test_it_books_a_free_slot(book, patient, practitioner, room, front_desk):
    appointment = book(notes="Prefers mornings")

    saved = Appointment.objects.get()
    assert saved == appointment
    assert saved.patient == patient
    assert saved.practitioner == practitioner
    assert saved.room == room
    assert saved.start == thursday(10)
    assert saved.end == thursday(11)
    assert saved.kind == Appointment.Kind.CONSULTATION
    assert saved.status == Appointment.Status.BOOKED
    assert saved.notes == "Prefers mornings"
    assert saved.booked_by == front_desk
    assert saved.override_reason == ""
    assert saved.override_by is None


def test_a_patient_is_never_booked_in_two_places_at_once(
    booked, book, other_practitioner, other_room
):
    error = refusal(
        lambda: book(
            practitioner=other_practitioner,
            room=other_room,
            start=thursday(10, 30),
            end=thursday(11, 30),
        )
    )

    assert error.messages == [
        "The patient has another appointment then: consultation with "
        f"{booked.practitioner}, Thu 26 Nov 2026, 10:00-11:00."
    ]
    assert Appointment.objects.count() == 1
    # Right after it is fine.
    book(
        practitioner=other_practitioner,
        room=other_room,
        start=thursday(11),
        end=thursday(12),
    )
    assert Appointment.objects.count() == 2


def test_an_appointment_left_where_it_is_doesnt_hold_up_a_move_of_another(
    booked, book, patient, other_practitioner, other_room, front_desk
):
    later = book(start=thursday(14), end=thursday(15))
    # Written before the patient's clash check existed: overlaps ``later``.
    AppointmentFactory(
        patient=patient,
        practitioner=other_practitioner,
        room=other_room,
        start=thursday(14, 30),
        end=thursday(15, 30),
    )

    move_appointments(
        moves=[
            Move(
                appointment=booked,
                slot=Slot(thursday(11), thursday(12), booked.practitioner, booked.room),
            ),
            Move(
                appointment=later,
                slot=Slot(later.start, later.end, later.practitioner, later.room),
            ),
        ],
        by=front_desk,
        now=NOW,
    )

    booked.refresh_from_db()
    assert booked.start == thursday(11)


def test_a_patients_cancelled_appointment_leaves_the_time_free(
    booked, book, other_practitioner, other_room, front_desk
):
    cancel_appointment(appointment=booked, by=front_desk, reason="Ill.", now=NOW)

    book(practitioner=other_practitioner, room=other_room)

    assert Appointment.objects.active().count() == 1


def test_a_move_onto_another_of_the_patients_appointments_is_refused(
    booked, book, move, other_practitioner, other_room
):
    later = book(
        practitioner=other_practitioner,
        room=other_room,
        start=thursday(14),
        end=thursday(15),
    )

    error = refusal(
        lambda: move(
            later,
            thursday(10, 30),
            thursday(11, 30),
            practitioner=other_practitioner,
            room=other_room,
        )
    )

    assert error.messages[0].startswith("The patient has another appointment then")
    later.refresh_from_db()
    assert later.start == thursday(14)


def test_it_refuses_a_practitioner_who_is_already_booked_and_names_the_clash(
    booked, book, practitioner, other_room
):
    error = refusal(
        lambda: book(
            patient=PatientFactory(),
            room=other_room,
            start=thursday(10, 30),
            end=thursday(11, 30),
        )
    )

    assert error.messages == [
        f"{practitioner} is already booked on Thu 26 Nov 2026, 10:00-11:00 "
        "(consultation with Ada Lovelace)."
    ]
    assert str(error) == error.messages[0]
    assert not error.overridable
    assert Appointment.objects.count() == 1


def test_it_refuses_a_room_that_is_already_booked_and_names_the_clash(
    booked, book, other_practitioner
):
    error = refusal(
        lambda: book(
            patient=PatientFactory(),
            practitioner=other_practitioner,
            start=thursday(9, 30),
            end=thursday(10, 30),
        )
    )

    assert error.messages == [
        "Room 1 is already booked on Thu 26 Nov 2026, 10:00-11:00 "
        "(consultation with Ada Lovelace)."
    ]
    assert Appointment.objects.count() == 1


def test_a_manager_cannot_override_a_clash(booked, book, manager):
    error = refusal(
        lambda: book(
            patient=PatientFactory(),
            booked_by=manager,
            override_reason="The patient insists",
        )
    )

    assert [p.code for p in error.problems] == ["practitioner_clash", "room_clash"]
    assert Appointment.objects.count() == 1


def test_back_to_back_bookings_are_fine(booked, book):
    book(patient=PatientFactory(), start=thursday(11), end=thursday(12))
    book(patient=PatientFactory(), start=thursday(9), end=thursday(10))

    assert Appointment.objects.count() == 3


def test_it_refuses_a_slot_outside_opening_hours_with_a_clear_message(
    book, practitioner
):
    error = refusal(lambda: book(start=thursday(17, 30), end=thursday(18, 30)))

    assert error.messages == [
        "That is outside opening hours (Thursday: 09:00-18:00).",
        f"That is outside {practitioner}'s working hours (Thursday: 09:00-18:00).",
    ]
    assert error.overridable
    assert not Appointment.objects.exists()


def test_it_refuses_a_day_the_clinic_is_closed(book, practitioner):
    sunday = clinic_time(2026, 11, 29, 10)

    error = refusal(lambda: book(start=sunday, end=sunday + timedelta(hours=1)))

    assert error.messages == [
        "The clinic is closed on Sundays.",
        f"{practitioner} does not work on Sundays.",
    ]
    assert not Appointment.objects.exists()


def test_it_refuses_a_closure_day_with_its_reason(book):
    ClosureDay.objects.create(date=date(2026, 11, 26), reason="Staff training")

    error = refusal(book)

    assert error.messages == [
        "The clinic is closed on Thu 26 Nov 2026 (Staff training)."
    ]
    assert not Appointment.objects.exists()


def test_it_refuses_the_practitioners_time_off_with_a_clear_message(book, practitioner):
    TimeOffFactory(
        practitioner=practitioner, start=thursday(9), end=thursday(13), reason="Dentist"
    )

    error = refusal(book)

    assert error.messages == [
        f"{practitioner} is off on Thu 26 Nov 2026, 09:00-13:00 (Dentist)."
    ]
    assert not Appointment.objects.exists()


def test_a_manager_may_book_outside_hours_and_the_reason_is_kept(book, manager):
    appointment = book(
        start=thursday(18),
        end=thursday(19),
        booked_by=manager,
        override_reason="  Only evening the patient can do  ",
    )

    appointment.refresh_from_db()
    assert appointment.start == thursday(18)
    assert appointment.override_reason == "Only evening the patient can do"
    assert appointment.override_by == manager
    assert appointment.booked_by == manager


def test_a_manager_may_book_on_a_closure_day_or_during_time_off(
    book, manager, practitioner
):
    ClosureDay.objects.create(date=date(2026, 11, 26), reason="Staff training")
    TimeOffFactory(practitioner=practitioner, start=thursday(9), end=thursday(13))

    appointment = book(booked_by=manager, override_reason="Follow-up of a reaction")

    assert appointment.override_reason == "Follow-up of a reaction"
    assert Appointment.objects.count() == 1


def test_the_front_desk_cannot_override_hours_even_with_a_reason(book):
    error = refusal(
        lambda: book(
            start=thursday(18),
            end=thursday(19),
            override_reason="Only evening the patient can do",
        )
    )

    assert error.overridable
    assert "That is outside opening hours (Thursday: 09:00-18:00)." in error.messages
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_blank_reason_does_not_override(book, manager, reason):
    error = refusal(
        lambda: book(
            start=thursday(18),
            end=thursday(19),
            booked_by=manager,
            override_reason=reason,
        )
    )

    assert error.overridable
    assert not Appointment.objects.exists()


def test_no_override_is_recorded_when_there_was_nothing_to_override(book, manager):
    appointment = book(booked_by=manager, override_reason="Just in case")

    appointment.refresh_from_db()
    assert appointment.override_reason == ""
    assert appointment.override_by is None


@pytest.mark.parametrize("booked_by", ["front_desk", "manager"])
def test_it_refuses_a_start_in_the_past(book, request, booked_by):
    friday = clinic_time(2026, 11, 20, 10)

    error = refusal(
        lambda: book(
            start=friday,
            end=friday + timedelta(hours=1),
            booked_by=request.getfixturevalue(booked_by),
            override_reason="Entering it afterwards",
        )
    )

    assert error.messages == ["That time has already passed: pick a future time."]
    assert not error.overridable
    assert not Appointment.objects.exists()


def test_it_refuses_a_room_that_is_not_in_use(book, room):
    room.is_active = False
    room.save()

    error = refusal(book)

    assert error.messages == ["Room 1 is not in use."]
    assert not Appointment.objects.exists()


def test_a_room_or_practitioner_taken_out_of_use_while_the_page_was_open_is_refused(
    book, room, practitioner
):
    """The page's form read them in use; the manager's change committed before
    the booking took its locks: the check reads them again under the lock."""
    from clinic.models import Practitioner, Room

    Room.objects.filter(pk=room.pk).update(is_active=False)
    Practitioner.objects.filter(pk=practitioner.pk).update(is_active=False)
    assert room.is_active and practitioner.is_active  # as the form read them

    error = refusal(book)

    assert error.messages == [
        f"{practitioner} is not taking bookings.",
        "Room 1 is not in use.",
    ]
    assert not Appointment.objects.exists()


def test_it_refuses_a_practitioner_who_takes_no_bookings(book, practitioner):
    practitioner.is_active = False
    practitioner.save()

    error = refusal(book)

    assert error.messages == [f"{practitioner} is not taking bookings."]
    assert not Appointment.objects.exists()


def test_it_refuses_an_end_before_the_start(book):
    error = refusal(lambda: book(start=thursday(11), end=thursday(10)))

    assert error.messages == ["The end must be after the start."]
    assert not Appointment.objects.exists()


# Rescheduling


def test_it_moves_a_booked_appointment(
    booked, move, other_practitioner, other_room, front_desk
):
    moved = move(
        booked,
        clinic_time(2026, 11, 27, 14),
        clinic_time(2026, 11, 27, 15),
        practitioner=other_practitioner,
        room=other_room,
    )

    booked.refresh_from_db()
    assert moved == booked
    assert booked.start == clinic_time(2026, 11, 27, 14)
    assert booked.end == clinic_time(2026, 11, 27, 15)
    assert booked.practitioner == other_practitioner
    assert booked.room == other_room
    assert booked.status == Appointment.Status.BOOKED
    assert Appointment.objects.count() == 1


def test_moving_by_half_an_hour_does_not_clash_with_itself(booked, move):
    move(booked, thursday(10, 30), thursday(11, 30))

    booked.refresh_from_db()
    assert (booked.start, booked.end) == (thursday(10, 30), thursday(11, 30))


def test_a_move_to_the_same_slot_is_refused_and_sends_nothing(booked, move):
    before = booked.updated_at
    planned = Reminder.objects.count()

    error = refusal(lambda: move(booked, booked.start, booked.end))

    assert error.messages == [
        "That is when, where and with whom it is booked already: nothing changes."
    ]
    booked.refresh_from_db()
    assert booked.updated_at == before
    assert Reminder.objects.count() == planned


def test_it_refuses_to_move_into_a_clash_and_changes_nothing(
    booked, book, move, other_room
):
    other = book(
        patient=PatientFactory(), room=other_room, start=thursday(14), end=thursday(15)
    )

    error = refusal(lambda: move(booked, thursday(14, 30), thursday(15, 30)))

    assert [p.code for p in error.problems] == ["practitioner_clash"]
    assert "already booked on Thu 26 Nov 2026, 14:00-15:00" in error.messages[0]
    booked.refresh_from_db()
    other.refresh_from_db()
    assert (booked.start, booked.end) == (thursday(10), thursday(11))
    assert (other.start, other.end) == (thursday(14), thursday(15))


@pytest.mark.parametrize(
    "status",
    [
        Appointment.Status.CHECKED_IN,
        Appointment.Status.COMPLETED,
        Appointment.Status.CANCELLED,
        Appointment.Status.NO_SHOW,
    ],
)
def test_it_moves_only_booked_appointments(clinic, move, practitioner, room, status):
    appointment = AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=thursday(10),
        end=thursday(11),
        status=status,
        cancel_reason="Patient is unwell",
    )

    error = refusal(lambda: move(appointment, thursday(14), thursday(15)))

    label = {Appointment.Status.NO_SHOW: "a no-show"}.get(
        status, Appointment.Status(status).label.lower()
    )
    assert error.messages == [
        f"Only a booked appointment can be moved; this one is {label}."
    ]
    appointment.refresh_from_db()
    assert appointment.start == thursday(10)


def test_it_refuses_to_move_into_the_past(booked, move):
    friday = clinic_time(2026, 11, 20, 10)

    error = refusal(lambda: move(booked, friday, friday + timedelta(hours=1)))

    assert error.messages == ["That time has already passed: pick a future time."]
    booked.refresh_from_db()
    assert booked.start == thursday(10)


def test_moving_outside_hours_needs_a_manager_and_a_reason(booked, move, manager):
    error = refusal(
        lambda: move(booked, thursday(18), thursday(19), override_reason="Evening only")
    )
    assert error.overridable

    move(booked, thursday(18), thursday(19), by=manager, override_reason="Evening only")

    booked.refresh_from_db()
    assert booked.start == thursday(18)
    assert booked.override_reason == "Evening only"
    assert booked.override_by == manager


def test_moving_back_into_hours_clears_the_outside_hours_reason(
    booked, move, manager, front_desk
):
    move(booked, thursday(18), thursday(19), by=manager, override_reason="Evening only")

    move(booked, thursday(14), thursday(15), by=front_desk)

    booked.refresh_from_db()
    assert (booked.override_reason, booked.override_by) == ("", None)


def test_moving_inside_hours_records_no_override(booked, move, manager):
    move(booked, thursday(14), thursday(15), by=manager, override_reason="Just so")

    booked.refresh_from_db()
    assert booked.start == thursday(14)
    assert booked.override_reason == ""
    assert booked.override_by is None


# Cancelling


@pytest.mark.parametrize("reason", ["", "   "])
def test_cancelling_needs_a_reason(booked, front_desk, reason):
    error = refusal(
        lambda: cancel_appointment(
            appointment=booked, by=front_desk, reason=reason, now=NOW
        )
    )

    assert error.messages == ["Give a reason for cancelling."]
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED


def test_cancelling_records_why_and_when_and_frees_the_slot(booked, book, front_desk):
    cancel_appointment(
        appointment=booked, by=front_desk, reason="  Patient is unwell ", now=NOW
    )

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CANCELLED
    assert booked.cancel_reason == "Patient is unwell"
    assert booked.cancelled_at == NOW
    replacement = book(patient=PatientFactory())
    assert replacement.start == booked.start


def test_a_checked_in_appointment_can_still_be_cancelled(booked, front_desk):
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(9, 50))

    cancel_appointment(
        appointment=booked, by=front_desk, reason="Skin infection", now=thursday(9, 55)
    )

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CANCELLED


def test_it_cannot_cancel_twice(booked, front_desk):
    cancel_appointment(appointment=booked, by=front_desk, reason="Unwell", now=NOW)

    error = refusal(
        lambda: cancel_appointment(
            appointment=booked, by=front_desk, reason="Again", now=NOW
        )
    )

    assert error.messages == [
        "This appointment is cancelled and can no longer be cancelled."
    ]
    booked.refresh_from_db()
    assert booked.cancel_reason == "Unwell"


def test_cancelling_several_is_all_or_nothing_and_takes_each_once(
    clinic, practitioner, front_desk
):
    first, second, done = (
        AppointmentFactory(
            practitioner=practitioner,
            start=thursday(hour),
            end=thursday(hour + 1),
            status=status,
        )
        for hour, status in (
            (10, Appointment.Status.BOOKED),
            (11, Appointment.Status.BOOKED),
            (12, Appointment.Status.COMPLETED),
        )
    )

    refusal(
        lambda: cancel_appointments(
            appointments=[first, second, done], by=front_desk, reason="Moving", now=NOW
        )
    )
    first.refresh_from_db()
    assert first.status == Appointment.Status.BOOKED

    cancelled = cancel_appointments(
        appointments=[second, first, second], by=front_desk, reason="Moving", now=NOW
    )
    assert [a.pk for a in cancelled] == sorted([first.pk, second.pk])
    assert set(
        Appointment.objects.filter(pk__in=[first.pk, second.pk]).values_list(
            "status", flat=True
        )
    ) == {Appointment.Status.CANCELLED}


@pytest.mark.parametrize(
    "status", [Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW]
)
def test_it_cannot_cancel_a_finished_appointment(
    clinic, practitioner, front_desk, status
):
    appointment = AppointmentFactory(
        practitioner=practitioner,
        start=thursday(10),
        end=thursday(11),
        status=status,
    )

    error = refusal(
        lambda: cancel_appointment(
            appointment=appointment, by=front_desk, reason="Unwell", now=NOW
        )
    )

    label = {Appointment.Status.NO_SHOW: "a no-show"}.get(
        status, Appointment.Status(status).label.lower()
    )
    assert error.messages == [
        f"This appointment is {label} and can no longer be cancelled."
    ]
    appointment.refresh_from_db()
    assert appointment.status == status
    assert appointment.cancel_reason == ""


# Checking in and no-shows


def test_it_checks_a_patient_in_on_the_day(booked, front_desk):
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(9, 50))

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CHECKED_IN
    assert booked.checked_in_at == thursday(9, 50)


@pytest.mark.parametrize(
    "now",
    [
        NOW,
        datetime(2026, 11, 25, 23, 59, tzinfo=LONDON),
        datetime(2026, 11, 27, 9, tzinfo=LONDON),
    ],
)
def test_it_checks_in_on_the_day_of_the_appointment_only(booked, front_desk, now):
    error = refusal(
        lambda: check_in_appointment(appointment=booked, by=front_desk, now=now)
    )

    assert error.messages == [
        "Patients can be checked in on the day of their appointment only."
    ]
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED
    assert booked.checked_in_at is None


def test_it_checks_in_from_two_hours_before_the_start(booked, front_desk):
    """At 07:59 a 10:00 consultation is most likely the wrong row."""
    error = refusal(
        lambda: check_in_appointment(
            appointment=booked, by=front_desk, now=thursday(7, 59)
        )
    )

    assert error.messages == [
        "It is too early to check in Ada Lovelace: their appointment is at 10:00, "
        "and check-in opens at 08:00, two hours before. Check that this is the "
        "right patient."
    ]
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(8, 0))
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CHECKED_IN


def test_the_day_of_a_check_in_is_the_clinics_day_not_utcs(
    settings, practitioner, room, front_desk
):
    settings.TIME_ZONE = "America/New_York"
    # 20:00 in New York is already the next day in UTC; 18:30 is not.
    appointment = AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=clinic_time(2026, 11, 26, 20),
        end=clinic_time(2026, 11, 26, 21),
    )

    check_in_appointment(
        appointment=appointment, by=front_desk, now=clinic_time(2026, 11, 26, 18, 30)
    )

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN


def test_it_checks_in_booked_appointments_only(booked, front_desk):
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(9, 50))

    error = refusal(
        lambda: check_in_appointment(
            appointment=booked, by=front_desk, now=thursday(9, 55)
        )
    )

    # Checked in from another desk meanwhile: said as such, with the time.
    assert error.messages == ["Ada Lovelace is already checked in (at 09:50)."]
    booked.refresh_from_db()
    assert booked.checked_in_at == thursday(9, 50)


def test_checking_in_a_no_show_points_to_taking_it_back(booked, front_desk):
    mark_no_show(appointment=booked, by=front_desk, now=thursday(10, 20))

    error = refusal(
        lambda: check_in_appointment(
            appointment=booked, by=front_desk, now=thursday(10, 25)
        )
    )

    assert (
        "take the no-show back on the appointment's page (Undo no-show)"
        in (error.messages[0])
    )
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.NO_SHOW


def test_it_marks_a_no_show_once_the_start_has_passed(booked, front_desk):
    mark_no_show(appointment=booked, by=front_desk, now=thursday(10, 20))

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.NO_SHOW


def test_it_refuses_a_no_show_before_the_start(booked, front_desk):
    error = refusal(
        lambda: mark_no_show(appointment=booked, by=front_desk, now=thursday(9, 59))
    )

    assert error.messages == [
        "An appointment can be marked as a no-show once its start time has passed: "
        f"{booked.patient}'s is at 10:00."
    ]
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED


def test_a_cancelled_appointment_is_not_checked_in_and_the_refusal_says_whose(
    booked, front_desk
):
    cancel_appointment(appointment=booked, by=front_desk, reason="Ill.", now=NOW)

    error = refusal(
        lambda: check_in_appointment(
            appointment=booked, by=front_desk, now=thursday(9, 50)
        )
    )

    # Said on a list of arrivals, where "this one" would be any of them.
    assert error.messages == [
        f"Only a booked appointment can be checked in; {booked.patient}'s is cancelled."
    ]


def test_a_checked_in_patient_cannot_be_a_no_show(booked, front_desk):
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(9, 50))

    error = refusal(
        lambda: mark_no_show(appointment=booked, by=front_desk, now=thursday(10, 20))
    )

    assert error.messages == [
        "Only a booked appointment can be marked as a no-show; "
        f"{booked.patient}'s is checked in."
    ]
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CHECKED_IN


# Taking a check-in or a no-show back


def test_a_check_in_by_mistake_is_taken_back(booked, front_desk):
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(9, 50))

    undo_check_in(appointment=booked, by=front_desk, now=thursday(9, 52))

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.BOOKED
    assert booked.checked_in_at is None
    error = refusal(
        lambda: undo_check_in(appointment=booked, by=front_desk, now=thursday(9, 53))
    )
    assert error.messages == [
        "Only a checked-in appointment can be taken back; this one is booked."
    ]


def test_a_late_patient_marked_as_a_no_show_is_booked_again(
    booked, front_desk, patient
):
    mark_no_show(appointment=booked, by=front_desk, now=thursday(10, 20))

    undo_no_show(appointment=booked, by=front_desk, now=thursday(10, 25))
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(10, 26))

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CHECKED_IN


def test_a_patient_who_left_unseen_is_marked_missed_on_a_later_day(booked, front_desk):
    """Checked in, gone before being seen, noticed the next day: the check-in
    is taken back and the appointment marked missed, not left checked in."""
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(9, 50))
    next_day = thursday(9) + timedelta(days=1)

    undo_check_in(appointment=booked, by=front_desk, now=next_day)
    mark_no_show(appointment=booked, by=front_desk, now=next_day)

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.NO_SHOW
    assert booked.checked_in_at is None


def test_a_no_show_is_taken_back_on_its_day_only(booked, front_desk):
    mark_no_show(appointment=booked, by=front_desk, now=thursday(10, 20))

    error = refusal(
        lambda: undo_no_show(
            appointment=booked, by=front_desk, now=thursday(10) + timedelta(days=1)
        )
    )

    assert error.messages == [
        "A no-show can be taken back on the day of the appointment only."
    ]
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.NO_SHOW


def test_a_no_show_whose_slot_was_booked_since_stays_one(
    booked, front_desk, practitioner, room
):
    mark_no_show(appointment=booked, by=front_desk, now=thursday(10, 5))
    # The free hour went to a walk-in.
    book_appointment(
        patient=PatientFactory(first_name="Walk", last_name="In"),
        practitioner=practitioner,
        room=room,
        start=thursday(10, 15),
        end=thursday(11),
        kind=Appointment.Kind.CONSULTATION,
        booked_by=front_desk,
        now=thursday(10, 10),
    )

    error = refusal(
        lambda: undo_no_show(appointment=booked, by=front_desk, now=thursday(10, 30))
    )

    assert "Walk In" in " ".join(error.messages)
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.NO_SHOW


def unwell_from_10_30(practitioner) -> None:
    """Time off added on the day, from 10:30 (during Ada's consultation)."""
    TimeOffFactory(
        practitioner=practitioner,
        start=thursday(10, 30),
        end=thursday(18),
        reason="Unwell",
    )


def test_a_check_in_under_way_is_not_taken_back_into_time_off_added_since(
    booked, front_desk, practitioner
):
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(9, 50))
    unwell_from_10_30(practitioner)

    error = refusal(
        lambda: undo_check_in(appointment=booked, by=front_desk, now=thursday(10, 20))
    )

    assert error.messages[0].endswith("The appointment can't go back to booked then.")
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CHECKED_IN


def test_a_check_in_that_is_over_is_taken_back_on_a_closed_day_to_mark_a_no_show(
    booked, front_desk
):
    """The day was closed in the afternoon (which leaves the morning's
    appointments that are over alone); the patient had left unseen."""
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(9, 50))
    ClosureDay.objects.create(date=date(2026, 11, 26), reason="Power cut")

    undo_check_in(appointment=booked, by=front_desk, now=thursday(14))
    mark_no_show(appointment=booked, by=front_desk, now=thursday(14))

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.NO_SHOW


def test_a_no_show_is_not_taken_back_into_time_off_added_since(
    booked, front_desk, practitioner
):
    mark_no_show(appointment=booked, by=front_desk, now=thursday(10, 20))
    unwell_from_10_30(practitioner)

    error = refusal(
        lambda: undo_no_show(appointment=booked, by=front_desk, now=thursday(10, 40))
    )

    assert "is off" in error.messages[0] and "(Unwell)" in error.messages[0]
    assert error.messages[0].endswith("The appointment can't go back to booked then.")
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.NO_SHOW


# A consultation that took place


def decide_eligible(appointment: Appointment, practitioner, *, now) -> Consultation:
    return record_consultation(
        consultation=Consultation(
            appointment=appointment,
            areas=["face"],
            goals=["lines"],
            **screened(),
            decision=Consultation.Decision.ELIGIBLE,
        ),
        by=practitioner.user,
        now=now,
    )


@pytest.fixture
def decided(booked, practitioner) -> Appointment:
    """Ada's consultation, with the practitioner's decision recorded."""
    decide_eligible(booked, practitioner, now=thursday(10, 30))
    return booked


def test_a_decided_consultation_is_completed(decided):
    """Decided, it took place: Today and the calendars stop showing the patient
    as still to come."""
    decided.refresh_from_db()
    assert decided.status == Appointment.Status.COMPLETED
    assert [e.action for e in decided.events.all()][-1] == "completed"


def test_a_consultation_decided_early_is_corrected_before_its_booked_start(
    booked, practitioner, front_desk
):
    """Checked in early and decided (which completes it): the practitioner can
    still correct it before the time it was booked for."""
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(8, 30))
    consultation = decide_eligible(booked, practitioner, now=thursday(8, 50))
    consultation.skin_type = 3

    record_consultation(
        consultation=consultation, by=practitioner.user, now=thursday(9)
    )

    assert Consultation.objects.get().skin_type == 3


def test_a_decided_consultation_cant_be_marked_as_missed(decided, front_desk):
    error = refusal(
        lambda: mark_no_show(appointment=decided, by=front_desk, now=thursday(11))
    )

    assert f"{decided.patient}'s is completed" in error.messages[0]
    decided.refresh_from_db()
    assert decided.status == Appointment.Status.COMPLETED


def test_a_consultation_decided_then_reopened_is_still_known_to_have_taken_place(
    decided, front_desk
):
    """Should its appointment be open again (an admin's correction), the
    decision still says it took place."""
    Appointment.objects.filter(pk=decided.pk).update(status=Appointment.Status.BOOKED)
    decided.refresh_from_db()

    error = refusal(
        lambda: mark_no_show(appointment=decided, by=front_desk, now=thursday(11))
    )

    assert error.messages == [
        "The practitioner has recorded a decision at this consultation: it took place."
    ]


def test_a_decided_consultation_cant_be_cancelled(decided, front_desk):
    error = refusal(
        lambda: cancel_appointment(
            appointment=decided, by=front_desk, reason="Typo.", now=thursday(11)
        )
    )

    assert "completed" in error.messages[0]
    decided.refresh_from_db()
    assert decided.status == Appointment.Status.COMPLETED


def test_a_decided_consultations_check_in_stays(booked, practitioner, front_desk):
    check_in_appointment(appointment=booked, by=front_desk, now=thursday(9, 55))
    decide_eligible(booked, practitioner, now=thursday(10, 30))

    error = refusal(
        lambda: undo_check_in(appointment=booked, by=front_desk, now=thursday(11))
    )

    assert "this one is completed" in error.messages[0]
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.COMPLETED


def test_an_undecided_consultation_can_still_be_marked_as_missed(
    booked, practitioner, front_desk
):
    record_consultation(
        consultation=Consultation(appointment=booked, areas=["face"]),
        by=practitioner.user,
        now=thursday(9),
    )

    mark_no_show(appointment=booked, by=front_desk, now=thursday(11))

    booked.refresh_from_db()
    assert booked.status == Appointment.Status.NO_SHOW


def test_a_treatment_session_is_moved_with_its_plan_not_alone(book, move, patient):
    from plans.models import TreatmentSession
    from plans.tests.factories import TreatmentPlanFactory

    session = book(kind=Appointment.Kind.TREATMENT)
    TreatmentSession.objects.create(
        plan=TreatmentPlanFactory(patient=patient), number=1, appointment=session
    )

    error = refusal(lambda: move(session, thursday(14), thursday(15)))

    assert error.messages == [
        "A treatment session is moved from its treatment plan, which keeps the "
        "sessions in order and spaced."
    ]
    session.refresh_from_db()
    assert session.start == thursday(10)


def test_a_treatment_outside_any_plan_moves_like_any_appointment(book, move):
    # Booked before the clinic used plans, say.
    treatment = book(kind=Appointment.Kind.TREATMENT)

    move(treatment, thursday(14), thursday(15))

    treatment.refresh_from_db()
    assert treatment.start == thursday(14)


@pytest.mark.parametrize("seconds", [timedelta(seconds=59), timedelta(microseconds=1)])
def test_a_booking_is_refused_off_the_minute_whoever_calls(book, move, seconds):
    consultation = book()

    error = refusal(lambda: book(start=thursday(14) + seconds, end=thursday(15)))
    moved = refusal(lambda: move(consultation, thursday(14), thursday(15) + seconds))

    assert (
        error.messages
        == moved.messages
        == ["Book whole minutes: give the times in hours and minutes."]
    )
    assert Appointment.objects.count() == 1
    consultation.refresh_from_db()
    assert consultation.start == thursday(10)


def test_a_recorded_decision_is_not_taken_back(decided, practitioner, front_desk):
    consultation = decided.consultation
    consultation.decision = Consultation.Decision.PENDING

    error = refusal(
        lambda: record_consultation(
            consultation=consultation, by=practitioner.user, now=thursday(11)
        )
    )

    assert "not taken back" in error.messages[0]
    consultation.refresh_from_db()
    assert consultation.decision == Consultation.Decision.ELIGIBLE


def test_a_decided_consultation_cant_be_moved(decided, move):
    error = refusal(lambda: move(decided, thursday(14), thursday(15)))

    assert "it took place" in error.messages[0]
    decided.refresh_from_db()
    assert decided.start == thursday(10)
