"""Booking service: the only code path that creates, moves or changes appointments.

Views, the admin and the series engine call these functions. Each runs in one
transaction. On PostgreSQL the exclusion constraints of migration
0002_no_double_booking are the final word on overlaps (a concurrent booking
that slipped past the friendly check becomes a clash error here); on SQLite the
IMMEDIATE transaction mode serialises writers so the check itself is exact.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.models import Appointment, Patient, Practitioner, Room
from clinic.scheduling import Availability, Problem

EXCLUSION_VIOLATION = "23P01"
OVERLAP_CONSTRAINTS = {
    "appointment_no_practitioner_overlap": "practitioner_clash",
    "appointment_no_room_overlap": "room_clash",
}


class BookingError(Exception):
    """A booking or change was refused; ``problems`` say why, in words for staff."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(" ".join(p.message for p in problems))

    @property
    def messages(self) -> list[str]:
        return [p.message for p in self.problems]

    @property
    def overridable(self) -> bool:
        return all(p.overridable for p in self.problems)


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    practitioner: Practitioner
    room: Room


def can_override_hours(user: AbstractBaseUser | None) -> bool:
    return bool(user and user.has_perm("clinic.override_hours"))


def check_slot(
    slot: Slot,
    *,
    by: AbstractBaseUser | None,
    override_reason: str = "",
    now: datetime | None = None,
    exclude_ids: tuple[int, ...] = (),
    availability: Availability | None = None,
) -> list[Problem]:
    """Raise BookingError unless the slot may be booked by ``by``.

    Opening hours, closures, working hours and time off may be overridden by a
    user with the ``clinic.override_hours`` permission who gives a reason.
    Clashes, past times and inactive rooms or practitioners may not. Returns the
    problems that were overridden (none if the slot was fine as it is).
    """
    now = now or timezone.now()
    if availability is None:
        availability = Availability.load(
            start=slot.start,
            end=slot.end,
            practitioner_ids=[slot.practitioner.pk],
            room_ids=[slot.room.pk],
            exclude_ids=exclude_ids,
        )
    problems = availability.problems(
        start=slot.start,
        end=slot.end,
        practitioner=slot.practitioner,
        room=slot.room,
        now=now,
    )
    hard = [p for p in problems if not p.overridable]
    if hard:
        raise BookingError(hard)
    if problems and not (override_reason.strip() and can_override_hours(by)):
        raise BookingError(problems)
    return problems


def _save_checked(
    appointment: Appointment, *, update_fields: list[str] | None = None
) -> None:
    """Save inside a savepoint, turning an exclusion-constraint violation into a
    BookingError that names what the slot clashes with."""
    try:
        with transaction.atomic():
            appointment.save(update_fields=update_fields)
    except IntegrityError as exc:
        cause = exc.__cause__
        code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if code != EXCLUSION_VIOLATION:
            raise
        constraint = getattr(getattr(cause, "diag", None), "constraint_name", "")
        availability = Availability.load(
            start=appointment.start,
            end=appointment.end,
            practitioner_ids=[appointment.practitioner_id],
            room_ids=[appointment.room_id],
            exclude_ids=[appointment.pk] if appointment.pk else [],
        )
        clashes = availability.clashes(
            start=appointment.start,
            end=appointment.end,
            practitioner=appointment.practitioner,
            room=appointment.room,
        )
        wanted = OVERLAP_CONSTRAINTS.get(constraint)
        named = [p for p in clashes if p.code == wanted] or clashes
        raise BookingError(
            named
            or [
                Problem(
                    "clash",
                    _("Someone else has just booked that time. Pick another time."),
                )
            ]
        ) from exc


def _lock_calendars(practitioner: Practitioner, room: Room) -> None:
    """Queue writers of one practitioner's or one room's calendar behind each other.

    The second writer waits here until the first commits, so its check sees the
    first booking. Without the queue, two inserts at the same instant can deadlock
    inside PostgreSQL's exclusion-constraint check and fail with an error instead
    of a clash. A no-op on SQLite, where IMMEDIATE transactions serialise writers.
    Practitioner first, then room: one order for everybody, so no lock cycle.
    """
    for model, pk in ((Practitioner, practitioner.pk), (Room, room.pk)):
        list(model.objects.select_for_update(no_key=True).filter(pk=pk).values("pk"))


@transaction.atomic
def book_appointment(
    *,
    patient: Patient,
    practitioner: Practitioner,
    room: Room,
    start: datetime,
    end: datetime,
    kind: str,
    booked_by: AbstractBaseUser | None,
    notes: str = "",
    override_reason: str = "",
    now: datetime | None = None,
) -> Appointment:
    _lock_calendars(practitioner, room)
    slot = Slot(start=start, end=end, practitioner=practitioner, room=room)
    overridden = check_slot(
        slot, by=booked_by, override_reason=override_reason, now=now
    )
    appointment = Appointment(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=start,
        end=end,
        kind=kind,
        notes=notes,
        booked_by=booked_by,
    )
    # Only a reason that excused something is an override worth recording.
    if overridden:
        appointment.override_reason = override_reason.strip()
        appointment.override_by = booked_by
    _save_checked(appointment)
    return appointment


def _locked(appointment: Appointment) -> Appointment:
    """The appointment re-read under a row lock, so two changes can't interleave."""
    return (
        Appointment.objects.select_for_update()
        .select_related("patient", "practitioner__user", "room")
        .get(pk=appointment.pk)
    )


def _refuse(message: str) -> BookingError:
    return BookingError([Problem("status", message)])


@transaction.atomic
def reschedule_appointment(
    *,
    appointment: Appointment,
    start: datetime,
    end: datetime,
    practitioner: Practitioner,
    room: Room,
    by: AbstractBaseUser | None,
    override_reason: str = "",
    now: datetime | None = None,
) -> Appointment:
    appointment = _locked(appointment)
    if appointment.status != Appointment.Status.BOOKED:
        raise _refuse(
            _("Only a booked appointment can be moved; this one is %(status)s.")
            % {"status": appointment.get_status_display().lower()}
        )
    _lock_calendars(practitioner, room)
    slot = Slot(start=start, end=end, practitioner=practitioner, room=room)
    overridden = check_slot(
        slot,
        by=by,
        override_reason=override_reason,
        now=now,
        exclude_ids=(appointment.pk,),
    )
    appointment.start, appointment.end = start, end
    appointment.practitioner, appointment.room = practitioner, room
    fields = ["start", "end", "practitioner", "room", "updated_at"]
    if overridden:
        appointment.override_reason = override_reason.strip()
        appointment.override_by = by
        fields += ["override_reason", "override_by"]
    _save_checked(appointment, update_fields=fields)
    return appointment


@transaction.atomic
def cancel_appointment(
    *,
    appointment: Appointment,
    by: AbstractBaseUser | None,
    reason: str,
    now: datetime | None = None,
) -> Appointment:
    reason = reason.strip()
    if not reason:
        raise _refuse(_("Give a reason for cancelling."))
    appointment = _locked(appointment)
    if appointment.status not in (
        Appointment.Status.BOOKED,
        Appointment.Status.CHECKED_IN,
    ):
        raise _refuse(
            _("This appointment is %(status)s and can no longer be cancelled.")
            % {"status": appointment.get_status_display().lower()}
        )
    appointment.status = Appointment.Status.CANCELLED
    appointment.cancel_reason = reason
    appointment.cancelled_at = now or timezone.now()
    appointment.save(
        update_fields=["status", "cancel_reason", "cancelled_at", "updated_at"]
    )
    return appointment


@transaction.atomic
def check_in_appointment(
    *,
    appointment: Appointment,
    by: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Appointment:
    now = now or timezone.now()
    appointment = _locked(appointment)
    if appointment.status != Appointment.Status.BOOKED:
        raise _refuse(
            _("Only a booked appointment can be checked in; this one is %(status)s.")
            % {"status": appointment.get_status_display().lower()}
        )
    if timezone.localdate(appointment.start) != timezone.localdate(now):
        raise _refuse(
            _("Patients can be checked in on the day of their appointment only.")
        )
    appointment.status = Appointment.Status.CHECKED_IN
    appointment.checked_in_at = now
    appointment.save(update_fields=["status", "checked_in_at", "updated_at"])
    return appointment


@transaction.atomic
def mark_no_show(
    *,
    appointment: Appointment,
    by: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Appointment:
    now = now or timezone.now()
    appointment = _locked(appointment)
    if appointment.status != Appointment.Status.BOOKED:
        raise _refuse(
            _(
                "Only a booked appointment can be marked as a no-show; "
                "this one is %(status)s."
            )
            % {"status": appointment.get_status_display().lower()}
        )
    if appointment.start > now:
        raise _refuse(
            _(
                "An appointment can be marked as a no-show once its start time "
                "has passed."
            )
        )
    appointment.status = Appointment.Status.NO_SHOW
    appointment.save(update_fields=["status", "updated_at"])
    return appointment
