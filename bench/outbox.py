"""The outbox of patient emails two years of work leave behind, written in bulk
after ``bench.history.build_plans()``.

The emails are what planning and dispatch (aftercare.services) would have left:
a confirmation per booking (one per series), pre-care and a reminder before each
appointment, new versions of them after a move, a cancellation, and the
aftercare steps after each completed treatment. Emails due before ``now`` have
gone out (sent; skipped for patients without an address or consent; a few
failed); later ones are scheduled, or cancelled by a change.
"""

import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Model, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat

from aftercare.models import AFTERCARE, BEFORE_START, Kind, Reminder, ReminderRule
from aftercare.services import rules
from bench.data import SEED, Clinic, Visit, read_visits
from clinic.models import Appointment, Patient
from plans.models import SessionRecord, TreatmentSession

Status = Appointment.Status

# A single appointment is booked 2 to 42 days ahead; one far in the future was
# booked in the last month.
BOOKING_LEAD_DAYS = (2.0, 42.0)
RECENT_BOOKING_DAYS = 30.0
MOVED_SHARE = 0.3
MAX_MOVES = 3
FAILED_SHARE = 0.003
SEND_DELAY_S = (5, 90)
SMTP_ERROR = "(550, b'5.1.1 Mailbox unavailable')"

# The outbox columns the generator writes, in the order of its rows.
EMAIL_FIELDS = (
    "patient",
    "appointment",
    "kind",
    "version",
    "due_at",
    "status",
    "attempts",
    "attempts_at_resend",
    "last_error",
    "skip_reason",
    "sent_at",
    "message_id",
    "sent_to",
    "series",
    "copy_reason",
    "created_at",
    "updated_at",
)
# Rows per INSERT on PostgreSQL, which has no limit on parameters.
INSERT_ROWS = 1000


@dataclass
class _Email:
    kind: str
    version: int
    due_at: datetime
    planned_at: datetime
    series: list[int] = field(default_factory=list)
    cancelled: str = ""  # why, when a change cancelled it
    cancelled_at: datetime | None = None


@dataclass
class _Booking:
    at: datetime
    # The appointments a confirmation lists, or None: no confirmation of its
    # own (a later session of a series).
    series: list[int] | None


@transaction.atomic
def build_emails(
    clinic: Clinic,
    *,
    appointments: QuerySet[Appointment] | None = None,
    seed: int = SEED,
) -> int:
    """The emails of the appointments that have none yet; returns how many.

    Written with multi-row INSERTs of ready-made values: for 400,000 rows the
    ORM's bulk_create spends most of a minute preparing each value."""
    now = clinic.now
    rng = random.Random(f"{seed}:emails")
    table = {kind: rule for kind, rule in rules().items() if rule.enabled}
    if appointments is None:
        appointments = Appointment.objects.all()
    visits = read_visits(appointments.filter(reminders__isnull=True))
    bookings = _series_bookings()
    ended = dict(
        SessionRecord.objects.filter(signed_at__isnull=False).values_list(
            "session__appointment_id", "ended_at"
        )
    )
    contacts = {
        pk: (bool(email), consent)
        for pk, email, consent in Patient.objects.values_list(
            "pk", "email", "email_consent"
        )
    }
    rows = (
        row
        for visit in visits
        for row in _rows(
            visit,
            _emails(
                visit,
                bookings.get(visit.pk) or _single_booking(visit, rng, now),
                table,
                ended.get(visit.pk),
                rng,
                now,
            ),
            contacts[visit.patient_id],
            rng,
            now,
        )
    )
    created = _insert(Reminder, EMAIL_FIELDS, rows)
    # The Message-ID dispatch gives a sent email (aftercare.services.message_id_for),
    # and the address it went to.
    Reminder.objects.filter(status=Reminder.Status.SENT, message_id="").update(
        sent_to=Subquery(
            Patient.objects.filter(pk=OuterRef("patient_id")).values("email")[:1]
        ),
        message_id=Concat(
            Value("<reminder-"),
            Cast("id", CharField()),
            Value("-"),
            Cast("attempts", CharField()),
            Value(f"@{settings.CLINIC_EMAIL_DOMAIN}>"),
        ),
    )
    return created


def _insert(model: type[Model], names: Iterable[str], rows: Iterable[tuple]) -> int:
    """INSERT the rows (values ready for the database) into the model's table."""
    fields = [model._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    limit = connection.features.max_query_params
    per_insert = limit // len(fields) if limit else INSERT_ROWS
    inserted = 0
    rows = iter(rows)
    with connection.cursor() as cursor:
        while chunk := list(itertools.islice(rows, per_insert)):
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
                + ", ".join([placeholders] * len(chunk)),
                [value for row in chunk for value in row],
            )
            inserted += len(chunk)
    return inserted


def _series_bookings() -> dict[int, _Booking]:
    """Plan sessions, booked as a series right after consent: one confirmation
    listing them all. A replacement was booked when its session was lost."""
    rows = TreatmentSession.objects.order_by("appointment__start").values_list(
        "appointment_id",
        "plan_id",
        "plan__consented_at",
        "replaces_id",
        "replaces__appointment__cancelled_at",
        "replaces__appointment__end",
    )
    bookings: dict[int, _Booking] = {}
    series: dict[int, list[int]] = {}
    for pk, plan_id, consented_at, replaces, lost_at, lost_end in rows:
        if consented_at is None:
            continue
        if replaces is not None:
            bookings[pk] = _Booking(at=lost_at or lost_end, series=[pk])
        elif plan_id in series:
            series[plan_id].append(pk)
            bookings[pk] = _Booking(at=bookings[series[plan_id][0]].at, series=None)
        else:
            series[plan_id] = [pk]
            bookings[pk] = _Booking(
                at=consented_at + timedelta(minutes=30), series=series[plan_id]
            )
    return bookings


def _single_booking(visit: Visit, rng: random.Random, now: datetime) -> _Booking:
    lead = timedelta(days=rng.uniform(*BOOKING_LEAD_DAYS))
    recently = now - timedelta(days=rng.uniform(0, RECENT_BOOKING_DAYS))
    return _Booking(at=min(visit.start - lead, recently), series=[visit.pk])


def _emails(
    visit: Visit,
    booking: _Booking,
    table: dict[str, ReminderRule],
    ended_at: datetime | None,
    rng: random.Random,
    now: datetime,
) -> list[_Email]:
    """The appointment's emails through its life, as the planning services
    write and cancel them."""
    booked_at = booking.at
    if visit.cancelled_at is not None:
        booked_at = min(booked_at, visit.cancelled_at - timedelta(hours=1))
    emails = []
    if booking.series is not None:
        emails.append(
            _Email(
                Kind.CONFIRMATION,
                0,
                booked_at,
                booked_at,
                series=list(booking.series),
            )
        )
    emails += _timed(visit, 0, table, booked_at)

    # Some appointments move, a few of them again.
    version, changed_at = 0, booked_at
    latest = min(visit.start - timedelta(days=1), now, visit.cancelled_at or now)
    while (
        version < MAX_MOVES
        and latest - changed_at > timedelta(hours=1)
        and rng.random() < MOVED_SHARE
    ):
        changed_at += (latest - changed_at) * rng.random()
        _cancel_pending(emails, changed_at, "the appointment moved")
        version += 1
        emails.append(_Email(Kind.UPDATE, version, changed_at, changed_at))
        emails += _timed(visit, version, table, changed_at)

    if visit.status == Status.CANCELLED:
        cancelled_at = visit.cancelled_at or changed_at
        _cancel_pending(emails, cancelled_at, "the appointment was cancelled")
        emails.append(
            _Email(Kind.CANCELLATION, version + 1, cancelled_at, cancelled_at)
        )
    elif visit.status == Status.NO_SHOW:
        _cancel_pending(emails, visit.start, "no-show")
    elif visit.status == Status.COMPLETED and visit.kind == Appointment.Kind.TREATMENT:
        end = ended_at or visit.end
        emails += [
            _Email(kind, 0, end + table[kind].offset, end)
            for kind in AFTERCARE
            if kind in table
        ]
    return emails


def _timed(
    visit: Visit, version: int, table: dict[str, ReminderRule], at: datetime
) -> Iterator[_Email]:
    """Pre-care and the reminder, as planned at ``at``
    (aftercare.services.planning._timed)."""
    for kind in BEFORE_START:
        rule = table.get(kind)
        if rule is None:
            continue
        if kind == Kind.PRE_CARE and visit.kind != Appointment.Kind.TREATMENT:
            continue
        due = visit.start + rule.offset
        if kind == Kind.REMINDER and due <= at:
            continue
        if due + rule.staleness < at:
            continue
        yield _Email(kind, version, max(due, at), at)


def _cancel_pending(emails: Iterable[_Email], at: datetime, reason: str) -> None:
    for email in emails:
        if email.due_at > at and not email.cancelled:
            email.cancelled, email.cancelled_at = reason, at


def _rows(
    visit: Visit,
    emails: list[_Email],
    contact: tuple[bool, bool],
    rng: random.Random,
    now: datetime,
) -> Iterator[tuple]:
    """The outbox rows (EMAIL_FIELDS), each as dispatch has left it by ``now``."""
    has_email, consent = contact
    adapt = connection.ops.adapt_datetimefield_value
    series_field = Reminder._meta.get_field("series")
    for email in emails:
        status, attempts, error, reason, sent_at = "", 0, "", "", None
        updated_at = email.due_at
        if email.cancelled:
            status, reason = Reminder.Status.CANCELLED, email.cancelled
            updated_at = email.cancelled_at
        elif email.due_at > now:
            status, updated_at = Reminder.Status.SCHEDULED, email.planned_at
        elif not has_email:
            status, reason = Reminder.Status.SKIPPED, "no email address"
        elif not consent:
            status, reason = Reminder.Status.SKIPPED, "no consent to emails"
        elif rng.random() < FAILED_SHARE:
            status, error = Reminder.Status.FAILED, SMTP_ERROR
            attempts = settings.CLINIC_EMAIL_MAX_ATTEMPTS
        else:
            status, attempts = Reminder.Status.SENT, 1
            delay = timedelta(seconds=rng.randint(*SEND_DELAY_S))
            sent_at = updated_at = min(email.due_at + delay, now)
        yield (
            visit.patient_id,
            visit.pk,
            email.kind,
            email.version,
            adapt(email.due_at),
            status,
            attempts,
            0,
            error,
            reason,
            adapt(sent_at),
            "",  # the Message-ID and the address: set in bulk below
            "",
            series_field.get_db_prep_save(email.series, connection),
            "",  # not a copy
            adapt(email.planned_at),
            adapt(updated_at),
        )
