import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction

from clinic.models import Appointment
from clinic.scheduling import Availability
from clinic.services import BookingError, book_appointment, reschedule_appointment
from clinic.tests.factories import (
    AppointmentFactory,
    PatientFactory,
    RoomFactory,
    clinic_time,
    open_clinic,
)
from clinic.tests.threads import at_once

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def london(settings) -> None:
    settings.TIME_ZONE = "Europe/London"


def thursday(hour: int, minute: int = 0) -> datetime:
    return clinic_time(2026, 11, 26, hour, minute)


def constraint_name(error: IntegrityError) -> str:
    return error.__cause__.diag.constraint_name


def insert(**fields) -> Appointment:
    """Write an appointment straight to the table, bypassing every check."""
    with transaction.atomic():
        return AppointmentFactory(**fields)


@pytest.fixture
def no_friendly_check(monkeypatch) -> None:
    """Let the service skip its own check, as a concurrent booking would."""
    monkeypatch.setattr(Availability, "problems", lambda self, **kwargs: [])


# Check constraints (every database)


@pytest.mark.parametrize("minutes", [0, -30])
def test_the_database_refuses_an_end_that_is_not_after_the_start(practitioner, minutes):
    with pytest.raises(IntegrityError):
        insert(
            practitioner=practitioner,
            start=thursday(10),
            end=thursday(10) + timedelta(minutes=minutes),
        )

    assert not Appointment.objects.exists()


def test_the_database_refuses_a_cancellation_without_a_reason(practitioner):
    with pytest.raises(IntegrityError):
        insert(practitioner=practitioner, status=Appointment.Status.CANCELLED)

    insert(
        practitioner=practitioner,
        status=Appointment.Status.CANCELLED,
        cancel_reason="Unwell",
    )
    assert Appointment.objects.count() == 1


def test_the_service_does_not_disguise_other_integrity_errors_as_clashes(
    no_friendly_check, practitioner, room, patient, front_desk
):
    with pytest.raises(IntegrityError):
        book_appointment(
            patient=patient,
            practitioner=practitioner,
            room=room,
            start=thursday(11),
            end=thursday(10),
            kind=Appointment.Kind.CONSULTATION,
            booked_by=front_desk,
            now=NOW,
        )

    assert not Appointment.objects.exists()


# Exclusion constraints (PostgreSQL)


@pytest.mark.postgres
def test_the_exclusion_constraints_cover_exactly_the_active_statuses(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'x'",
            [Appointment._meta.db_table],
        )
        definitions = dict(cursor.fetchall())

    assert sorted(definitions) == [
        "appointment_no_practitioner_overlap",
        "appointment_no_room_overlap",
    ]
    for definition in definitions.values():
        assert "tstzrange(start, \"end\", '[)'::text) WITH &&" in definition
        for status in Appointment.Status:
            quoted = f"'{status}'"
            assert (quoted in definition) == (status in Appointment.ACTIVE_STATUSES)


@pytest.mark.postgres
def test_one_practitioner_cannot_hold_two_overlapping_appointments(
    practitioner, room, other_room
):
    insert(practitioner=practitioner, room=room, start=thursday(10), end=thursday(11))

    with pytest.raises(IntegrityError) as excinfo:
        insert(
            practitioner=practitioner,
            room=other_room,
            start=thursday(10, 30),
            end=thursday(11, 30),
        )

    assert constraint_name(excinfo.value) == "appointment_no_practitioner_overlap"
    assert Appointment.objects.count() == 1


@pytest.mark.postgres
def test_one_room_cannot_hold_two_overlapping_appointments(
    practitioner, other_practitioner, room
):
    insert(practitioner=practitioner, room=room, start=thursday(10), end=thursday(11))

    with pytest.raises(IntegrityError) as excinfo:
        insert(
            practitioner=other_practitioner,
            room=room,
            start=thursday(9),
            end=thursday(12),
        )

    assert constraint_name(excinfo.value) == "appointment_no_room_overlap"
    assert Appointment.objects.count() == 1


@pytest.mark.postgres
def test_the_database_allows_back_to_back_appointments(practitioner, room):
    insert(practitioner=practitioner, room=room, start=thursday(10), end=thursday(11))
    insert(practitioner=practitioner, room=room, start=thursday(11), end=thursday(12))
    insert(practitioner=practitioner, room=room, start=thursday(9), end=thursday(10))

    assert Appointment.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.parametrize(
    "status", [Appointment.Status.CANCELLED, Appointment.Status.NO_SHOW]
)
def test_cancelled_and_no_show_appointments_may_overlap(practitioner, room, status):
    insert(
        practitioner=practitioner,
        room=room,
        start=thursday(10),
        end=thursday(11),
        status=status,
        cancel_reason="Unwell",
    )

    insert(practitioner=practitioner, room=room, start=thursday(10), end=thursday(11))

    assert Appointment.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.parametrize(
    "status", [Appointment.Status.CHECKED_IN, Appointment.Status.COMPLETED]
)
def test_checked_in_and_completed_appointments_may_not_overlap(
    practitioner, room, status
):
    insert(
        practitioner=practitioner,
        room=room,
        start=thursday(10),
        end=thursday(11),
        status=status,
    )

    with pytest.raises(IntegrityError):
        insert(
            practitioner=practitioner, room=room, start=thursday(10), end=thursday(11)
        )


@pytest.mark.postgres
def test_the_database_refuses_a_move_into_an_overlap(practitioner, room, other_room):
    insert(practitioner=practitioner, room=room, start=thursday(10), end=thursday(11))
    later = insert(
        practitioner=practitioner, room=other_room, start=thursday(14), end=thursday(15)
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.filter(pk=later.pk).update(
            start=thursday(10, 30), end=thursday(11, 30)
        )

    later.refresh_from_db()
    assert later.start == thursday(14)


@pytest.mark.postgres
def test_reactivating_a_cancelled_appointment_into_an_overlap_is_refused(
    practitioner, room
):
    cancelled = insert(
        practitioner=practitioner,
        room=room,
        start=thursday(10),
        end=thursday(11),
        status=Appointment.Status.CANCELLED,
        cancel_reason="Unwell",
    )
    insert(practitioner=practitioner, room=room, start=thursday(10), end=thursday(11))

    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.filter(pk=cancelled.pk).update(status="booked")


@pytest.mark.postgres
def test_the_repeated_hour_in_autumn_is_two_hours_to_the_database(practitioner, room):
    # 01:00-01:45 on 25 Oct happens first in BST, then again in GMT.
    first = datetime(2026, 10, 25, 1, 0, tzinfo=LONDON)
    second = first.replace(fold=1)
    insert(
        practitioner=practitioner,
        room=room,
        start=first,
        end=first + timedelta(minutes=45),
    )

    insert(
        practitioner=practitioner,
        room=room,
        start=second,
        end=second.replace(minute=45),  # not + timedelta: that drops the fold
    )
    with pytest.raises(IntegrityError):
        # 01:30 BST to 01:15 GMT: 45 minutes that overlap both.
        insert(
            practitioner=practitioner,
            room=room,
            start=first.replace(minute=30),
            end=second.replace(minute=15),
        )

    assert sorted(a.start for a in Appointment.objects.all()) == [
        datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    ]


@pytest.mark.postgres
def test_the_skipped_hour_in_spring_is_no_time_to_the_database(practitioner, room):
    # 00:00-01:00 GMT ends when 02:00 BST begins: back to back in real time.
    insert(
        practitioner=practitioner,
        room=room,
        start=datetime(2026, 3, 29, 0, 0, tzinfo=LONDON),
        end=datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    )

    insert(
        practitioner=practitioner,
        room=room,
        start=datetime(2026, 3, 29, 2, 0, tzinfo=LONDON),
        end=datetime(2026, 3, 29, 3, 0, tzinfo=LONDON),
    )
    with pytest.raises(IntegrityError):
        # 00:30 GMT to 02:30 BST is one real hour, overlapping both.
        insert(
            practitioner=practitioner,
            room=room,
            start=datetime(2026, 3, 29, 0, 30, tzinfo=LONDON),
            end=datetime(2026, 3, 29, 2, 30, tzinfo=LONDON),
        )

    assert Appointment.objects.count() == 2


# The service and the exclusion constraints (PostgreSQL)


@pytest.mark.postgres
def test_a_practitioner_clash_caught_by_the_database_is_a_booking_error(
    no_friendly_check, practitioner, room, other_room, patient, front_desk
):
    insert(
        practitioner=practitioner,
        room=room,
        patient=patient,
        start=thursday(10),
        end=thursday(11),
    )

    with pytest.raises(BookingError) as excinfo:
        book_appointment(
            patient=PatientFactory(),
            practitioner=practitioner,
            room=other_room,
            start=thursday(10, 30),
            end=thursday(11, 30),
            kind=Appointment.Kind.TREATMENT,
            booked_by=front_desk,
            now=NOW,
        )

    assert excinfo.value.messages == [
        f"{practitioner} is already booked on Thu 26 Nov 2026, 10:00-11:00 "
        "(consultation with Ada Lovelace)."
    ]
    assert isinstance(excinfo.value.__cause__, IntegrityError)
    assert Appointment.objects.count() == 1


@pytest.mark.postgres
def test_a_room_clash_caught_by_the_database_names_the_room_only(
    no_friendly_check, practitioner, other_practitioner, room, patient, front_desk
):
    insert(
        practitioner=practitioner,
        room=room,
        patient=patient,
        start=thursday(10),
        end=thursday(11),
    )

    with pytest.raises(BookingError) as excinfo:
        book_appointment(
            patient=PatientFactory(),
            practitioner=other_practitioner,
            room=room,
            start=thursday(10, 30),
            end=thursday(11, 30),
            kind=Appointment.Kind.TREATMENT,
            booked_by=front_desk,
            now=NOW,
        )

    assert excinfo.value.messages == [
        "Room 1 is already booked on Thu 26 Nov 2026, 10:00-11:00 "
        "(consultation with Ada Lovelace)."
    ]
    assert Appointment.objects.count() == 1


@pytest.mark.postgres
def test_a_move_caught_by_the_database_is_a_booking_error_and_changes_nothing(
    no_friendly_check, practitioner, room, other_room, front_desk
):
    insert(practitioner=practitioner, room=room, start=thursday(10), end=thursday(11))
    later = insert(
        practitioner=practitioner, room=other_room, start=thursday(14), end=thursday(15)
    )

    with pytest.raises(BookingError) as excinfo:
        reschedule_appointment(
            appointment=later,
            start=thursday(10, 30),
            end=thursday(11, 30),
            practitioner=practitioner,
            room=other_room,
            by=front_desk,
            now=NOW,
        )

    assert [p.code for p in excinfo.value.problems] == ["practitioner_clash"]
    later.refresh_from_db()
    assert (later.start, later.end) == (thursday(14), thursday(15))


@pytest.mark.postgres
def test_a_refused_booking_leaves_the_callers_transaction_usable(
    no_friendly_check, practitioner, room, other_room, patient, front_desk
):
    insert(practitioner=practitioner, room=room, start=thursday(10), end=thursday(11))

    with transaction.atomic():
        with pytest.raises(BookingError):
            book_appointment(
                patient=patient,
                practitioner=practitioner,
                room=other_room,
                start=thursday(10),
                end=thursday(11),
                kind=Appointment.Kind.CONSULTATION,
                booked_by=front_desk,
                now=NOW,
            )
        book_appointment(
            patient=patient,
            practitioner=practitioner,
            room=other_room,
            start=thursday(11),
            end=thursday(12),
            kind=Appointment.Kind.CONSULTATION,
            booked_by=front_desk,
            now=NOW,
        )

    assert Appointment.objects.count() == 2


# Concurrency (PostgreSQL)

THREADS = 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_of_several_simultaneous_bookings_for_one_practitioner_exactly_one_wins(
    practitioner, front_desk
):
    open_clinic(practitioner)
    # Different rooms and patients, overlapping times: only the practitioner clashes.
    requests = [
        {
            "patient": PatientFactory(),
            "room": RoomFactory(),
            "start": thursday(10, 5 * n),
            "end": thursday(11, 5 * n),
        }
        for n in range(THREADS)
    ]

    def attempt(request: dict) -> Appointment:
        return book_appointment(
            practitioner=practitioner,
            kind=Appointment.Kind.TREATMENT,
            booked_by=front_desk,
            now=NOW,
            **request,
        )

    outcome = at_once(
        *[lambda r=request: attempt(r) for request in requests], refusal=BookingError
    )
    booked, refused, crashed = outcome.results, outcome.refused, outcome.crashed

    assert crashed == []
    assert len(booked) == 1
    assert len(refused) == THREADS - 1
    for error in refused:
        assert [p.code for p in error.problems] == ["practitioner_clash"]
        assert error.messages[0].startswith(f"{practitioner} is already booked on ")
    assert list(Appointment.objects.values_list("pk", flat=True)) == [booked[0].pk]


def wait_until_a_lock_is_awaited() -> None:
    """Return once some connection waits for a lock (ours, presumably)."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
    raise AssertionError("Nobody waited for a lock.")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("shared", ["practitioner", "room"])
def test_a_booking_waits_for_a_simultaneous_one_then_its_check_refuses_it(
    practitioner, other_practitioner, room, other_room, front_desk, shared
):
    # Queued behind the first booking, the second is refused by the check, not
    # by the exclusion constraint, whose waits can end in a deadlock instead.
    open_clinic(practitioner, other_practitioner)
    first_is_in = threading.Event()
    crashed: list[BaseException] = []

    def first_booking() -> None:
        try:
            with transaction.atomic():
                book_appointment(
                    patient=PatientFactory(),
                    practitioner=practitioner,
                    room=room,
                    start=thursday(10),
                    end=thursday(11),
                    kind=Appointment.Kind.TREATMENT,
                    booked_by=front_desk,
                    now=NOW,
                )
                first_is_in.set()
                wait_until_a_lock_is_awaited()
        except BaseException as error:  # noqa: B036 - reported by the assert below
            crashed.append(error)
        finally:
            first_is_in.set()
            connection.close()

    thread = threading.Thread(target=first_booking)
    thread.start()
    first_is_in.wait(timeout=10)
    with pytest.raises(BookingError) as excinfo:
        book_appointment(
            patient=PatientFactory(),
            practitioner=practitioner
            if shared == "practitioner"
            else other_practitioner,
            room=room if shared == "room" else other_room,
            start=thursday(10, 30),
            end=thursday(11, 30),
            kind=Appointment.Kind.TREATMENT,
            booked_by=front_desk,
            now=NOW,
        )
    thread.join(timeout=10)

    assert crashed == []
    assert [p.code for p in excinfo.value.problems] == [f"{shared}_clash"]
    assert excinfo.value.__cause__ is None
    assert Appointment.objects.count() == 1
