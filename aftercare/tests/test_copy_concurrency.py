"""Two desks asking for a copy of the same sent email at the same moment."""

from datetime import timedelta

import pytest
from django.utils import timezone

from aftercare import services
from aftercare.models import Kind, Reminder
from aftercare.services import OutboxError
from clinic.tests.factories import AppointmentFactory
from clinic.tests.threads import at_once

Status = Reminder.Status


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_copy_asked_for_from_the_original_and_an_earlier_copy_goes_once():
    appointment = AppointmentFactory()
    # Both sent an hour ago: no copy is on its way, and none just went out.
    an_hour_ago = timezone.now() - timedelta(hours=1)
    sent = {"status": Status.SENT, "sent_at": an_hour_ago, "due_at": an_hour_ago}
    original = Reminder.objects.create(
        patient=appointment.patient,
        appointment=appointment,
        kind=Kind.CONFIRMATION,
        **sent,
    )
    earlier_copy = Reminder.objects.create(
        patient=appointment.patient,
        appointment=appointment,
        kind=Kind.CONFIRMATION,
        copy_of=original,
        **sent,
    )

    outcome = at_once(
        lambda: services.send_copy(original),
        lambda: services.send_copy(earlier_copy),
        refusal=OutboxError,
    )

    assert outcome.crashed == []
    assert (len(outcome.results), len(outcome.refused)) == (1, 1)
    assert "on its way already" in str(outcome.refused[0])
    waiting = Reminder.objects.filter(copy_of=original, status=Status.SCHEDULED)
    assert list(waiting) == outcome.results


@pytest.mark.django_db
def test_the_database_keeps_one_copy_waiting_at_a_time():
    from django.db import IntegrityError, transaction

    appointment = AppointmentFactory()
    now = timezone.now()
    original = Reminder.objects.create(
        patient=appointment.patient,
        appointment=appointment,
        kind=Kind.CONFIRMATION,
        status=Status.SENT,
        sent_at=now,
        due_at=now,
    )
    fields = {
        "patient": appointment.patient,
        "appointment": appointment,
        "kind": Kind.CONFIRMATION,
        "copy_of": original,
        "due_at": now,
    }
    Reminder.objects.create(**fields)

    with pytest.raises(IntegrityError), transaction.atomic():
        Reminder.objects.create(**fields)
    # Once the first has gone out, another may wait.
    Reminder.objects.filter(copy_of=original).update(status=Status.SENT, sent_at=now)
    Reminder.objects.create(**fields)
