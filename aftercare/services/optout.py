"""One-click unsubscribe: signed links that name one patient and need no login."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from aftercare.models import (
    Reminder,
)
from aftercare.services.outbox import why_not_resend
from clinic.models import Patient

UNSUBSCRIBE_SALT = "aftercare.unsubscribe"
UNSUBSCRIBE_MAX_AGE = timedelta(days=400)

Status = Reminder.Status
UNSUBSCRIBED = "the patient unsubscribed"


def _unsubscribe_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(patient: Patient) -> str:
    """The patient's id, signed with the date: short, and cheap for every email."""
    return _unsubscribe_signer().sign(str(patient.pk))


def unsubscribe_url(patient: Patient) -> str:
    path = reverse("aftercare:unsubscribe", args=[unsubscribe_token(patient)])
    return settings.CLINIC_BASE_URL.rstrip("/") + path


def patient_for_token(token: str) -> Patient | None:
    """The patient a genuine, unexpired token names; None for anything else."""
    try:
        value = _unsubscribe_signer().unsign(token, max_age=UNSUBSCRIBE_MAX_AGE)
    except signing.BadSignature:  # Also an expired one (SignatureExpired).
        return None
    if not value.isdigit():
        return None
    return Patient.objects.filter(pk=int(value)).first()


@transaction.atomic
def unsubscribe(patient: Patient, *, now: datetime | None = None) -> None:
    """No more emails for this patient: consent off, pending emails cancelled."""
    now = now or timezone.now()
    Patient.objects.filter(pk=patient.pk).update(email_consent=False, updated_at=now)
    Reminder.objects.filter(patient=patient, status=Status.SCHEDULED).update(
        status=Status.CANCELLED, skip_reason=UNSUBSCRIBED, updated_at=now
    )


def on_patient_event(*, event: str, patient: Patient, now: datetime) -> None:
    """Listener for clinic.services.save_patient_details."""
    if event == "consent_given":
        resume_emails(patient, now=now)


def resume_emails(patient: Patient, *, now: datetime) -> int:
    """Consent given again: the emails cancelled by the unsubscribe that are
    still ahead, and still true, are scheduled again at their own time."""
    resumed = 0
    cancelled = Reminder.objects.filter(
        patient=patient,
        status=Status.CANCELLED,
        skip_reason=UNSUBSCRIBED,
        due_at__gt=now,
    ).select_related("appointment", "patient")
    for reminder in cancelled:
        if why_not_resend(reminder, now=now):
            continue
        reminder.status, reminder.skip_reason = Status.SCHEDULED, ""
        reminder.save(update_fields=["status", "skip_reason", "updated_at"])
        resumed += 1
    return resumed
