"""Plan patient emails with the bookings, and send them when due.

Planning runs inside the booking change's transaction (see ``on_appointment_event``),
so an email exists exactly when its booking does. Dispatch claims due rows with
SELECT ... FOR UPDATE SKIP LOCKED, so any number of workers can run it at once:
each row is sent by one of them, once.

Delivery guarantee: a row is never dropped silently and never sent twice
silently. A worker that dies mid-send leaves its rows "sending" with an expired
lease; the next dispatch marks them "unknown" for staff to check and resend.
"""

import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid

from django.conf import settings
from django.core import signing
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from aftercare import emails
from aftercare.models import (
    AFTERCARE,
    BEFORE_START,
    TRANSACTIONAL,
    Kind,
    Reminder,
    ReminderRule,
)
from clinic.models import Appointment, Patient

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
UNSUBSCRIBE_SALT = "aftercare.unsubscribe"
UNSUBSCRIBE_MAX_AGE = timedelta(days=400)

Status = Reminder.Status


def rules() -> dict[str, ReminderRule]:
    return {rule.kind: rule for rule in ReminderRule.objects.all()}


# Planning ---------------------------------------------------------------------------


def on_appointment_event(
    *, event: str, appointments: list[Appointment], now: datetime, **extra
) -> None:
    """Listener for clinic.services.notify: keep the outbox in step with bookings."""
    if event == "booked":
        plan_booking(appointments, now=now)
    elif event == "moved":
        plan_move(appointments, now=now)
    elif event == "cancelled":
        plan_cancellation(appointments, now=now)
    elif event == "no_show":
        cancel_pending(appointments, reason="no-show", now=now)
    elif event == "completed":
        plan_aftercare(appointments, ended_at=extra["ended_at"], now=now)


def _versions(appointments: Iterable[Appointment]) -> dict[int, int]:
    """The current schedule version of each appointment (0 before any email)."""
    rows = (
        Reminder.objects.filter(appointment__in=list(appointments))
        .values("appointment_id")
        .annotate(latest=Max("version"))
    )
    return {row["appointment_id"]: row["latest"] for row in rows}


def _timed(
    appointment: Appointment,
    version: int,
    table: dict[str, ReminderRule],
    now: datetime,
) -> list[Reminder]:
    """Pre-care (treatment sessions) and the reminder, before the start."""
    reminders = []
    for kind in BEFORE_START:
        rule = table.get(kind)
        if rule is None or not rule.enabled:
            continue
        if kind == Kind.PRE_CARE and appointment.kind != Appointment.Kind.TREATMENT:
            continue
        due = appointment.start + rule.offset
        if kind == Kind.REMINDER and due <= now:
            continue  # Booked at short notice: the confirmation is the reminder.
        if due + rule.staleness < now:
            continue  # Booked too late for it to make sense.
        reminders.append(
            Reminder(
                patient_id=appointment.patient_id,
                appointment=appointment,
                kind=kind,
                version=version,
                due_at=max(due, now),
            )
        )
    return reminders


def plan_booking(appointments: list[Appointment], *, now: datetime) -> None:
    """One confirmation (for a whole series: one email), plus reminders for each."""
    if not appointments:
        return
    table = rules()
    first = min(appointments, key=lambda a: a.start)
    rows = [
        Reminder(
            patient_id=first.patient_id,
            appointment=first,
            kind=Kind.CONFIRMATION,
            version=0,
            due_at=now,
            series=[a.pk for a in sorted(appointments, key=lambda a: a.start)],
        )
    ]
    for appointment in appointments:
        rows += _timed(appointment, 0, table, now)
    Reminder.objects.bulk_create(rows)
    _nudge()


def plan_move(appointments: list[Appointment], *, now: datetime) -> None:
    """New times: pending reminders are replaced, and an update goes out."""
    table = rules()
    versions = _versions(appointments)
    cancel_pending(appointments, reason="the appointment moved", now=now)
    rows = []
    for appointment in appointments:
        version = versions.get(appointment.pk, 0) + 1
        rows.append(
            Reminder(
                patient_id=appointment.patient_id,
                appointment=appointment,
                kind=Kind.UPDATE,
                version=version,
                due_at=now,
            )
        )
        rows += _timed(appointment, version, table, now)
    Reminder.objects.bulk_create(rows)
    _nudge()


def plan_cancellation(appointments: list[Appointment], *, now: datetime) -> None:
    versions = _versions(appointments)
    cancel_pending(appointments, reason="the appointment was cancelled", now=now)
    Reminder.objects.bulk_create(
        Reminder(
            patient_id=a.patient_id,
            appointment=a,
            kind=Kind.CANCELLATION,
            version=versions.get(a.pk, 0) + 1,
            due_at=now,
        )
        for a in appointments
    )
    _nudge()


def cancel_pending(
    appointments: list[Appointment], *, reason: str, now: datetime
) -> int:
    """Cancel the emails not yet sent (a worker that already claimed one keeps it:
    it was due before the change)."""
    return Reminder.objects.filter(
        appointment__in=appointments, status=Status.SCHEDULED
    ).update(status=Status.CANCELLED, skip_reason=reason, updated_at=now)


def plan_aftercare(
    appointments: list[Appointment], *, ended_at: datetime, now: datetime
) -> None:
    """The aftercare sequence, timed from the session's real end (elapsed time)."""
    table = rules()
    rows = []
    for appointment in appointments:
        if appointment.kind != Appointment.Kind.TREATMENT:
            continue
        for kind in AFTERCARE:
            rule = table.get(kind)
            if rule is None or not rule.enabled:
                continue
            # In UTC, adding 12 hours adds 12 real hours, even across a clock
            # change (in a local zone it would add wall-clock hours).
            due = ended_at.astimezone(UTC) + rule.offset
            if kind == Kind.AFTERCARE_GUIDE:
                due = max(due, now)  # "Right after the session": now.
            rows.append(
                Reminder(
                    patient_id=appointment.patient_id,
                    appointment=appointment,
                    kind=kind,
                    version=0,
                    due_at=due,
                )
            )
    Reminder.objects.bulk_create(rows, ignore_conflicts=True)
    _nudge()


def _nudge() -> None:
    """Ask a worker to dispatch right after commit, for emails due now. Beat
    dispatches every few seconds anyway, so a lost nudge only delays an email."""
    from aftercare.tasks import dispatch_due_reminders

    transaction.on_commit(_send_nudge(dispatch_due_reminders))


def _send_nudge(task):
    def send() -> None:
        try:
            task.delay()
        except Exception:  # The broker being down must not break a booking.
            log.warning("Could not nudge the email dispatcher; beat will do it.")

    return send


# Dispatch ---------------------------------------------------------------------------


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    unknown: int = 0
    claimed: int = 0
    errors: list[str] = field(default_factory=list)


def expire_leases(now: datetime) -> int:
    """Rows whose worker died mid-send: maybe sent, maybe not. Never resent
    silently: staff see them as "unknown" and decide."""
    return Reminder.objects.filter(status=Status.SENDING, lease_until__lt=now).update(
        status=Status.UNKNOWN,
        last_error="The sending worker stopped before it recorded the result.",
        lease_until=None,
        updated_at=now,
    )


def in_quiet_hours(now: datetime) -> bool:
    window = settings.CLINIC_QUIET_HOURS
    if window is None:
        return False
    start, end = window
    local = timezone.localtime(now).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def claim(now: datetime, limit: int) -> list[Reminder]:
    """Take up to ``limit`` due rows for this worker, skipping rows others hold."""
    with transaction.atomic():
        due = Reminder.objects.due(now)
        if in_quiet_hours(now):
            due = due.filter(kind__in=TRANSACTIONAL)
        ids = list(
            due.select_for_update(skip_locked=True)
            .order_by("due_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        Reminder.objects.filter(id__in=ids).update(
            status=Status.SENDING, lease_until=now + LEASE, updated_at=now
        )
    return list(
        Reminder.objects.filter(id__in=ids)
        .select_related(
            "patient", "appointment__practitioner__user", "appointment__room"
        )
        .order_by("due_at", "id")
    )


def _skip_reason(
    reminder: Reminder, table: dict[str, ReminderRule], now: datetime
) -> str:
    patient: Patient = reminder.patient
    if not patient.email:
        return "no email address"
    if not patient.email_consent:
        return "no consent to emails"
    rule = table.get(reminder.kind)
    if rule is not None and reminder.kind not in TRANSACTIONAL:
        if now - reminder.due_at > rule.staleness:
            return "too late to be useful"
        if reminder.kind in BEFORE_START and now >= reminder.appointment.start:
            return "the appointment has started"
        if reminder.kind in AFTERCARE:
            later = _next_step_due(reminder, table)
            if later is not None and later <= now:
                return "the next aftercare step is already due"
    return ""


def _next_step_due(
    reminder: Reminder, table: dict[str, ReminderRule]
) -> datetime | None:
    steps = [k for k in AFTERCARE if k in table and table[k].enabled]
    if reminder.kind not in steps or reminder.kind == steps[-1]:
        return None
    following = table[steps[steps.index(reminder.kind) + 1]]
    ended_at = reminder.due_at - table[reminder.kind].offset
    return ended_at + following.offset


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), timedelta(hours=1))


def dispatch_due(
    *, now: datetime | None = None, batch_size: int = 200, max_batches: int = 50
) -> DispatchReport:
    """Send every email that is due now; safe to run in many workers at once."""
    now = now or timezone.now()
    report = DispatchReport()
    report.unknown = expire_leases(now)
    table = rules()
    for _ in range(max_batches):
        batch = claim(now, batch_size)
        if not batch:
            break
        report.claimed += len(batch)
        _send_batch(batch, table, now, report)
        if len(batch) < batch_size:
            break
    return report


def _send_batch(
    batch: list[Reminder],
    table: dict[str, ReminderRule],
    now: datetime,
    report: DispatchReport,
) -> None:
    skipped: dict[str, list[int]] = {}
    to_send = []
    for reminder in batch:
        reason = _skip_reason(reminder, table, now)
        if reason:
            skipped.setdefault(reason, []).append(reminder.pk)
        else:
            to_send.append(reminder)
    for reason, ids in skipped.items():
        Reminder.objects.filter(id__in=ids, status=Status.SENDING).update(
            status=Status.SKIPPED, skip_reason=reason, lease_until=None, updated_at=now
        )
        report.skipped += len(ids)
    if not to_send:
        return
    series = _series_appointments(to_send)
    sent: list[Reminder] = []
    connection = get_connection()
    try:
        connection.open()
        for reminder in to_send:
            message_id = make_msgid(domain=settings.CLINIC_EMAIL_DOMAIN)
            message = emails.reminder_message(
                reminder,
                rule=table.get(reminder.kind),
                series=[series[pk] for pk in reminder.series if pk in series],
                unsubscribe_url=unsubscribe_url(reminder.patient),
                message_id=message_id,
                connection=connection,
            )
            try:
                message.send()
            except smtplib.SMTPRecipientsRefused as exc:
                _fail(reminder, f"The address was refused: {exc.recipients}", now)
                report.failed += 1
            except smtplib.SMTPResponseException as exc:
                if 400 <= exc.smtp_code < 500:
                    _retry(reminder, f"{exc.smtp_code} {exc.smtp_error!r}", now, report)
                else:
                    _fail(reminder, f"{exc.smtp_code} {exc.smtp_error!r}", now)
                    report.failed += 1
            except (OSError, smtplib.SMTPException) as exc:
                _retry(reminder, f"{type(exc).__name__}: {exc}", now, report)
                # A broken connection: open a fresh one for the rest.
                connection.close()
                connection.open()
            else:
                reminder.message_id = message_id
                sent.append(reminder)
    finally:
        connection.close()
    if sent:
        _record_sent(sent, now)
        report.sent += len(sent)


def _series_appointments(reminders: list[Reminder]) -> dict[int, Appointment]:
    ids = {pk for r in reminders for pk in r.series}
    if not ids:
        return {}
    return {
        a.pk: a
        for a in Appointment.objects.filter(pk__in=ids).select_related(
            "practitioner__user", "room"
        )
    }


def _record_sent(sent: list[Reminder], now: datetime) -> None:
    for reminder in sent:
        reminder.status = Status.SENT
        reminder.sent_at = now
        reminder.attempts += 1
        reminder.lease_until = None
        reminder.last_error = ""
        reminder.updated_at = now
    # One statement for the whole batch.
    Reminder.objects.bulk_update(
        sent,
        [
            "status",
            "sent_at",
            "attempts",
            "lease_until",
            "message_id",
            "last_error",
            "updated_at",
        ],
    )


def _fail(reminder: Reminder, error: str, now: datetime) -> None:
    Reminder.objects.filter(pk=reminder.pk, status=Status.SENDING).update(
        status=Status.FAILED,
        attempts=reminder.attempts + 1,
        last_error=error[:2000],
        lease_until=None,
        updated_at=now,
    )


def _retry(
    reminder: Reminder, error: str, now: datetime, report: DispatchReport
) -> None:
    attempts = reminder.attempts + 1
    if attempts >= settings.CLINIC_EMAIL_MAX_ATTEMPTS:
        _fail(reminder, f"Gave up after {attempts} attempts: {error}", now)
        report.failed += 1
        return
    Reminder.objects.filter(pk=reminder.pk, status=Status.SENDING).update(
        status=Status.SCHEDULED,
        attempts=attempts,
        next_attempt_at=now + backoff(attempts),
        last_error=error[:2000],
        lease_until=None,
        updated_at=now,
    )
    report.retried += 1


# Staff actions ------------------------------------------------------------------------


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


# Unsubscribe -----------------------------------------------------------------------


def unsubscribe_token(patient: Patient) -> str:
    return signing.dumps({"p": patient.pk}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(patient: Patient) -> str:
    from django.urls import reverse

    path = reverse("aftercare:unsubscribe", args=[unsubscribe_token(patient)])
    return settings.CLINIC_BASE_URL.rstrip("/") + path


def patient_for_token(token: str) -> Patient | None:
    """The patient a genuine, unexpired token names; None for anything else."""
    try:
        data = signing.loads(
            token,
            salt=UNSUBSCRIBE_SALT,
            max_age=UNSUBSCRIBE_MAX_AGE.total_seconds(),
        )
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("p"), int):
        return None
    return Patient.objects.filter(pk=data["p"]).first()


@transaction.atomic
def unsubscribe(patient: Patient, *, now: datetime | None = None) -> None:
    """No more emails for this patient: consent off, pending emails cancelled."""
    now = now or timezone.now()
    Patient.objects.filter(pk=patient.pk).update(email_consent=False, updated_at=now)
    Reminder.objects.filter(patient=patient, status=Status.SCHEDULED).update(
        status=Status.CANCELLED, skip_reason="the patient unsubscribed", updated_at=now
    )


def timeline(patient: Patient) -> list[Reminder]:
    return list(
        Reminder.objects.filter(patient=patient)
        .select_related("appointment")
        .order_by("-due_at", "-id")[:200]
    )
