from collections import defaultdict
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from clinic import roles
from clinic.models import (
    Appointment,
    AppointmentEvent,
    OpeningHours,
    Patient,
    Practitioner,
    Room,
    WorkingHours,
    local_midnight,
)
from clinic.scheduling import Availability

# A Wednesday at noon: part of the demo week is over, part is still to come.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Europe/London"))
PASSWORD = "clinic-demo-2026"
ROLES = {
    "frontdesk": roles.FRONT_DESK,
    "manager": roles.MANAGER,
    "dr.patel": roles.PRACTITIONER,
    "nurse.okafor": roles.PRACTITIONER,
    "lee.aesthetics": roles.PRACTITIONER,
}


def seed_demo(now: datetime = NOW) -> str:
    out = StringIO()
    with time_machine.travel(now, tick=False):
        call_command("seed_demo", stdout=out, stderr=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (User, Patient, Practitioner, WorkingHours, Room, OpeningHours)
    return {model.__name__: model.objects.count() for model in models} | {
        "Appointment": Appointment.objects.count(),
        "active": Appointment.objects.active().count(),
        "history": AppointmentEvent.objects.count(),
    }


@pytest.fixture
def seeded(db) -> str:
    return seed_demo()


def test_it_builds_the_demo_clinic(seeded):
    staff_and_setup = {
        name: count
        for name, count in counts().items()
        if name not in ("Appointment", "active", "history")
    }
    assert staff_and_setup == {
        "User": 5,
        "Patient": 60,
        "Practitioner": 3,
        "WorkingHours": 19,
        "Room": 2,
        "OpeningHours": 6,
    }
    assert sorted(Practitioner.objects.values_list("title", flat=True)) == [
        "aesthetician",
        "nurse",
        "physician",
    ]
    physician = Practitioner.objects.get(user__username="dr.patel")
    assert physician.title == Practitioner.Title.PHYSICIAN
    assert str(physician) == "Dr Priya Patel"
    assert set(Room.objects.values_list("name", flat=True)) == {
        "Treatment room 1",
        "Treatment room 2",
    }


def test_running_it_twice_creates_nothing_new(seeded):
    before = counts()

    output = seed_demo()

    assert counts() == before
    assert "already exist" in output


def test_a_later_run_in_the_same_week_adds_no_appointments(seeded):
    before = counts()

    seed_demo(NOW + timedelta(days=2, hours=3))

    assert counts() == before


def test_every_appointment_has_its_history(seeded):
    assert not Appointment.objects.filter(events__isnull=True).exists()
    for status in (Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW):
        ended = Appointment.objects.filter(status=status)
        assert ended.exists()
        assert not ended.exclude(events__action=status).exists()
    cancelled = Appointment.objects.filter(status=Appointment.Status.CANCELLED)
    assert cancelled.exists()
    for appointment in cancelled:
        assert appointment.events.filter(
            action=AppointmentEvent.Action.CANCELLED,
            reason=appointment.cancel_reason,
        ).exists()


def test_each_appointments_history_begins_with_its_booking(seeded):
    """Written as they ended, past appointments were booked before they began:
    not "checked in 09:40" above "booked" at the time the demo was made."""
    for appointment in Appointment.objects.prefetch_related("events"):
        events = sorted(appointment.events.all(), key=lambda e: (e.at, e.pk))
        assert events[0].action == AppointmentEvent.Action.BOOKED, appointment
        assert events[0].at <= appointment.start or appointment.start > NOW


def test_every_treatment_of_the_demo_belongs_to_a_plan(seeded):
    """A treatment outside a plan has no record to write and sign."""
    treatments = Appointment.objects.filter(kind=Appointment.Kind.TREATMENT)

    assert treatments.exists()
    assert not treatments.filter(treatment_session__isnull=True).exists()


def test_staff_are_in_their_role_groups_and_log_in_with_the_demo_password(seeded):
    for username, role in ROLES.items():
        user = authenticate(username=username, password=PASSWORD)
        assert user is not None, username
        assert list(user.groups.values_list("name", flat=True)) == [role]


def test_only_the_manager_can_use_the_admin(seeded):
    staff = User.objects.filter(is_staff=True).values_list("username", flat=True)
    assert list(staff) == ["manager"]
    assert not User.objects.filter(is_superuser=True).exists()


def test_it_prints_the_logins_and_the_address(seeded):
    for username in ROLES:
        assert username in seeded
    assert PASSWORD in seeded
    assert "http://127.0.0.1:8000/" in seeded


def test_most_patients_consent_to_email_reminders(seeded):
    consenting = Patient.objects.filter(email_consent=True)
    assert 20 <= consenting.count() < Patient.objects.count()
    assert all(p.email.endswith("@example.com") for p in consenting)
    assert set(Patient.objects.values_list("skin_type", flat=True)) == set(range(1, 7))


def test_no_practitioner_or_room_is_double_booked(seeded):
    by_practitioner = defaultdict(list)
    by_room = defaultdict(list)
    for appointment in Appointment.objects.active().order_by("start"):
        by_practitioner[appointment.practitioner_id].append(appointment)
        by_room[appointment.room_id].append(appointment)

    for calendar in [*by_practitioner.values(), *by_room.values()]:
        for earlier, later in zip(calendar, calendar[1:], strict=False):
            assert earlier.end <= later.start, (earlier, later)
    assert len(by_practitioner) == 3
    assert len(by_room) == 2


def test_upcoming_appointments_are_within_opening_and_working_hours(seeded):
    upcoming = Appointment.objects.filter(start__gte=NOW).select_related(
        "practitioner__user"
    )
    assert upcoming.count() >= 10
    availability = Availability.load(
        start=NOW, end=max(a.end for a in upcoming), practitioner_ids=None
    )

    for appointment in upcoming:
        assert (
            availability.hours_problems(
                start=appointment.start,
                end=appointment.end,
                practitioner=appointment.practitioner,
            )
            == []
        ), appointment
        assert appointment.booked_by.username == "frontdesk"


def test_the_week_runs_from_monday_to_saturday_with_some_today(seeded):
    monday = NOW.date() - timedelta(days=NOW.weekday())
    # Other apps' demo data (consultation history, plans) lies in other weeks.
    week = Appointment.objects.filter(
        start__gte=local_midnight(monday),
        start__lt=local_midnight(monday + timedelta(days=7)),
    )
    days = {timezone.localdate(a.start) for a in week}
    assert min(days) == monday
    assert max(days) == monday + timedelta(days=5)
    assert NOW.date() in days
    for username in ("dr.patel", "nurse.okafor", "lee.aesthetics"):
        practitioner = Practitioner.objects.get(user__username=username)
        assert practitioner.appointments.count() >= 10
    kinds = set(Appointment.objects.values_list("kind", flat=True))
    assert kinds == {Appointment.Kind.CONSULTATION, Appointment.Kind.TREATMENT}


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 28, 11, 0, tzinfo=ZoneInfo("Europe/London")),
        datetime(2026, 11, 29, 11, 0, tzinfo=ZoneInfo("Europe/London")),
    ],
    ids=["Saturday", "Sunday"],
)
def test_loaded_at_a_weekend_the_physician_has_todays_session_to_record(db, now):
    seed_demo(now)
    today = now.date()
    patel = Practitioner.objects.get(user__username="dr.patel")

    todays = Appointment.objects.filter(
        practitioner=patel,
        kind=Appointment.Kind.TREATMENT,
        start__gte=local_midnight(today),
        start__lt=local_midnight(today + timedelta(days=1)),
    )

    assert todays.filter(treatment_session__plan__isnull=False).exists()
    assert OpeningHours.objects.filter(weekday=today.weekday()).exists()
    assert patel.working_hours.filter(weekday=today.weekday()).exists()


def test_loaded_on_a_weekday_the_week_is_as_planned(seeded):
    patel = Practitioner.objects.get(user__username="dr.patel")

    assert not patel.working_hours.filter(weekday__gte=5).exists()
    assert not OpeningHours.objects.filter(weekday=6).exists()


def test_past_appointments_are_completed_but_for_one_no_show(seeded):
    ended = Appointment.objects.filter(end__lte=NOW)
    statuses = set(ended.values_list("status", flat=True))

    # Nothing that ended is left "booked"; a session still waiting for its record
    # (the treatment plans' part of the demo) may be checked in.
    assert {Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW} <= statuses
    assert statuses <= {
        Appointment.Status.COMPLETED,
        Appointment.Status.NO_SHOW,
        Appointment.Status.CHECKED_IN,
    }
    assert ended.filter(status=Appointment.Status.NO_SHOW).count() == 1
    assert not Appointment.objects.filter(
        start__gt=NOW, status=Appointment.Status.COMPLETED
    ).exists()


def test_a_bank_holiday_on_a_weekend_closes_the_next_working_day(seeded):
    from datetime import date

    from clinic.models import ClosureDay

    # 2026: Boxing Day is a Saturday, made up on Monday 28 December.
    assert dict(ClosureDay.objects.values_list("date", "reason")) == {
        date(2026, 12, 25): "Christmas Day",
        date(2026, 12, 26): "Boxing Day",
        date(2026, 12, 28): "Boxing Day (substitute day)",
        date(2027, 1, 1): "New Year's Day",
    }
    assert not Appointment.objects.active().on_day(date(2026, 12, 28)).exists()


def test_one_upcoming_appointment_is_cancelled_with_a_reason(seeded):
    cancelled = Appointment.objects.get(status=Appointment.Status.CANCELLED)

    assert cancelled.start > NOW
    assert cancelled.cancel_reason
    assert cancelled.cancelled_at == NOW
