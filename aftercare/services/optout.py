"""One-click unsubscribe: signed links that name one patient and need no login."""

from copy import copy
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from aftercare.models import (
    Kind,
    Reminder,
)
from aftercare.services.outbox import why_not_resend
from aftercare.services.planning import nudge, one_email_each, versions_of
from aftercare.services.told import told_places
from clinic.models import Appointment, Patient
from clinic.services import keep_change

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
    """No more emails for this patient: consent off, pending emails cancelled.
    Once more (a mail scanner repeating the one-click request, say) changes
    nothing: the time the patient stopped their emails stays the first."""
    now = now or timezone.now()
    stored = Patient.objects.select_for_update().filter(pk=patient.pk).first()
    if stored is not None and (stored.email_consent or stored.unsubscribed_at is None):
        Patient.objects.filter(pk=patient.pk).update(
            email_consent=False, unsubscribed_at=now, updated_at=now
        )
        after = copy(stored)
        after.email_consent = False
        # In the patient's history beside the desk's changes.
        keep_change(
            stored,
            after,
            by=None,
            now=now,
            how=_("the patient, through the link in an email"),
        )
    Reminder.objects.filter(patient=patient, status=Status.SCHEDULED).update(
        status=Status.CANCELLED, skip_reason=UNSUBSCRIBED, updated_at=now
    )


def on_patient_event(*, event: str, patient: Patient, now: datetime) -> None:
    """Listener for clinic.services.save_patient_details."""
    if event == "consent_given":
        resume_emails(patient, now=now)


def resume_emails(patient: Patient, *, now: datetime) -> int:
    """Consent given again: the emails cancelled by the unsubscribe that are
    still ahead, and still true, are scheduled again at their own time, and the
    bookings changed meanwhile are told (bring_calendar_up_to_date)."""
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
    bring_calendar_up_to_date(patient, now=now)
    return resumed


# What a patient's calendar knows of their bookings: the emails that carry .ics.
CALENDAR_KINDS = (Kind.CONFIRMATION, Kind.UPDATE, Kind.CANCELLATION)
TOLD_OR_GOING = (Status.SENT, Status.SENDING, Status.SCHEDULED)


def bring_calendar_up_to_date(patient: Patient, *, now: datetime) -> int:
    """Bookings ahead that were booked, moved or cancelled while the patient had
    no email (or had opted out) are told in one email each kind, as they stand
    now: the patient's calendar would otherwise keep the old times. A booking
    they never heard of gets a confirmation; one they heard of, an update; a
    cancellation goes only to one they heard of. Returns how many appointments."""
    rows = list(
        Reminder.objects.filter(patient=patient, kind__in=CALENDAR_KINDS).only(
            "appointment_id", "series", "status", "kind", "due_at"
        )
    )

    def covering(appointment: Appointment) -> list[Reminder]:
        return [r for r in rows if appointment.pk in r.appointment_ids]

    confirm, update, cancel = [], [], []
    ahead = Appointment.objects.filter(patient=patient, start__gt=now).exclude(
        status=Appointment.Status.NO_SHOW
    )
    for appointment in ahead.order_by("start"):
        about = covering(appointment)
        if not about:
            continue  # Booked before emails were planned: nothing to put right.
        latest = max(r.due_at for r in about)
        sent = [r for r in about if r.status == Status.SENT]
        told_or_going = [r for r in about if r.status in TOLD_OR_GOING]
        if any(r.due_at >= latest for r in told_or_going):
            continue  # The patient was (or is about to be) told the latest.
        if appointment.status == Appointment.Status.CANCELLED:
            if sent:
                cancel.append(appointment)
        elif appointment.status == Appointment.Status.BOOKED:
            (update if sent else confirm).append(appointment)
    # Moved away and back meanwhile, or changed and changed back: where the
    # patient heard it was, with nothing to tell.
    heard = told_places({a.pk: None for a in update}, {patient.pk})
    update = [
        a
        for a in update
        if a.pk in heard
        and heard[a.pk] != (a.start, a.end, a.practitioner_id, a.room_id)
    ]
    told = confirm + update + cancel
    if not told:
        return 0
    versions = versions_of(told)
    new_rows = []
    for kind, appointments in (
        (Kind.CONFIRMATION, confirm),
        (Kind.UPDATE, update),
        (Kind.CANCELLATION, cancel),
    ):
        if appointments:
            new_rows += one_email_each(kind, appointments, versions, now)
    Reminder.objects.bulk_create(new_rows)
    nudge()
    return len(told)
