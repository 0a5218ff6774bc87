"""A manager changes an email's offset while the front desk books: the booking's
emails end up at the new offset, whichever commits first."""

import time as clock
from datetime import date, time, timedelta

import pytest

from aftercare import services
from aftercare.models import Kind, Reminder, ReminderRule
from aftercare.services import planning
from clinic.models import Appointment
from clinic.scheduling import local_datetime
from clinic.services import book_appointment
from clinic.tests.factories import open_clinic
from clinic.tests.threads import at_once

START = local_datetime(date(2026, 12, 10), time(10))
NOW = START - timedelta(days=10)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_booking_made_while_an_offset_changes_follows_the_new_offset(
    patient, practitioner, room, front_desk, monkeypatch
):
    open_clinic(practitioner)
    read_rules = planning.rules

    def rules_then_a_pause(**kwargs):
        # The booking has read the rules; the manager saves meanwhile.
        table = read_rules(**kwargs)
        clock.sleep(0.5)
        return table

    monkeypatch.setattr(planning, "rules", rules_then_a_pause)

    def book():
        return book_appointment(
            patient=patient,
            practitioner=practitioner,
            room=room,
            start=START,
            end=START + timedelta(hours=1),
            kind=Appointment.Kind.CONSULTATION,
            booked_by=front_desk,
            now=NOW,
        )

    def change_offset():
        clock.sleep(0.1)  # after the booking has read the rules
        rule = ReminderRule.objects.get(kind=Kind.REMINDER)
        rule.offset_minutes = -48 * 60
        return services.save_rule(rule, now=NOW)

    outcome = at_once(book, change_offset)

    assert outcome.crashed == []
    reminder = Reminder.objects.get(kind=Kind.REMINDER)
    assert reminder.due_at == START - timedelta(days=2)
