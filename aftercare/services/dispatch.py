"""Send the emails that are due.

Dispatch claims due rows with SELECT ... FOR UPDATE SKIP LOCKED, so any number
of workers can run it at once: each row is sent by one of them, once. A worker
that dies mid-send leaves its rows "sending" with an expired lease; the next
dispatch marks them "unknown" for staff to check and resend.
"""

import logging
import smtplib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import get_connection
from django.db import DatabaseError, transaction
from django.db.models import Case, CharField, Count, F, Min, Q, Value, When
from django.db.models.functions import Cast, Concat, Greatest
from django.utils import timezone

from aftercare import emails
from aftercare.models import (
    AFTERCARE,
    BEFORE_START,
    TRANSACTIONAL,
    CopyReason,
    Kind,
    Reminder,
    ReminderRule,
)
from aftercare.services.optout import unsubscribe_url
from aftercare.services.planning import PRE_CARE_LEAST_NOTICE, rules, versions_of
from aftercare.services.told import told_places
from clinic.models import Appointment, Patient, Practitioner, Room
from clinic.services.consultations import attach_consultations_in_force

Status = Reminder.Status


logger = logging.getLogger(__name__)
# Not an email's own trouble: the run stops (its rows' leases then say what
# became of them), rather than each row being retried or marked unknown.
CARRIED_ON = (DatabaseError, SoftTimeLimitExceeded)


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


def _quiet_hours_start(moment: datetime) -> datetime:
    """When the quiet hours that ``moment`` falls in began."""
    start = settings.CLINIC_QUIET_HOURS[0]
    local = timezone.localtime(moment)
    began = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    if began > local:
        began -= timedelta(days=1)
    return began.astimezone(UTC)


def lease() -> timedelta:
    """How long claimed rows are this worker's before they count as abandoned.
    Must be longer than sending one batch takes."""
    return timedelta(seconds=settings.CLINIC_EMAIL_LEASE_SECONDS)


def late_after() -> timedelta:
    """How long past its time a due email counts as late: several beat ticks,
    and never under ten minutes."""
    return max(
        timedelta(minutes=10), timedelta(seconds=3 * settings.CLINIC_DISPATCH_INTERVAL)
    )


@dataclass(frozen=True)
class Late:
    count: int
    since: datetime


def late_emails(now: datetime) -> Late | None:
    """The emails the dispatcher would have sent by now if it ran: due for
    longer than late_after(), neither held by a rule switched off nor waiting
    for the end of quiet hours (one query). None when there are none."""
    by = now - late_after()
    # Reminders held by quiet hours count from the hours' end: those due since
    # the quiet hours around ``by`` began weren't to go out before them. An
    # email planned already due (aftercare of a session signed late) waits
    # from when it was planned.
    held_from = _quiet_hours_start(by) if in_quiet_hours(by) else by
    due = (
        Reminder.objects.due(by)
        .annotate(waiting_since=Greatest("due_at", "created_at"))
        .filter(waiting_since__lte=by)
        .filter(Q(kind__in=TRANSACTIONAL) | Q(waiting_since__lte=held_from))
    )
    if in_quiet_hours(now):
        due = due.filter(kind__in=TRANSACTIONAL)
    due = due.exclude(
        kind__in=ReminderRule.objects.filter(enabled=False).values("kind")
    )
    found = due.aggregate(count=Count("id"), since=Min("waiting_since"))
    if not found["count"]:
        return None
    return Late(count=found["count"], since=found["since"])


def claim(now: datetime, limit: int) -> list[Reminder]:
    """Take up to ``limit`` due rows for this worker, skipping rows others hold."""
    with transaction.atomic():
        due = Reminder.objects.due(now)
        if in_quiet_hours(now):
            due = due.filter(kind__in=TRANSACTIONAL)
        # A rule switched off holds its emails back until it is on again (then
        # those still worth sending go; the others are skipped as too late).
        switched_off = ReminderRule.objects.filter(enabled=False).values("kind")
        due = due.exclude(kind__in=switched_off)
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
    batch = list(
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
    attach_consultations_in_force([r.appointment for r in batch])
    return batch


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
        # Time held back by quiet hours is not lateness. The guide counts from
        # when it was planned: a session signed the next morning still sends
        # it (its text counts its hours from the session, so it stays true).
        since = reminder.due_at
        if reminder.kind == Kind.AFTERCARE_GUIDE:
            since = max(since, reminder.created_at)
        if now - _quiet_hours_end(since) > rule.staleness:
            return "too late to be useful"
        if reminder.kind in BEFORE_START and now >= reminder.appointment.start:
            return "the appointment has started"
        if (
            reminder.kind == Kind.PRE_CARE
            and reminder.copy_of_id is None
            and reminder.appointment.start - now < PRE_CARE_LEAST_NOTICE
        ):
            # Held back (quiet hours, a queue) until the patient is on their way
            # (a copy, asked for or for a new medication, still goes).
            return "the session is about to start"
        if reminder.kind in AFTERCARE and reminder.kind != Kind.AFTERCARE_GUIDE:
            # The guide is the whole of the advice, true at any step.
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
    before = moved_from(to_send)
    in_place = booked_in_place(to_send)
    unchanged = [
        r.pk
        for r in to_send
        if r.kind == Kind.UPDATE and not _changes_anything(r, series, before)
    ]
    if unchanged:
        # Moved away and back before the update went out: the patient's
        # calendar is right as it is.
        Reminder.objects.filter(id__in=unchanged, status=Status.SENDING).update(
            status=Status.SKIPPED,
            skip_reason=NOTHING_CHANGED,
            lease_until=None,
            updated_at=now,
        )
        report.skipped += len(unchanged)
        to_send = [r for r in to_send if r.pk not in unchanged]
    last_named = _medication_last_named(to_send)
    named_again = [
        r.pk
        for r in to_send
        if r.copy_reason == CopyReason.MEDICATION_CHANGED
        and r.copy_of_id in last_named
        and emails.clinical_detail(r) == last_named[r.copy_of_id]
    ]
    if named_again:
        # The medication was changed and changed back (or a slip corrected to
        # what was sent) within the copy's wait: nothing new to tell.
        Reminder.objects.filter(id__in=named_again, status=Status.SENDING).update(
            status=Status.SKIPPED,
            skip_reason=SAME_MEDICATION,
            lease_until=None,
            updated_at=now,
        )
        report.skipped += len(named_again)
        to_send = [r for r in to_send if r.pk not in named_again]
    sent: list[Reminder] = []
    started = renewed_at = time.monotonic()
    connection = get_connection()
    try:
        for index, reminder in enumerate(to_send):
            try:
                connection.open()  # Once per batch, again after a broken one.
            except CARRIED_ON:
                raise
            except Exception as exc:
                # No server (or no mail folder, or a setting gone wrong):
                # nothing in the rest of the batch can go out now, and nothing
                # went. Retried later, with the error shown to staff.
                if not isinstance(exc, OSError | smtplib.SMTPException):
                    logger.exception("Could not open the email connection")
                for waiting in to_send[index:]:
                    _retry(waiting, f"{type(exc).__name__}: {exc}", now, report)
                break
            message_id = message_id_for(reminder)
            try:
                message = emails.reminder_message(
                    reminder,
                    rule=table.get(reminder.kind),
                    series=[series[pk] for pk in reminder.series if pk in series],
                    sequences=sequences,
                    unsubscribe_url=unsubscribe_url(reminder.patient),
                    message_id=message_id,
                    connection=connection,
                    moved_from=before,
                    in_place=in_place,
                )
            except CARRIED_ON:
                raise
            except Exception as exc:
                # Not written, so not sent: this one waits for a fix; the
                # rest of the batch goes on.
                logger.exception("Could not write email %s", reminder.pk)
                _retry(reminder, f"{type(exc).__name__}: {exc}", now, report)
                continue
            # Where it goes, kept whatever comes of it (sent, refused, unknown).
            reminder.sent_to = message.to[0]
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
            except CARRIED_ON:
                raise
            except Exception as exc:
                # Stopped part-way by something unforeseen: it may have gone
                # out. Never resent silently: staff check it.
                logger.exception("Sending email %s stopped", reminder.pk)
                _unknown(reminder, f"{type(exc).__name__}: {exc}", now, report)
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
            _record_medication_named(sent)
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


NOTHING_CHANGED = "the booking is where the patient last heard it was"
SAME_MEDICATION = "it would name the medication the earlier email named"


def _medication_last_named(reminders: list[Reminder]) -> dict[int, str]:
    """For the pre-care emails these copies for a changed medication go again
    for: the medication the last one sent (it, or a copy) named (one query)."""
    origins = {
        r.copy_of_id
        for r in reminders
        if r.copy_reason == CopyReason.MEDICATION_CHANGED
    }
    if not origins:
        return {}
    sent = (
        Reminder.objects.filter(Q(pk__in=origins) | Q(copy_of__in=origins))
        .filter(status=Status.SENT, named_medication__isnull=False)
        .order_by("sent_at", "id")
        .values_list("pk", "copy_of_id", "named_medication")
    )
    # The latest sent wins.
    return {copy_of or pk: named for pk, copy_of, named in sent}


def _changes_anything(
    update: Reminder,
    series: dict[int, Appointment],
    before: dict[int, emails.Before],
) -> bool:
    """Whether an update tells of a change: one of its appointments is not
    where the patient last heard it was (moved_from())."""
    appointments = [series[pk] for pk in update.series if pk in series] or [
        update.appointment
    ]
    return any(not before[a.pk].is_where(a) for a in appointments if a.pk in before)


def moved_from(reminders: list[Reminder]) -> dict[int, emails.Before]:
    """Where the appointments of the booking updates among ``reminders`` were
    when the patient last heard of them, for those that moved since
    (aftercare.services.told): four queries, none without an update or a
    cancellation."""
    # A cancellation too: it names the booking as the patient knew it.
    updates = [r for r in reminders if r.kind in (Kind.UPDATE, Kind.CANCELLATION)]
    telling = {
        pk: reminder.pk for reminder in updates for pk in reminder.appointment_ids
    }
    places = told_places(telling, {r.patient_id for r in updates})
    if not places:
        return {}
    practitioners = Practitioner.objects.select_related("user").in_bulk(
        {p.practitioner_id for p in places.values()}
    )
    rooms = Room.objects.in_bulk({p.room_id for p in places.values()})
    return {
        pk: emails.Before(
            place.start,
            place.end,
            practitioners.get(place.practitioner_id),
            rooms.get(place.room_id),
        )
        for pk, place in places.items()
    }


def booked_in_place(reminders: list[Reminder]) -> dict[int, Appointment]:
    """The appointments booked in place of those the cancellations among
    ``reminders`` tell of (a treatment session cancelled with a replacement at
    the end of the course), by the cancelled appointment: the cancellation
    names it, so that the patient doesn't call to book again. One query, none
    without a cancellation."""
    cancelled = {
        pk
        for reminder in reminders
        if reminder.kind == Kind.CANCELLATION
        for pk in reminder.appointment_ids
    }
    if not cancelled:
        return {}
    replacements = (
        Appointment.objects.filter(
            treatment_session__replaces__appointment_id__in=cancelled,
            status__in=Appointment.ACTIVE_STATUSES,
        )
        .select_related("practitioner__user", "room")
        .annotate(in_place_of=F("treatment_session__replaces__appointment_id"))
    )
    return {a.in_place_of: a for a in replacements}


def message_id_for(reminder: Reminder) -> str:
    """The Message-ID of this attempt: the row's id and attempt number, so the
    outcome of a whole batch is recorded in one statement."""
    attempt = reminder.attempts + 1
    return f"<reminder-{reminder.pk}-{attempt}@{settings.CLINIC_EMAIL_DOMAIN}>"


def _record_sent(sent: list[Reminder], now: datetime) -> None:
    """Mark a batch sent in one UPDATE, rebuilding each message_id_for() in SQL."""
    by_address = defaultdict(list)
    for reminder in sent:
        by_address[reminder.sent_to].append(reminder.pk)
    Reminder.objects.filter(id__in=[r.pk for r in sent], status=Status.SENDING).update(
        status=Status.SENT,
        sent_at=now,
        sent_to=Case(
            *(When(pk__in=pks, then=Value(to)) for to, pks in by_address.items()),
            default=Value(""),
        ),
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


def _record_medication_named(sent: list[Reminder]) -> None:
    """Keep what each pre-care sent asked to stop (one query)."""
    named = {
        reminder.pk: emails.clinical_detail(reminder)
        for reminder in sent
        if reminder.kind == Kind.PRE_CARE
    }
    if named:
        Reminder.objects.filter(id__in=named).update(
            named_medication=Case(
                *(
                    When(pk=pk, then=Value(medication))
                    for pk, medication in named.items()
                )
            )
        )


def _unknown(
    reminder: Reminder, error: str, now: datetime, report: DispatchReport
) -> None:
    Reminder.objects.filter(pk=reminder.pk, status=Status.SENDING).update(
        status=Status.UNKNOWN,
        sent_to=reminder.sent_to,
        attempts=reminder.attempts + 1,
        last_error=f"Sending stopped part-way, so it may have gone out: {error}"[:2000],
        lease_until=None,
        updated_at=now,
    )
    report.unknown += 1


def _fail(reminder: Reminder, error: str, now: datetime) -> None:
    Reminder.objects.filter(pk=reminder.pk, status=Status.SENDING).update(
        status=Status.FAILED,
        sent_to=reminder.sent_to,
        attempts=reminder.attempts + 1,
        last_error=error[:2000],
        lease_until=None,
        updated_at=now,
    )


def _retry(
    reminder: Reminder, error: str, now: datetime, report: DispatchReport
) -> None:
    attempts = reminder.attempts + 1
    # Since staff last resent it, if they did.
    tries = attempts - reminder.attempts_at_resend
    if tries >= settings.CLINIC_EMAIL_MAX_ATTEMPTS:
        _fail(reminder, f"Gave up after {tries} attempts: {error}", now)
        report.failed += 1
        return
    Reminder.objects.filter(pk=reminder.pk, status=Status.SENDING).update(
        status=Status.SCHEDULED,
        sent_to=reminder.sent_to,
        attempts=attempts,
        next_attempt_at=now + backoff(tries),
        last_error=error[:2000],
        lease_until=None,
        updated_at=now,
    )
    report.retried += 1
