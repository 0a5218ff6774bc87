from collections import Counter, defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from bench import data
from clinic import roles
from clinic.models import (
    Appointment,
    OpeningHours,
    Patient,
    Practitioner,
    Room,
    WorkingHours,
)
from clinic.scheduling import Availability

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Europe/London"))


@pytest.fixture
def clinic(db) -> data.Clinic:
    # Three practitioners in two rooms, so one room is shared by two shifts.
    return data.build_clinic(now=NOW, practitioners=3, rooms=2, patients=20)


@pytest.fixture
def appointment_count(clinic) -> int:
    return data.build_appointments(clinic, days_back=7, days_forward=7)


def test_it_builds_the_staff_rooms_hours_and_patients(clinic):
    assert Practitioner.objects.count() == 3
    assert Room.objects.count() == 2
    assert Patient.objects.count() == 20
    assert OpeningHours.objects.count() == 6
    assert WorkingHours.objects.count() == 3 * 6
    assert User.objects.filter(groups__name=roles.PRACTITIONER).count() == 3
    assert clinic.front_desk.groups.get().name == roles.FRONT_DESK


def test_it_builds_two_weeks_of_appointments_around_now(appointment_count):
    appointments = Appointment.objects.all()
    days = {timezone.localdate(a.start) for a in appointments}

    assert appointments.count() == appointment_count
    assert min(days) == NOW.date() - timedelta(days=7)
    assert max(days) == NOW.date() + timedelta(days=6)
    assert all(day.weekday() != 6 for day in days)
    assert len(days) == 12  # two weeks, Sundays closed

    per_day = Counter(
        (a.practitioner_id, timezone.localdate(a.start)) for a in appointments
    )
    assert len(per_day) == 3 * 12
    # Six-hour weekday and four-hour Saturday shifts of 30 and 60 minute slots.
    assert all(4 <= count <= 12 for count in per_day.values())


def test_no_practitioner_or_room_is_double_booked(appointment_count):
    by_practitioner = defaultdict(list)
    by_room = defaultdict(list)
    for appointment in Appointment.objects.active().order_by("start"):
        by_practitioner[appointment.practitioner_id].append(appointment)
        by_room[appointment.room_id].append(appointment)

    for calendar in [*by_practitioner.values(), *by_room.values()]:
        for earlier, later in zip(calendar, calendar[1:], strict=False):
            assert earlier.end <= later.start, (earlier, later)
    sharing = sorted(len({a.practitioner_id for a in c}) for c in by_room.values())
    assert len(by_practitioner) == 3
    assert sharing == [1, 2]


def test_appointments_are_within_opening_and_working_hours(appointment_count):
    appointments = Appointment.objects.select_related("practitioner")
    availability = Availability.load(
        start=NOW - timedelta(days=8), end=NOW + timedelta(days=8)
    )

    for appointment in appointments:
        assert (
            availability.hours_problems(
                start=appointment.start,
                end=appointment.end,
                practitioner=appointment.practitioner,
            )
            == []
        ), appointment


def test_statuses_fit_the_time_of_the_appointment(appointment_count):
    past = Appointment.objects.filter(end__lte=NOW)
    future = Appointment.objects.filter(start__gt=NOW)

    Status = Appointment.Status

    assert set(past.values_list("status", flat=True)) <= {
        Status.COMPLETED,
        Status.NO_SHOW,
        Status.CANCELLED,
    }
    assert set(future.values_list("status", flat=True)) <= {
        Status.BOOKED,
        Status.CANCELLED,
    }
    assert past.filter(status=Status.COMPLETED).exists()
    assert future.filter(status=Status.BOOKED).exists()
    assert not Appointment.objects.filter(
        status=Status.CANCELLED, cancel_reason=""
    ).exists()


def test_it_refuses_more_practitioners_than_two_shifts_a_room(db):
    with pytest.raises(ValueError):
        data.build_clinic(now=NOW, practitioners=5, rooms=2, patients=1)
