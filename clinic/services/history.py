"""Each appointment's history: who booked, moved, cancelled, checked in or
completed it, and when. Written by the booking services inside the change's
own transaction, so a change and its history line are saved together or not
at all."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from clinic.models import Appointment, AppointmentEvent, Practitioner, Room

Action = AppointmentEvent.Action


@dataclass(frozen=True)
class Place:
    """Where and when an appointment is, as a move's history keeps it."""

    start: datetime
    end: datetime
    practitioner: Practitioner
    room: Room

    @classmethod
    def of(cls, appointment: Appointment) -> "Place":
        return cls(
            start=appointment.start,
            end=appointment.end,
            practitioner=appointment.practitioner,
            room=appointment.room,
        )


def _user(by: AbstractBaseUser | None) -> AbstractBaseUser | None:
    # An anonymous user (no primary key) is nobody in particular.
    return by if by is not None and by.pk is not None else None


def record(
    action: str,
    appointments: Sequence[Appointment],
    *,
    by: AbstractBaseUser | None,
    at: datetime,
    reason: str = "",
    reasons: Sequence[str] | None = None,
) -> None:
    """One history line per appointment (one query), with the one ``reason``
    of all, or each one's of ``reasons``."""
    if reasons is None:
        reasons = [reason] * len(appointments)
    AppointmentEvent.objects.bulk_create(
        AppointmentEvent(
            appointment=appointment,
            action=action,
            at=at,
            by=_user(by),
            reason=why[:300],
        )
        for appointment, why in zip(appointments, reasons, strict=True)
    )


def record_moves(
    moves: Sequence[tuple[Appointment, Place]],
    *,
    by: AbstractBaseUser | None,
    at: datetime,
    reasons: Sequence[str],
) -> None:
    """A history line per moved appointment: where it was (``Place``) and where
    it is now (the appointment as saved)."""
    AppointmentEvent.objects.bulk_create(
        AppointmentEvent(
            appointment=appointment,
            action=Action.MOVED,
            at=at,
            by=_user(by),
            moved_from_start=before.start,
            moved_from_end=before.end,
            moved_from_practitioner=before.practitioner,
            moved_from_room=before.room,
            moved_to_start=appointment.start,
            moved_to_end=appointment.end,
            moved_to_practitioner=appointment.practitioner,
            moved_to_room=appointment.room,
            reason=reason[:300],
        )
        for (appointment, before), reason in zip(moves, reasons, strict=True)
    )


def history_of(appointment: Appointment) -> QuerySet[AppointmentEvent]:
    """The appointment's history, oldest first, ready to show (one query)."""
    return appointment.events.select_related(
        "by",
        "moved_from_practitioner__user",
        "moved_from_room",
        "moved_to_practitioner__user",
        "moved_to_room",
    ).order_by("at", "id")


def record_from_rows(appointments: QuerySet[Appointment]) -> int:
    """Start the history of appointments written without these services (the
    demo's past days) with what their rows tell: when and by whom each was
    booked, when the patient was checked in, when and why it was cancelled, and
    that it was completed or missed (when the row last changed).
    Migration 0013 did the same for the appointments there were then."""
    events = []
    for appointment in appointments.filter(events__isnull=True).order_by("pk"):
        told = [
            (Action.BOOKED, appointment.created_at, appointment.override_reason),
            (Action.CHECKED_IN, appointment.checked_in_at, ""),
            (Action.CANCELLED, appointment.cancelled_at, appointment.cancel_reason),
        ]
        if appointment.status in (Action.COMPLETED, Action.NO_SHOW):
            # When the row was last changed: as near as it tells.
            told.append((appointment.status, appointment.updated_at, ""))
        events += [
            AppointmentEvent(
                appointment=appointment,
                action=action,
                at=at,
                # Who booked it is on the row; the rest it doesn't tell.
                by_id=appointment.booked_by_id if action == Action.BOOKED else None,
                reason=reason,
            )
            for action, at, reason in told
            if at is not None
        ]
    AppointmentEvent.objects.bulk_create(events)
    return len(events)
