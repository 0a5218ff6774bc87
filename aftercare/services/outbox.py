"""What staff do in the outbox: resend, cancel, and read a patient's emails."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from aftercare.models import (
    Reminder,
)
from aftercare.services.planning import _nudge
from clinic.models import Patient

Status = Reminder.Status


class OutboxError(Exception):
    pass


@transaction.atomic
def resend(reminder: Reminder, *, now: datetime | None = None) -> Reminder:
    """Send a failed, unknown, skipped or cancelled email again, now."""
    now = now or timezone.now()
    reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
    if reminder.status in (Status.SCHEDULED, Status.SENDING):
        raise OutboxError("This email is already on its way.")
    if reminder.status == Status.SENT:
        raise OutboxError("This email was sent; it is not sent twice.")
    reminder.status = Status.SCHEDULED
    reminder.due_at = now
    reminder.next_attempt_at = None
    reminder.skip_reason = ""
    reminder.save(
        update_fields=[
            "status",
            "due_at",
            "next_attempt_at",
            "skip_reason",
            "updated_at",
        ]
    )
    _nudge()
    return reminder


@transaction.atomic
def cancel(reminder: Reminder, *, now: datetime | None = None) -> Reminder:
    now = now or timezone.now()
    updated = Reminder.objects.filter(pk=reminder.pk, status=Status.SCHEDULED).update(
        status=Status.CANCELLED, skip_reason="cancelled by staff", updated_at=now
    )
    if not updated:
        raise OutboxError("Only an email that is still scheduled can be cancelled.")
    reminder.refresh_from_db()
    return reminder


def timeline(patient: Patient) -> list[Reminder]:
    return list(
        Reminder.objects.filter(patient=patient)
        .select_related("appointment")
        .order_by("-due_at", "-id")[:200]
    )
