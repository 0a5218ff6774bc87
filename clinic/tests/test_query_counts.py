"""The main pages ask the database a fixed number of questions however much they
show: a page with many rows takes no more queries than with one.

The plan page has its own test in plans/tests/test_views.py
(test_the_plan_page_uses_a_fixed_number_of_queries).
"""

from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from aftercare.models import Kind, Reminder
from clinic.models import Appointment, Patient, Practitioner, Room
from clinic.tests.factories import (
    AppointmentFactory,
    PatientFactory,
    PractitionerFactory,
    RoomFactory,
)

MANY = 20
SLOT = timedelta(minutes=30)
# A Wednesday morning in the clinic's zone.
NOW = datetime(2026, 11, 25, 8, 30)
TODAY = NOW.date()
MONDAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(timezone.make_aware(NOW), tick=False):
        yield


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def count_queries(client: Client, url: str, params: dict | None = None) -> int:
    """The queries of one request, after a first one has filled the caches a
    process keeps (content types, permissions of the session's user)."""
    client.get(url, params)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured)


def book(
    count: int,
    *,
    practitioners: list[Practitioner],
    rooms: list[Room],
    days: list[date],
    kind: str = Appointment.Kind.CONSULTATION,
) -> list[Appointment]:
    """``count`` half-hour appointments of different patients, spread over the
    practitioners and rooms, one after the other from 8:00 on each of the days
    (after the ones booked before, so that none overlap)."""
    starts = [at(day, 8) + SLOT * n for day in days for n in range(24)]
    earlier = Appointment.objects.count()
    return [
        AppointmentFactory(
            practitioner=practitioners[n % len(practitioners)],
            room=rooms[n % len(rooms)],
            start=starts[earlier + n],
            end=starts[earlier + n] + SLOT,
            kind=kind,
        )
        for n in range(count)
    ]


def week(day: date) -> list[date]:
    monday = day - timedelta(days=day.weekday())
    return [monday + timedelta(days=n) for n in range(6)]


# Calendars ---------------------------------------------------------------------------


def test_the_week_calendar_takes_no_more_queries_for_a_full_week(
    front_desk, practitioner, room, django_assert_max_num_queries
):
    client = signed_in(front_desk)
    url = reverse("clinic:calendar_week")
    params = {"practitioner": practitioner.pk, "date": TODAY.isoformat()}
    book(1, practitioners=[practitioner], rooms=[room], days=[TODAY])
    one = count_queries(client, url, params)

    book(MANY, practitioners=[practitioner], rooms=[room], days=week(TODAY)[1:])
    with django_assert_max_num_queries(one):
        response = client.get(url, params)
    assert sum(len(d["appointments"]) for d in response.context["week"]) == MANY + 1

    room_week = {"room": room.pk, "date": TODAY.isoformat()}
    assert count_queries(client, url, room_week) <= one


@pytest.mark.parametrize("by", ["practitioner", "room"])
def test_the_day_calendar_takes_no_more_queries_for_a_full_day(
    front_desk, by, django_assert_max_num_queries
):
    client = signed_in(front_desk)
    url = reverse("clinic:calendar_day")
    params = {"date": TODAY.isoformat(), "by": by}
    first = PractitionerFactory()
    book(1, practitioners=[first], rooms=[RoomFactory()], days=[TODAY])
    one = count_queries(client, url, params)

    others = [first, *PractitionerFactory.create_batch(3)]
    book(MANY, practitioners=others, rooms=RoomFactory.create_batch(3), days=[TODAY])
    # One that no longer works here still shows, in a column of its own.
    Practitioner.objects.filter(pk=others[-1].pk).update(is_active=False)
    with django_assert_max_num_queries(one):
        response = client.get(url, params)
    assert sum(len(items) for _, items in response.context["columns"]) == MANY + 1


# Dashboard ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["front_desk", "practitioner", "manager"])
def test_the_dashboard_takes_no_more_queries_for_a_busy_day(
    request, role, practitioner, django_assert_max_num_queries
):
    user = (
        practitioner.user if role == "practitioner" else request.getfixturevalue(role)
    )
    client = signed_in(user)
    url = reverse("clinic:dashboard")
    book(1, practitioners=[practitioner], rooms=[RoomFactory()], days=[TODAY])
    one = count_queries(client, url)

    # The practitioner's own day fills up too, and the manager sees more staff.
    staff = [practitioner, *PractitionerFactory.create_batch(4)]
    book(MANY, practitioners=staff, rooms=RoomFactory.create_batch(3), days=[TODAY])
    with django_assert_max_num_queries(one):
        response = client.get(url)
    if role == "front_desk":
        assert len(response.context["arrivals"]) == MANY + 1
    elif role == "practitioner":
        assert len(response.context["my_day"]) == MANY // len(staff) + 1
    else:
        assert len(list(response.context["overview"]["load"])) == len(staff)


# Patient search ----------------------------------------------------------------------


@pytest.mark.parametrize("query", ["lovelace", "Ada Lovelace", "7700 900"])
def test_a_patient_search_takes_no_more_queries_for_many_matches(
    front_desk, query, django_assert_max_num_queries
):
    client = signed_in(front_desk)
    url = reverse("clinic:patient_list")
    PatientFactory(first_name="Ada", last_name="Lovelace", phone="+44 7700 900001")
    one = count_queries(client, url, {"q": query})

    PatientFactory.create_batch(
        MANY + 10, first_name="Ada", last_name="Lovelace", phone="+44 7700 900002"
    )
    with django_assert_max_num_queries(one):
        response = client.get(url, {"q": query})
    assert response.context["page"].paginator.count == MANY + 11
    assert len(response.context["page"].object_list) == 25


# Outbox ------------------------------------------------------------------------------


def emails(count: int) -> None:
    """A confirmation and a reminder for each of ``count`` appointments of
    different patients, the confirmation sent."""
    for appointment in book(
        count,
        practitioners=[PractitionerFactory()],
        rooms=[RoomFactory()],
        days=[TODAY + timedelta(days=n) for n in range(1, 4)],
    ):
        booked = timezone.make_aware(NOW) - timedelta(days=1)
        Reminder.objects.create(
            patient=appointment.patient,
            appointment=appointment,
            kind=Kind.CONFIRMATION,
            due_at=booked,
            status=Reminder.Status.SENT,
            sent_at=booked,
            attempts=1,
            series=[appointment.pk],
        )
        Reminder.objects.create(
            patient=appointment.patient,
            appointment=appointment,
            kind=Kind.REMINDER,
            due_at=appointment.start - timedelta(days=1),
        )


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"when": "ahead"},
        {"when": "any", "status": "scheduled"},
        {"kind": "confirmation"},
        {"when": "any", "page": "2"},
    ],
)
def test_the_outbox_takes_no_more_queries_for_many_emails(
    front_desk, query, django_assert_max_num_queries
):
    client = signed_in(front_desk)
    url = reverse("aftercare:outbox")
    emails(1)
    one = count_queries(client, url, query)

    emails(MANY * 3)
    with django_assert_max_num_queries(one):
        response = client.get(url, query)
    # Two emails per appointment: the second page is as full as the first.
    assert len(response.context["page"].object_list) == 50
    assert Patient.objects.count() == MANY * 3 + 1
