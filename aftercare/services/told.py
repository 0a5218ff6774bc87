"""What a patient was last told of their bookings: the place of each appointment
when a booking email about it last reached them, read from its history.

An update names the time an appointment "was": the time the patient knows, not
the one before its latest move (which they may never have heard of, when that
move's email was skipped or replaced). Consent given again tells only the
bookings that are not where the patient last heard they were.
"""

from collections import defaultdict
from datetime import datetime
from typing import NamedTuple

from aftercare.models import Kind, Reminder
from clinic.models import AppointmentEvent

# The emails whose calendar files put an appointment in the patient's calendar.
TELLING_KINDS = (Kind.CONFIRMATION, Kind.UPDATE)
# A telling email in these may have reached the patient (one being sent, or
# whose sending was cut off, may have).
MAY_HAVE_REACHED = (
    Reminder.Status.SENT,
    Reminder.Status.SENDING,
    Reminder.Status.UNKNOWN,
)


class Place(NamedTuple):
    start: datetime
    end: datetime
    practitioner_id: int
    room_id: int

    @classmethod
    def of(cls, appointment) -> "Place":
        """Where the appointment is now."""
        return cls(
            appointment.start,
            appointment.end,
            appointment.practitioner_id,
            appointment.room_id,
        )


def told_places(
    telling: dict[int, int | None], patient_ids: set[int]
) -> dict[int, Place]:
    """For each appointment in ``telling`` (appointment id: the id of the email
    about to tell it, whose own row and later ones don't count; None for none),
    where it was when the patient last heard of it, if it moved since: the
    place before its first move after that (two queries). An appointment that
    hasn't moved since is left out: it is where they heard it was."""
    if not telling:
        return {}
    told_at: dict[int, datetime] = {}
    sent = Reminder.objects.filter(
        patient_id__in=patient_ids,
        kind__in=TELLING_KINDS,
        status=Reminder.Status.SENT,
        sent_at__isnull=False,
    ).only("pk", "appointment_id", "series", "sent_at")
    for row in sent:
        for pk in row.appointment_ids:
            if pk not in telling:
                continue
            before = telling[pk]
            if before is not None and row.pk >= before:
                continue
            if pk not in told_at or row.sent_at > told_at[pk]:
                told_at[pk] = row.sent_at
    places: dict[int, Place] = {}
    moves = (
        AppointmentEvent.objects.filter(
            appointment_id__in=list(telling), action=AppointmentEvent.Action.MOVED
        )
        .order_by("appointment_id", "at", "id")
        .values_list(
            "appointment_id",
            "at",
            "moved_from_start",
            "moved_from_end",
            "moved_from_practitioner_id",
            "moved_from_room_id",
        )
    )
    for pk, at, *place in moves:
        # A move at the very moment of the email (only a frozen clock has
        # those) counts as after it: naming a time twice beats hiding a change.
        if pk in places or (pk in told_at and at < told_at[pk]):
            continue
        places[pk] = Place(*place)
    return places


def heard_of(appointments: list) -> set[int]:
    """The ids of the appointments a booking email may have told the patient
    of (one query). The others' patients don't know of them yet: a move needs
    no "was" and a cancellation no email."""
    ids = {a.pk for a in appointments}
    return ids & _told_in(appointments, MAY_HAVE_REACHED)


def to_be_told(appointments: list) -> set[int]:
    """The ids of the appointments a booking email waiting to go out tells of
    (one query): it tells where they are when it goes."""
    ids = {a.pk for a in appointments}
    return ids & _told_in(appointments, (Reminder.Status.SCHEDULED,))


def _told_in(appointments: list, statuses: tuple) -> set[int]:
    rows = Reminder.objects.filter(
        patient_id__in={a.patient_id for a in appointments},
        kind__in=TELLING_KINDS,
        status__in=statuses,
    ).only("pk", "appointment_id", "series")
    return {pk for row in rows for pk in row.appointment_ids}


def mark_starts_when_sent(
    reminders: list[Reminder], starts: dict[int, datetime] | None = None
) -> None:
    """Set ``start_when_sent`` on each email: the start its appointment had when
    the email went out, if its time has changed since, else None (one query,
    none when no email was sent). Staff reading an old email see the time it
    named, not only where the appointment is now. ``starts``: each
    appointment's start now, by id (else read off ``reminder.appointment``)."""
    sent = [r for r in reminders if r.sent_at is not None]
    for reminder in reminders:
        reminder.start_when_sent = None
    if not sent:
        return
    moves: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    rows = (
        AppointmentEvent.objects.filter(
            appointment_id__in={r.appointment_id for r in sent},
            action=AppointmentEvent.Action.MOVED,
            at__gte=min(r.sent_at for r in sent),
        )
        .order_by("appointment_id", "at", "id")
        .values_list("appointment_id", "at", "moved_from_start")
    )
    for pk, at, moved_from in rows:
        moves[pk].append((at, moved_from))
    for reminder in sent:
        # The first move after it went out: it came from the time the email
        # named. A move at the very moment counts as after, as in told_places.
        told = next(
            (
                start
                for at, start in moves[reminder.appointment_id]
                if at >= reminder.sent_at
            ),
            None,
        )
        now_at = (
            starts[reminder.appointment_id]
            if starts is not None
            else reminder.appointment.start
        )
        # Another room or practitioner at the same time, or moved away and
        # back: the time it named is the time it is.
        if told != now_at:
            reminder.start_when_sent = told
