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
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import CharField, F, Max, Value
from django.db.models.functions import Cast, Concat
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
from clinic.scheduling import shift_wall_clock

log = logging.getLogger(__name__)

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
    elif event == "end_changed":
        retime_aftercare(appointments, ended_at=extra["ended_at"], now=now)


def versions_of(appointments: Iterable[Appointment]) -> dict[int, int]:
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
        due = wall_clock_offset(appointment.start, rule.offset)
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


def wall_clock_offset(start: datetime, offset: timedelta) -> datetime:
    """``start`` moved by ``offset``: whole days on the clinic's wall clock ("5 days
    before" a 10:00 session is 10:00, clock change or not), the rest in real time."""
    days = timedelta(days=int(offset / timedelta(days=1)))  # -1 day 2 h: -1 day
    return shift_wall_clock(start, days).astimezone(UTC) + (offset - days)


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
    """New times: pending reminders are replaced, and an update goes out (one
    email for the sessions of a patient moved together)."""
    table = rules()
    versions = versions_of(appointments)
    cancel_pending(appointments, reason="the appointment moved", now=now)
    rows = _one_email_each(Kind.UPDATE, appointments, versions, now)
    for appointment in appointments:
        rows += _timed(appointment, versions.get(appointment.pk, 0) + 1, table, now)
    Reminder.objects.bulk_create(rows)
    _nudge()


def plan_cancellation(appointments: list[Appointment], *, now: datetime) -> None:
    versions = versions_of(appointments)
    cancel_pending(appointments, reason="the appointment was cancelled", now=now)
    Reminder.objects.bulk_create(
        _one_email_each(Kind.CANCELLATION, appointments, versions, now)
    )
    _nudge()


# The rows of appointments whose change another row's email tells the patient.
INCLUDED = "in one email with the other sessions changed"


def _one_email_each(
    kind: str, appointments: list[Appointment], versions: dict[int, int], now: datetime
) -> list[Reminder]:
    """A row of ``kind`` at each appointment's next version; the email of a
    patient's appointments changed together goes out once, from the earliest
    one's row, and the others' rows record their new version as included."""
    by_patient: dict[int, list[Appointment]] = {}
    for appointment in sorted(appointments, key=lambda a: a.start):
        by_patient.setdefault(appointment.patient_id, []).append(appointment)
    rows = []
    for patient_id, changed in by_patient.items():
        for index, appointment in enumerate(changed):
            row = Reminder(
                patient_id=patient_id,
                appointment=appointment,
                kind=kind,
                version=versions.get(appointment.pk, 0) + 1,
                due_at=now,
            )
            if index == 0 and len(changed) > 1:
                row.series = [a.pk for a in changed]
            elif index > 0:
                row.status = Status.SKIPPED
                row.skip_reason = INCLUDED
            rows.append(row)
    return rows


def cancel_pending(
    appointments: list[Appointment], *, reason: str, now: datetime
) -> int:
    """Cancel the emails not yet sent (a worker that already claimed one keeps it:
    it was due before the change). An email about other appointments too goes on
    for those."""
    leaving = {a.pk for a in appointments}
    pending = Reminder.objects.filter(
        appointment_id__in=leaving, status=Status.SCHEDULED
    )
    carriers = list(pending.filter(kind__in=TRANSACTIONAL).exclude(series=[]))
    count = pending.update(status=Status.CANCELLED, skip_reason=reason, updated_at=now)
    for carrier in carriers:
        _hand_over(carrier, leaving=leaving, now=now)
    return count


def _hand_over(carrier: Reminder, *, leaving: set[int], now: datetime) -> None:
    """Let the earliest appointment still booked carry the email for the rest."""
    staying = list(
        Appointment.objects.filter(
            pk__in=[pk for pk in carrier.series if pk not in leaving],
            status__in=Appointment.ACTIVE_STATUSES,
        ).order_by("start")
    )
    if not staying:
        return
    first = staying[0]
    series = [a.pk for a in staying] if len(staying) > 1 else []
    included = (
        Reminder.objects.filter(
            appointment=first,
            kind=carrier.kind,
            status=Status.SKIPPED,
            skip_reason=INCLUDED,
        )
        .order_by("-version")
        .first()
    )
    if included is not None:
        Reminder.objects.filter(pk=included.pk).update(
            status=Status.SCHEDULED,
            skip_reason="",
            series=series,
            due_at=now,
            updated_at=now,
        )
        return
    taken = set(
        Reminder.objects.filter(appointment=first, kind=carrier.kind).values_list(
            "version", flat=True
        )
    )
    version = versions_of([first]).get(first.pk, 0)
    while version in taken:
        version += 1
    Reminder.objects.create(
        patient_id=carrier.patient_id,
        appointment=first,
        kind=carrier.kind,
        version=version,
        due_at=now,
        series=series,
    )


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
            # The guide is due at the end itself, so it goes out at once, and a
            # session signed long after it ended doesn't send it after a later step.
            due = ended_at.astimezone(UTC) + rule.offset
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


def retime_aftercare(
    appointments: list[Appointment], *, ended_at: datetime, now: datetime
) -> None:
    """The session's recorded end was corrected: aftercare not yet sent follows it."""
    table = rules()
    pending = list(
        Reminder.objects.filter(
            appointment__in=appointments, kind__in=AFTERCARE, status=Status.SCHEDULED
        )
    )
    if not pending:
        return
    versions = versions_of(appointments)
    Reminder.objects.filter(pk__in=[r.pk for r in pending]).update(
        status=Status.CANCELLED,
        skip_reason="the session's end time was corrected",
        updated_at=now,
    )
    Reminder.objects.bulk_create(
        Reminder(
            patient_id=r.patient_id,
            appointment_id=r.appointment_id,
            kind=r.kind,
            version=versions.get(r.appointment_id, 0) + 1,
            due_at=ended_at.astimezone(UTC) + table[r.kind].offset,
        )
        for r in pending
        if r.kind in table
    )
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


def _quiet_hours_end(moment: datetime) -> datetime:
    """When an email due at ``moment`` may go out: then, or when the quiet hours
    it falls into are over."""
    if not in_quiet_hours(moment):
        return moment
    end = settings.CLINIC_QUIET_HOURS[1]
    local = timezone.localtime(moment)
    release = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if release <= local:
        release += timedelta(days=1)
    return release.astimezone(UTC)


def lease() -> timedelta:
    """How long claimed rows are this worker's before they count as abandoned.
    Must be longer than sending one batch takes."""
    return timedelta(seconds=settings.CLINIC_EMAIL_LEASE_SECONDS)


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
            status=Status.SENDING, lease_until=now + lease(), updated_at=now
        )
    return list(
        Reminder.objects.filter(id__in=ids)
        .select_related(
            "patient",
            "appointment__practitioner__user",
            "appointment__room",
            # The pre-care text names the medication from the consultation.
            "appointment__treatment_session__plan__consultation",
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
        # Time held back by quiet hours is not lateness.
        if now - _quiet_hours_end(reminder.due_at) > rule.staleness:
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
    started = time.monotonic()
    report = DispatchReport()
    report.unknown = expire_leases(now)
    table = rules()
    for _ in range(max_batches):
        # A long run takes each batch at the time it really is by then: a lease
        # counted from the start of the run could already be over, and another
        # dispatcher would call the rows abandoned while they are being sent.
        moment = _later(now, started)
        batch = claim(moment, batch_size)
        if not batch:
            break
        report.claimed += len(batch)
        _send_batch(batch, table, moment, report)
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
    sequences = versions_of(series.values()) if series else {}
    sent: list[Reminder] = []
    started = renewed_at = time.monotonic()
    connection = get_connection()
    try:
        for index, reminder in enumerate(to_send):
            try:
                connection.open()  # Once per batch, again after a broken one.
            except (OSError, smtplib.SMTPException) as exc:
                # No server: nothing in the rest of the batch can go out now.
                for waiting in to_send[index:]:
                    _retry(waiting, f"{type(exc).__name__}: {exc}", now, report)
                break
            message_id = message_id_for(reminder)
            message = emails.reminder_message(
                reminder,
                rule=table.get(reminder.kind),
                series=[series[pk] for pk in reminder.series if pk in series],
                sequences=sequences,
                unsubscribe_url=unsubscribe_url(reminder.patient),
                message_id=message_id,
                connection=connection,
            )
            try:
                message.send()
            except smtplib.SMTPRecipientsRefused as exc:
                error = f"The address was refused: {exc.recipients}"
                if all(400 <= code < 500 for code, _ in exc.recipients.values()):
                    _retry(reminder, error, now, report)  # Greylisting, full box.
                else:
                    _fail(reminder, error, now)
                    report.failed += 1
            except smtplib.SMTPResponseException as exc:
                if 400 <= exc.smtp_code < 500:
                    _retry(reminder, f"{exc.smtp_code} {exc.smtp_error!r}", now, report)
                else:
                    _fail(reminder, f"{exc.smtp_code} {exc.smtp_error!r}", now)
                    report.failed += 1
            except (OSError, smtplib.SMTPException) as exc:
                _retry(reminder, f"{type(exc).__name__}: {exc}", now, report)
                # A broken connection: the next message opens a fresh one.
                connection.close()
            else:
                reminder.message_id = message_id
                sent.append(reminder)
            renewed_at = _renew_lease(to_send[index + 1 :], now, started, renewed_at)
    finally:
        connection.close()
        # Even when something unexpected stops the batch: what went out is sent.
        if sent:
            _record_sent(sent, _later(now, started))
            report.sent += len(sent)


def _renew_lease(
    waiting: list[Reminder], now: datetime, started: float, renewed_at: float
) -> float:
    """Keep the lease of rows still waiting in a slow batch from running out, so no
    other dispatcher takes them for abandoned while this one is still sending."""
    elapsed = time.monotonic()
    if not waiting or elapsed - renewed_at < lease().total_seconds() / 3:
        return renewed_at
    moment = _later(now, started)
    Reminder.objects.filter(
        id__in=[r.pk for r in waiting], status=Status.SENDING
    ).update(lease_until=moment + lease())
    return elapsed


def _later(now: datetime, since: float) -> datetime:
    """``now`` moved on by the whole seconds elapsed since ``since`` (monotonic)."""
    return now + timedelta(seconds=int(time.monotonic() - since))


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


def message_id_for(reminder: Reminder) -> str:
    """The Message-ID of this attempt: the row's id and attempt number, so the
    outcome of a whole batch is recorded in one statement."""
    attempt = reminder.attempts + 1
    return f"<reminder-{reminder.pk}-{attempt}@{settings.CLINIC_EMAIL_DOMAIN}>"


def _record_sent(sent: list[Reminder], now: datetime) -> None:
    """Mark a batch sent in one UPDATE, rebuilding each message_id_for() in SQL."""
    Reminder.objects.filter(id__in=[r.pk for r in sent], status=Status.SENDING).update(
        status=Status.SENT,
        sent_at=now,
        attempts=F("attempts") + 1,
        message_id=Concat(
            Value("<reminder-"),
            Cast("id", CharField()),
            Value("-"),
            Cast(F("attempts") + 1, CharField()),
            Value(f"@{settings.CLINIC_EMAIL_DOMAIN}>"),
        ),
        lease_until=None,
        last_error="",
        updated_at=now,
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


def _unsubscribe_signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(patient: Patient) -> str:
    """The patient's id, signed with the date: short, and cheap for every email."""
    return _unsubscribe_signer().sign(str(patient.pk))


def unsubscribe_url(patient: Patient) -> str:
    from django.urls import reverse

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
        status=Status.CANCELLED, skip_reason="the patient unsubscribed", updated_at=now
    )


def timeline(patient: Patient) -> list[Reminder]:
    return list(
        Reminder.objects.filter(patient=patient)
        .select_related("appointment")
        .order_by("-due_at", "-id")[:200]
    )
