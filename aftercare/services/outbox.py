"""What staff do in the outbox: resend, cancel, and read a patient's emails."""

from datetime import datetime, timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from aftercare.models import (
    AFTERCARE,
    BEFORE_START,
    TRANSACTIONAL,
    CopyReason,
    Kind,
    Reminder,
    ReminderRule,
)
from aftercare.services import told
from aftercare.services.planning import INCLUDED, nudge
from clinic.models import Appointment, Patient
from clinic.scheduling import when_text

Status = Reminder.Status
# How long after an email went out a copy is refused as a second click.
COPY_PAUSE = timedelta(minutes=2)
ON_ITS_WAY = gettext_lazy("A copy of this email is on its way already.")


class OutboxError(Exception):
    pass


def why_not_resend(reminder: Reminder, *, now: datetime | None = None) -> str:
    """Why sending this email again would tell the patient something wrong or
    twice ("" when it may go out again)."""
    now = now or timezone.now()
    if reminder.status == Status.SCHEDULED:
        return _("This email is scheduled already, for %(when)s.") % {
            "when": when_text(reminder.due_at)
        }
    if reminder.status == Status.SENDING:
        return _("This email is already on its way.")
    if reminder.status == Status.SENT:
        return _("This email was sent; it is not sent twice.")
    return _still_true(reminder, now)


def _still_true(reminder: Reminder, now: datetime) -> str:
    """Why this email, sent now, would tell the patient something wrong or go
    where it mustn't ("" when it still tells the truth)."""
    patient = reminder.patient
    if not patient.email:
        return _("The patient has no email address: add one on their details first.")
    if not patient.email_consent:
        return _(
            "The patient doesn't agree to emails (or unsubscribed): record their "
            "consent on their details first."
        )
    if reminder.skip_reason == INCLUDED:
        carrier = _carrier_of(reminder)
        if carrier is None or carrier.status == Status.SENT:
            return _(
                "This change went out in one email with the other sessions changed."
            )
        return _(
            "This change is told in one email with the other sessions changed, "
            "which is %(status)s: resend that one (%(when)s)."
        ) % {
            "status": carrier.get_status_display().lower(),
            "when": when_text(carrier.due_at),
        }
    if Reminder.objects.filter(
        appointment_id=reminder.appointment_id,
        kind=reminder.kind,
        version__gt=reminder.version,
    ).exists():
        return _("A newer version of this email replaced it.")
    if reminder.kind == Kind.UPDATE and _changed_again_since(reminder):
        # Sent now, it would tell that later change as part of this one ("was"
        # the time before this change, at the time after the later one).
        return _(
            "One of its sessions changed again since: this email would mix the "
            "two changes. The later change has an email of its own."
        )
    if reminder.kind in (Kind.CANCELLATION, Kind.UPDATE):
        refusal = _nothing_to_tell(reminder)
        if refusal:
            return refusal
    appointment = reminder.appointment
    status = appointment.status_phrase
    if reminder.kind == Kind.CANCELLATION:
        if appointment.status != Appointment.Status.CANCELLED:
            return _("The appointment is %(status)s, not cancelled.") % {
                "status": status
            }
    elif reminder.kind in AFTERCARE:
        if appointment.status != Appointment.Status.COMPLETED:
            return _("The session is %(status)s: there is no aftercare to send.") % {
                "status": status
            }
    elif appointment.status not in Appointment.OPEN_STATUSES and not (
        # A series' confirmation or update still tells of the sessions left.
        reminder.series
        and Appointment.objects.filter(
            pk__in=reminder.series, status__in=Appointment.OPEN_STATUSES
        ).exists()
    ):
        return _("The appointment is %(status)s: this email no longer applies.") % {
            "status": status
        }
    elif reminder.kind in BEFORE_START and appointment.start <= now:
        return _("The appointment has started: this email no longer applies.")
    return ""


def _nothing_to_tell(reminder: Reminder) -> str:
    """Why a cancellation or update would tell the patient of a booking they
    never heard of, or of a change that leaves it where they know it is."""
    appointments = list(Appointment.objects.filter(pk__in=reminder.appointment_ids))
    heard = told.heard_of(appointments)
    if not heard:
        return _(
            "The patient was never told of this booking: this email would tell "
            "them of a change to something they don't know of."
        )
    places = told.told_places(dict.fromkeys(heard), {reminder.patient_id})
    if reminder.kind == Kind.UPDATE and not any(
        places[a.pk] != told.Place.of(a) for a in appointments if a.pk in places
    ):
        return _(
            "The booking is where the patient last heard it was: there is no "
            "change to tell."
        )
    return ""


def _changed_again_since(reminder: Reminder) -> bool:
    """Whether one of the sessions an email of several tells of has a booking
    email from a later change (its own batch's rows, made just after it, are
    not one)."""
    if len(reminder.series) < 2:
        return False
    later = list(
        Reminder.objects.filter(
            appointment_id__in=reminder.series,
            kind__in=TRANSACTIONAL,
            pk__gt=reminder.pk,
        )
    )
    if not later:
        return False
    # Carriers made since: an included row after one of them is its change.
    since = list(
        Reminder.objects.filter(
            patient_id=reminder.patient_id,
            kind=reminder.kind,
            pk__gt=reminder.pk,
            pk__lt=max(row.pk for row in later),
        ).exclude(series=[])
    )
    return any(
        row.skip_reason != INCLUDED
        or row.kind != reminder.kind
        or any(c.pk < row.pk and row.appointment_id in c.series for c in since)
        for row in later
    )


def _carrier_of(included: Reminder) -> Reminder | None:
    """The row whose email tells an included row's change: made just before it,
    for the sessions changed together."""
    candidates = Reminder.objects.filter(
        patient_id=included.patient_id, kind=included.kind, pk__lt=included.pk
    ).exclude(series=[])
    return next(
        (r for r in candidates.order_by("-pk") if included.appointment_id in r.series),
        None,
    )


@transaction.atomic
def changed_since_shown(reminder: Reminder, shown: str | None) -> str:
    """Why an action asked for from a page that showed the email as ``shown``
    (Reminder.as_shown, or its status alone) would act on something else (""
    when it may go ahead, or when nothing was sent)."""
    if not shown or shown in (reminder.status, reminder.as_shown):
        return ""
    return _(
        "This email changed while your page was open (a colleague's click, or "
        "the mail server's answer): it is %(status)s now. Check it again."
    ) % {"status": reminder.get_status_display().lower()}


def resend(
    reminder: Reminder, *, now: datetime | None = None, shown: str | None = None
) -> Reminder:
    """Send a failed, unknown, skipped or cancelled email again: now, or at its
    time if that is still ahead (a reminder cancelled weeks before it was due).
    ``shown``: the status the asking page showed (changed_since_shown)."""
    now = now or timezone.now()
    original_pk = _lock_original(reminder)
    reminder = (
        Reminder.objects.select_for_update()
        .select_related("appointment", "patient")
        .get(pk=reminder.pk)
    )
    refusal = changed_since_shown(reminder, shown) or why_not_resend(reminder, now=now)
    if refusal:
        raise OutboxError(refusal)
    if reminder.copy_of_id and _copy_on_its_way(original_pk):
        # Another copy asked for since this one failed: one is enough.
        raise OutboxError(ON_ITS_WAY)
    reminder.status = Status.SCHEDULED
    reminder.due_at = max(reminder.due_at, now)
    reminder.next_attempt_at = None
    reminder.skip_reason = ""
    reminder.attempts_at_resend = reminder.attempts
    reminder.save(
        update_fields=[
            "status",
            "due_at",
            "next_attempt_at",
            "skip_reason",
            "attempts_at_resend",
            "updated_at",
        ]
    )
    nudge()
    return reminder


def why_not_copy(reminder: Reminder, *, now: datetime | None = None) -> str:
    """Why a copy of this sent email can't go out now ("" when it can)."""
    now = now or timezone.now()
    if reminder.status != Status.SENT:
        return _("Only an email that was sent can be sent again as a copy.")
    original_pk = reminder.copy_of_id or reminder.pk
    if _copy_on_its_way(original_pk):
        return ON_ITS_WAY
    latest = (
        Reminder.objects.filter(
            Q(pk=original_pk) | Q(copy_of=original_pk),
            status=Status.SENT,
            sent_at__gt=now - COPY_PAUSE,
        )
        .order_by("-sent_at")
        .values_list("copy_of", "sent_at", "copy_reason")
        .first()
    )
    if latest is not None:
        # A second click from another page, or a colleague: the last one is
        # still on its way to the patient's inbox.
        copy_of, sent_at, reason = latest
        if copy_of is None:
            return _(
                "This email went out a moment ago: give it a few minutes to "
                "arrive before sending a copy."
            )
        if reason == CopyReason.MEDICATION_CHANGED:
            went = _(
                "A copy went out at %(time)s, because the medication to stop "
                "changed: give it a few minutes to arrive before sending another."
            )
        else:
            went = _(
                "A copy went out at %(time)s (from another page, or a "
                "colleague's): give it a few minutes to arrive before sending "
                "another."
            )
        return went % {"time": f"{timezone.localtime(sent_at):%H:%M}"}
    return _still_true(reminder, now)


@transaction.atomic
def send_copy(
    reminder: Reminder, *, now: datetime | None = None, shown: str | None = None
) -> Reminder:
    """Send a sent email again on request ("I can't find my confirmation"): a
    new row, due now, at the same version (the same calendar SEQUENCE), so the
    outbox shows both and the original's record stays as it was."""
    now = now or timezone.now()
    original_pk = _lock_original(reminder)
    reminder = (
        Reminder.objects.select_for_update()
        .select_related("appointment", "patient")
        .get(pk=reminder.pk)
    )
    refusal = changed_since_shown(reminder, shown) or why_not_copy(reminder, now=now)
    if refusal:
        raise OutboxError(refusal)
    try:
        with transaction.atomic():
            copy = Reminder.objects.create(
                patient=reminder.patient,
                appointment=reminder.appointment,
                kind=reminder.kind,
                version=reminder.version,
                series=reminder.series,
                due_at=now,
                copy_of_id=original_pk,
                copy_reason=CopyReason.ON_REQUEST,
            )
    except IntegrityError as error:
        # reminder_one_copy_on_its_way: the database's word on the same rule.
        raise OutboxError(ON_ITS_WAY) from error
    nudge()
    return copy


def _lock_original(reminder: Reminder) -> int:
    """Lock the email a copy is of (or the email itself), whichever of its copies
    was clicked: two desks asking at once take turns, and the second finds the
    first's copy on its way. Returns its id."""
    copy_of = Reminder.objects.filter(pk=reminder.pk).values_list("copy_of", flat=True)
    original_pk = copy_of.first() or reminder.pk
    list(Reminder.objects.select_for_update().filter(pk=original_pk).values("pk"))
    return original_pk


def _copy_on_its_way(original_pk: int) -> bool:
    return Reminder.objects.filter(
        copy_of=original_pk, status__in=[Status.SCHEDULED, Status.SENDING]
    ).exists()


@transaction.atomic
def cancel(
    reminder: Reminder,
    *,
    by: AbstractBaseUser | None = None,
    now: datetime | None = None,
    shown: str | None = None,
) -> Reminder:
    """Cancel a scheduled email, or close a failed or unknown one that staff have
    looked into (it stays in the outbox, with who closed it in the reason).
    ``shown``: the status the asking page showed (changed_since_shown)."""
    now = now or timezone.now()
    if shown:
        current = Reminder.objects.select_for_update().get(pk=reminder.pk)
        refusal = changed_since_shown(current, shown)
        if refusal:
            raise OutboxError(refusal)
    who = (by.get_full_name() or by.get_username()) if by is not None else "staff"
    reasons = {
        Status.SCHEDULED: f"cancelled by {who}",
        Status.FAILED: f"closed by {who}",
        Status.UNKNOWN: f"closed by {who} after checking",
    }
    length = Reminder._meta.get_field("skip_reason").max_length
    updated = 0
    for status, reason in reasons.items():
        updated += Reminder.objects.filter(pk=reminder.pk, status=status).update(
            status=Status.CANCELLED, skip_reason=reason[:length], updated_at=now
        )
    if not updated:
        raise OutboxError(
            _(
                "Only an email that is still scheduled can be cancelled, or a "
                "failed or unknown one closed."
            )
        )
    reminder.refresh_from_db()
    return reminder


def with_held(reminders: QuerySet[Reminder]) -> QuerySet[Reminder]:
    """Each row's ``held``: whether a manager switched its kind's rule off, so
    that, scheduled, it waits (in the same query)."""
    return reminders.annotate(
        held=Exists(ReminderRule.objects.filter(kind=OuterRef("kind"), enabled=False))
    )


def timeline(patient: Patient) -> list[Reminder]:
    """The patient's latest emails, each with the start its appointment had
    when it went out if it has moved since (told.mark_starts_when_sent)."""
    reminders = list(
        with_held(Reminder.objects.filter(patient=patient))
        .select_related("appointment", "patient")
        .order_by("-due_at", "-id")[:200]
    )
    told.mark_starts_when_sent(reminders)
    return reminders


def emails_to_check() -> dict[str, int]:
    """Failed emails and those whose sending was cut short (unknown), waiting
    for staff to check them (one query)."""
    waiting = dict(
        Reminder.objects.filter(
            status__in=[Reminder.Status.FAILED, Reminder.Status.UNKNOWN]
        )
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {status: n for status, n in waiting.items() if n}
