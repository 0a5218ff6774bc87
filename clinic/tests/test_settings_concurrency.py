"""A change of settings and a booking at the same moment: the booking is either
seen by the change's check (and the change refused) or refused itself; never a
booked appointment on a closed day or in a practitioner's time off."""

import threading
import time as clock
from datetime import date, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from clinic.models import Appointment, ClosureDay, TimeOff
from clinic.scheduling import local_datetime
from clinic.services import BookingError, book_appointment
from clinic.tests.factories import open_clinic
from clinic.tests.threads import at_once

# A Thursday one to two weeks ahead of the run: bookings and closures are for
# days to come, whenever the suite runs.
_AHEAD = date.today() + timedelta(days=7)
DAY = _AHEAD + timedelta(days=(3 - _AHEAD.weekday()) % 7)
START = local_datetime(DAY, time(10))


def saved_slowly(row, checked: threading.Event) -> None:
    """What the admin does, with the save a moment after the check: a booking
    made in that moment would pass the check unseen, were nothing held."""
    with transaction.atomic():
        row.full_clean()
        checked.set()
        clock.sleep(0.5)  # time for the booking to reach the calendar's lock
        row.save()


def book(patient, practitioner, room, front_desk, checked: threading.Event):
    checked.wait(timeout=10)  # the change has checked the calendar
    return book_appointment(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=START,
        end=START + timedelta(hours=1),
        kind=Appointment.Kind.CONSULTATION,
        booked_by=front_desk,
        now=START - timedelta(days=2),
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("change", ["closure", "time off"])
def test_a_booking_and_a_closure_or_time_off_at_once_never_both_go_through(
    change, patient, practitioner, room, front_desk
):
    open_clinic(practitioner)
    row = (
        ClosureDay(date=DAY, reason="Staff training")
        if change == "closure"
        else TimeOff(
            practitioner=practitioner,
            start=START - timedelta(hours=1),
            end=START + timedelta(hours=3),
            reason="Dentist",
        )
    )

    checked = threading.Event()

    outcome = at_once(
        lambda: saved_slowly(row, checked),
        lambda: book(patient, practitioner, room, front_desk, checked),
        refusal=(BookingError, ValidationError),
    )

    assert outcome.crashed == []
    assert len(outcome.refused) == 1
    # The change held the calendar first: the booking waited and saw it.
    assert isinstance(outcome.refused[0], BookingError)
    assert not Appointment.objects.exists()
    assert type(row).objects.count() == 1
