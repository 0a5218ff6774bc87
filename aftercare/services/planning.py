"""Plan patient emails with the bookings: rows written inside the booking
change's transaction (see ``on_appointment_event``), so an email exists exactly
when its booking does."""

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

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
from clinic.models import Appointment
from clinic.scheduling import shift_wall_clock

log = logging.getLogger(__name__)

Status = Reminder.Status


def rules(*, for_planning: bool = False) -> dict[str, ReminderRule]:
    """The email rules by kind.

    ``for_planning``: read inside a booking change's transaction, under a
    share lock (PostgreSQL), so that a manager's new offset (save_rule, which
    locks its rule for update) waits for the booking to commit and then
    re-times its emails too; bookings don't wait for each other. SQLite runs
    one writing transaction at a time, so the two can't interleave there."""
    connection = transaction.get_connection()
    if for_planning and connection.vendor == "postgresql":
        table = connection.ops.quote_name(ReminderRule._meta.db_table)
        rows = ReminderRule.objects.raw(f"SELECT * FROM {table} FOR SHARE")
    else:
        rows = ReminderRule.objects.all()
    return {rule.kind: rule for rule in rows}


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
    elif event == "medication_changed":
        resend_pre_care(appointments, now=now)


def versions_of(appointments: Iterable[Appointment]) -> dict[int, int]:
    """The current schedule version of each appointment (0 before any email)."""
    rows = (
        Reminder.objects.filter(appointment__in=list(appointments))
        .values("appointment_id")
        .annotate(latest=Max("version"))
    )
    return {row["appointment_id"]: row["latest"] for row in rows}


# Pre-care for a session booked at short notice goes out at once (to stop a
# medication now and call, when there is one), unless the session is this close.
PRE_CARE_LEAST_NOTICE = timedelta(hours=2)


def _timed(
    appointment: Appointment,
    version: int,
    table: dict[str, ReminderRule],
    now: datetime,
    sent: frozenset[str] = frozenset(),
    catching_up: bool = False,
) -> list[Reminder]:
    """Pre-care (treatment sessions) and the reminder, before the start.

    ``sent``: the kinds already sent for the appointment (before a move): one
    whose new time has passed too is not sent again, as the update tells the
    new time. ``catching_up``: planned late (a rule switched back on), so a
    pre-care past its staleness is skipped, as those held meanwhile are."""
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
        if kind == Kind.PRE_CARE and appointment.start - now < PRE_CARE_LEAST_NOTICE:
            continue  # On their way, or here: told at the desk.
        # Late from when it would have been planned: its time, or the booking
        # (or the last change) made after it.
        if catching_up and max(due, appointment.updated_at) + rule.staleness < now:
            continue
        if kind in sent and due <= now:
            continue  # Had it already; the update tells the new time.
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
    table = rules(for_planning=True)
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
    nudge()


def plan_move(appointments: list[Appointment], *, now: datetime) -> None:
    """New times: pending reminders are replaced, and an update goes out (one
    email for the sessions of a patient moved together)."""
    table = rules(for_planning=True)
    versions = versions_of(appointments)
    sent: dict[int, set[str]] = {}
    rows_sent = list(
        Reminder.objects.filter(
            appointment__in=appointments, kind__in=BEFORE_START, status=Status.SENT
        ).only("pk", "appointment_id", "kind", "sent_at")
    )
    for row in rows_sent:
        sent.setdefault(row.appointment_id, set()).add(row.kind)
    # A pre-care that named a later day than the session has now (moved
    # earlier since) told the patient when to stop their skin medication for
    # that day: they get one for the new day, at short notice if need be.
    latest = {}
    for row in sorted(rows_sent, key=lambda row: row.sent_at):
        if row.kind == Kind.PRE_CARE:
            latest[row.appointment_id] = row
    pre_care = list(latest.values())
    starts = {a.pk: a.start for a in appointments}
    told.mark_starts_when_sent(pre_care, starts)
    for row in pre_care:
        told_start = row.start_when_sent
        # An earlier day, not an earlier hour: the day is what the stop
        # "3 to 5 days before" counts from.
        if told_start is not None and timezone.localdate(
            starts[row.appointment_id]
        ) < timezone.localdate(told_start):
            sent[row.appointment_id].discard(Kind.PRE_CARE)
    cancel_pending(appointments, reason="the appointment moved", now=now)
    # Read after the cancelling: a confirmation a worker claimed meanwhile is
    # being sent (it was not cancelled), so the patient hears of the booking.
    heard = told.heard_of(appointments)
    # A booking the patient hasn't heard of yet is confirmed where it is now,
    # not updated from a time they never knew; one a confirmation still waiting
    # to go out tells of (another session's, for a series) needs nothing.
    waiting = told.to_be_told(appointments)
    rows = one_email_each(
        Kind.UPDATE, [a for a in appointments if a.pk in heard], versions, now
    ) + one_email_each(
        Kind.CONFIRMATION,
        [a for a in appointments if a.pk not in heard | waiting],
        versions,
        now,
    )
    for appointment in appointments:
        rows += _timed(
            appointment,
            versions.get(appointment.pk, 0) + 1,
            table,
            now,
            sent=frozenset(sent.get(appointment.pk, ())),
        )
    Reminder.objects.bulk_create(rows)
    nudge()


# A pre-care sent again because the medication changed waits this long: a
# correction saved meanwhile (a typo in the medication's name) goes in the same
# email, which is written when it is sent.
MEDICATION_COPY_DELAY = timedelta(minutes=10)


def resend_pre_care(appointments: list[Appointment], *, now: datetime) -> None:
    """The medication to stop before these sessions changed after their
    pre-care went out: each gets it again now, as a copy of the last one sent
    (in its words as they are now, naming the new medication, to stop now when
    the session is near). A pre-care still to go out names it anyway."""
    rule = rules(for_planning=True).get(Kind.PRE_CARE)
    if rule is None or not rule.enabled or not appointments:
        return
    rows = Reminder.objects.filter(appointment__in=appointments, kind=Kind.PRE_CARE)
    waiting = set(
        rows.filter(status__in=(Status.SCHEDULED, Status.SENDING)).values_list(
            "appointment_id", flat=True
        )
    )
    last_sent = {}
    for row in rows.filter(status=Status.SENT, copy_of__isnull=True).order_by(
        "version", "sent_at"
    ):
        last_sent[row.appointment_id] = row
    copies = [
        Reminder(
            patient_id=row.patient_id,
            appointment_id=row.appointment_id,
            kind=Kind.PRE_CARE,
            version=row.version,
            due_at=now + MEDICATION_COPY_DELAY,
            copy_of=row,
            copy_reason=CopyReason.MEDICATION_CHANGED,
        )
        for appointment_id, row in last_sent.items()
        if appointment_id not in waiting
    ]
    if copies:
        Reminder.objects.bulk_create(copies)
        nudge()


# A cancellation's row when the patient never heard of the booking.
NEVER_TOLD = "the patient was never told of this booking"


def plan_cancellation(appointments: list[Appointment], *, now: datetime) -> None:
    """A cancellation email for the bookings the patient heard of; the others'
    (cancelled before their confirmation went out) are marked as not needed."""
    versions = versions_of(appointments)
    cancel_pending(appointments, reason="the appointment was cancelled", now=now)
    # After the cancelling, as in plan_move: a confirmation being sent counts.
    heard = told.heard_of(appointments)
    rows = one_email_each(
        Kind.CANCELLATION, [a for a in appointments if a.pk in heard], versions, now
    )
    rows += [
        Reminder(
            patient_id=appointment.patient_id,
            appointment=appointment,
            kind=Kind.CANCELLATION,
            version=versions.get(appointment.pk, 0) + 1,
            due_at=now,
            status=Status.SKIPPED,
            skip_reason=NEVER_TOLD,
        )
        for appointment in appointments
        if appointment.pk not in heard
    ]
    Reminder.objects.bulk_create(rows)
    nudge()


# The rows of appointments whose change another row's email tells the patient.
INCLUDED = "in one email with the other sessions changed"


def one_email_each(
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
    table = rules(for_planning=True)
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
            # The guide is due at the end itself, so that it goes out at once,
            # before any step already due; its staleness counts from when it
            # was planned (the signing), see dispatch._skip_reason.
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
    nudge()


def retime_aftercare(
    appointments: list[Appointment], *, ended_at: datetime, now: datetime
) -> None:
    """The session's recorded end was corrected: aftercare not yet sent follows it."""
    table = rules(for_planning=True)
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
    nudge()


@transaction.atomic
class Retimed(NamedTuple):
    """What a new offset did: how many emails it re-timed, and how many of those
    are due now (their new time has passed)."""

    count: int = 0
    due_now: int = 0
    # Planned for the appointments booked while the rule was off.
    planned: int = 0


@transaction.atomic
def save_rule(rule: ReminderRule, *, now: datetime) -> Retimed:
    """Save a manager's change to a rule; when its offset changed, its emails
    not yet sent follow the new one.

    The offset they were timed with is read under the rule's lock, so two
    managers saving at once take turns (and bookings, which read the rules
    under a share lock, wait for the change or it for them)."""
    if rule.pk is None:
        rule.save()
        return Retimed()
    old, was_enabled = (
        ReminderRule.objects.select_for_update()
        .values_list("offset_minutes", "enabled")
        .get(pk=rule.pk)
    )
    rule.save()
    retimed = Retimed()
    if old != rule.offset_minutes:
        retimed = retime_for_rule(rule, old_offset=timedelta(minutes=old), now=now)
    if rule.enabled and not was_enabled and rule.kind in BEFORE_START:
        retimed = retimed._replace(planned=plan_missed(rule, now=now))
    return retimed


def plan_missed(rule: ReminderRule, *, now: datetime) -> int:
    """A pre-care or reminder rule switched on again: the appointments ahead
    booked or moved while it was off get theirs, as a booking then would have
    (those planned before it was switched off were held, and go now). Returns
    how many were planned."""
    # Read with subqueries, not lists of ids: a clinic has thousands ahead.
    candidates = Appointment.objects.filter(
        status__in=Appointment.OPEN_STATUSES, start__gt=now
    ).exclude(
        # Planned already: held while the rule was off, or on their way.
        Exists(
            Reminder.objects.filter(
                appointment=OuterRef("pk"),
                kind=rule.kind,
                status__in=(Status.SCHEDULED, Status.SENDING),
            )
        )
    )
    # Each with its current schedule version (versions_of()).
    ahead = list(candidates.annotate(version=Max("reminders__version")))
    earlier = defaultdict(set)
    for pk, version, status in Reminder.objects.filter(
        appointment__in=candidates, kind=rule.kind
    ).values_list("appointment_id", "version", "status"):
        earlier[pk].add((version, status))
    rows = []
    for appointment in ahead:
        version = appointment.version or 0
        if any(v == version for v, _status in earlier[appointment.pk]):
            continue  # This version's row (sent, skipped or cancelled) stays.
        sent = frozenset(
            [rule.kind]
            if any(status == Status.SENT for _v, status in earlier[appointment.pk])
            else []
        )
        rows += _timed(
            appointment, version, {rule.kind: rule}, now, sent=sent, catching_up=True
        )
    Reminder.objects.bulk_create(rows)
    if rows:
        nudge()
    return len(rows)


def retime_for_rule(
    rule: ReminderRule, *, old_offset: timedelta, now: datetime
) -> Retimed:
    """The rule's offset changed: its emails not yet sent follow the new one.
    Those a worker has claimed are SENDING, not SCHEDULED, so none of these is
    on its way; copies sent on request keep their time.

    Pre-care and reminders count from the appointment's start as when they
    were planned, and a new offset never loses one: one still ahead whose new
    time has passed goes out now, one already due (held back, or workers down)
    is not made more overdue than it was, and one being retried keeps its time.

    Aftercare moves by the change, exactly, retries too: the dispatcher reads
    the session's end back as due - offset, to tell whether the next step is
    due already, and whether a step is still worth sending is its staleness
    limit's to say."""
    pending = list(
        Reminder.objects.filter(
            kind=rule.kind, status=Status.SCHEDULED, copy_of__isnull=True
        )
        .exclude(Q(attempts__gt=0) & Q(kind__in=BEFORE_START))
        .select_related("appointment")
        .select_for_update(of=("self",))
    )
    for row in pending:
        if rule.kind in BEFORE_START:
            due = wall_clock_offset(row.appointment.start, rule.offset)
            row.due_at = max(due, min(row.due_at, now))
        else:
            row.due_at += rule.offset - old_offset
        row.updated_at = now
    Reminder.objects.bulk_update(pending, ["due_at", "updated_at"], batch_size=500)
    if pending:
        nudge()
    return Retimed(len(pending), sum(row.due_at <= now for row in pending))


def nudge() -> None:
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
