"""One patient at two desks at the same moment: registered twice (a form sent
twice), or booked twice."""

from datetime import date, time, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from clinic.models import Appointment, Patient
from clinic.scheduling import local_datetime
from clinic.services import ANOTHER_CONSULTATION, BookingError, book_appointment
from clinic.tests.factories import open_clinic
from clinic.tests.threads import at_once

FORM = {
    "first_name": "Racey",
    "last_name": "Doubles",
    "date_of_birth": "1990-01-02",
    "email": "racey@example.com",
    "phone": "",
    "preferred_contact": "email",
    "email_consent": "on",
    "skin_type": "",
    "notes": "",
}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_registration_sent_four_times_at_once_registers_one_patient(front_desk):
    def register():
        client = Client()
        client.force_login(front_desk)
        return client.post(reverse("clinic:patient_create"), FORM)

    outcome = at_once(*[register] * 4)
    statuses, crashed = outcome.results, outcome.crashed

    assert crashed == []
    assert Patient.objects.filter(last_name="Doubles").count() == 1
    assert sorted(r.status_code for r in statuses) == [200, 200, 200, 302]
    for response in statuses:
        if response.status_code == 200:
            assert "is registered already" in response.content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_patient_booked_at_once_by_two_desks_gets_one_appointment(
    patient, practitioner, other_practitioner, room, other_room, front_desk
):
    open_clinic(practitioner, other_practitioner)
    start = local_datetime(date(2026, 12, 3), time(10))

    def book(who, where):
        return book_appointment(
            patient=patient,
            practitioner=who,
            room=where,
            start=start,
            end=start + timedelta(hours=1),
            kind=Appointment.Kind.CONSULTATION,
            booked_by=front_desk,
            now=start - timedelta(days=2),
        )

    outcome = at_once(
        lambda: book(practitioner, room),
        lambda: book(other_practitioner, other_room),
        refusal=BookingError,
    )
    booked, refused, crashed = outcome.results, outcome.refused, outcome.crashed

    assert crashed == []
    assert (len(booked), len(refused)) == (1, 1)
    assert refused[0].messages[0].startswith("The patient has another appointment")
    assert Appointment.objects.filter(patient=patient).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_desks_booking_a_consultation_on_different_days_book_one(
    patient, practitioner, other_practitioner, room, other_room, front_desk
):
    """Each page showed no consultation ahead; without the tick for another,
    the second booking is asked about, not made."""
    open_clinic(practitioner, other_practitioner)
    thursday = local_datetime(date(2026, 12, 3), time(10))

    def book(who, where, start):
        return book_appointment(
            patient=patient,
            practitioner=who,
            room=where,
            start=start,
            end=start + timedelta(minutes=30),
            kind=Appointment.Kind.CONSULTATION,
            booked_by=front_desk,
            now=thursday - timedelta(days=2),
            another=False,
        )

    outcome = at_once(
        lambda: book(practitioner, room, thursday),
        lambda: book(other_practitioner, other_room, thursday + timedelta(days=1)),
        refusal=BookingError,
    )
    booked, refused, crashed = outcome.results, outcome.refused, outcome.crashed

    assert crashed == []
    assert (len(booked), len(refused)) == (1, 1)
    assert "already has a consultation booked" in refused[0].messages[0]
    assert refused[0].problems[0].code == ANOTHER_CONSULTATION
    assert Appointment.objects.filter(patient=patient).count() == 1
    # Ticked for another, it is booked.
    book_appointment(
        patient=patient,
        practitioner=other_practitioner,
        room=other_room,
        start=thursday + timedelta(days=7),
        end=thursday + timedelta(days=7, minutes=30),
        kind=Appointment.Kind.CONSULTATION,
        booked_by=front_desk,
        now=thursday - timedelta(days=2),
        another=True,
    )
    assert Appointment.objects.filter(patient=patient).count() == 2
