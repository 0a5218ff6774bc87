"""Checking slots and booking appointments; telling the listening apps."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from clinic.models import (
    Appointment,
    AppointmentEvent,
    ClosureDay,
    OpeningHours,
    Patient,
    Practitioner,
    Room,
    TimeOff,
    WorkingHours,
    local_midnight,
)
from clinic.scheduling import Availability, Problem, away_all_working_hours, when_text
from clinic.scheduling.clock import span_text
from clinic.services import history

Action = AppointmentEvent.Action

EXCLUSION_VIOLATION = "23P01"
OVERLAP_CONSTRAINTS = {
    "appointment_no_practitioner_overlap": "practitioner_clash",
    "appointment_no_room_overlap": "room_clash",
}


class BookingError(Exception):
    """A booking or change was refused; ``problems`` say why, in words for staff."""

    def __init__(self, problems: list[Problem], *, index: int | None = None) -> None:
        self.problems = problems
        # For a request of several slots: the position of the one refused.
        self.index = index
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


def next_open_day(day: date, *, within: int = 14) -> date:
    """``day``, or the first day after it within ``within`` days when the
    clinic opens and is not closed (two queries): where a booking form starts.
    ``day`` itself when there is none (no hours set up yet)."""
    open_days = set(OpeningHours.objects.values_list("weekday", flat=True))
    closed = set(
        ClosureDay.objects.filter(
            date__gte=day, date__lt=day + timedelta(days=within)
        ).values_list("date", flat=True)
    )
    for offset in range(within):
        candidate = day + timedelta(days=offset)
        if candidate.weekday() in open_days and candidate not in closed:
            return candidate
    return day


def why_not_a_day_to_book(
    day: date, *, practitioner: Practitioner | None = None
) -> str:
    """Why no consultation can be booked on ``day`` (with the practitioner),
    in words ("" when one can): the clinic closed that day or weekday, or the
    practitioner not working or away for all their hours. The booking itself
    checks the time (three queries at most)."""
    day_text = formats.date_format(day, "l j F Y")
    closure = ClosureDay.objects.filter(date=day).first()
    if closure is not None:
        return _("The clinic is closed on %(day)s (%(reason)s).") % {
            "day": day_text,
            "reason": closure.reason,
        }
    if not OpeningHours.objects.filter(weekday=day.weekday()).exists():
        return _("The clinic is closed on %(days)s.") % {
            "days": formats.date_format(day, "l") + "s"
        }
    if practitioner is None:
        return ""
    blocks = list(
        WorkingHours.objects.filter(
            practitioner=practitioner, weekday=day.weekday()
        ).values_list("start", "end")
    )
    if not blocks:
        return _("%(who)s doesn't work on %(days)s.") % {
            "who": practitioner,
            "days": formats.date_format(day, "l") + "s",
        }
    away = TimeOff.objects.filter(
        practitioner=practitioner,
        start__lt=local_midnight(day + timedelta(days=1)),
        end__gt=local_midnight(day),
    ).values_list("start", "end")
    if away_all_working_hours(day, blocks, away, timezone.get_current_timezone()):
        return _("%(who)s is away on %(day)s.") % {"who": practitioner, "day": day_text}
    return ""


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


def _lock_calendars(
    practitioners: Iterable[Practitioner], rooms: Iterable[Room]
) -> None:
    """Queue writers of one practitioner's or one room's calendar behind each other.

    The second writer waits here until the first commits, so its check sees the
    first booking. Without the queue, two inserts at the same instant can deadlock
    inside PostgreSQL's exclusion-constraint check and fail with an error instead
    of a clash. A no-op on SQLite, where IMMEDIATE transactions serialise writers.
    Practitioners first, then rooms, each by id: one order for everybody, so no
    lock cycle.

    Whether each is in use is read again under the lock, onto the instances
    given (a page's form read them before): taking a room or practitioner out
    of use, committed while this waited, is seen by the check that follows.
    """
    practitioners, rooms = list(practitioners), list(rooms)
    in_use = _lock_by_id(
        practitioner_ids={p.pk for p in practitioners}, room_ids={r.pk for r in rooms}
    )
    for resource in (*practitioners, *rooms):
        resource.is_active = in_use[type(resource)].get(resource.pk, resource.is_active)


def _lock_by_id(
    *, practitioner_ids: Iterable[int] | None, room_ids: Iterable[int]
) -> dict[type, dict[int, bool]]:
    """_lock_calendars() by ids; ``None``: every practitioner, in one query.
    Returns whether each locked row is in use, by model and id."""
    in_use = {}
    for model, ids in ((Practitioner, practitioner_ids), (Room, room_ids)):
        rows = model.objects.select_for_update(no_key=True).order_by("pk")
        if ids is not None:
            rows = rows.filter(pk__in=sorted(set(ids)))
        in_use[model] = dict(rows.values_list("pk", "is_active"))
    return in_use


def hold_calendars(
    *, practitioner_ids: Iterable[int] | None = None, room_ids: Iterable[int] = ()
) -> None:
    """Before a change of settings looks for the bookings it would strand (a
    closure, time off, hours, a practitioner or room taken out of use): wait for
    the bookings being made now, and hold off new ones until the change commits,
    so a booking and the check can't pass each other. ``None``: every
    practitioner (a change for the whole clinic). Outside a transaction there is
    nothing to hold the locks for."""
    if transaction.get_connection().in_atomic_block:
        _lock_by_id(practitioner_ids=practitioner_ids, room_ids=room_ids)


def availability_for(
    slots: Sequence[Slot], exclude_ids: Iterable[int] = ()
) -> Availability:
    """The calendar around these slots, for their practitioners and rooms."""
    return Availability.load(
        start=min(s.start for s in slots),
        end=max(s.end for s in slots),
        practitioner_ids=[s.practitioner.pk for s in slots],
        room_ids=[s.room.pk for s in slots],
        exclude_ids=exclude_ids,
    )


def hold(availability: Availability, slot: Slot) -> None:
    """Mark a slot as taken so later slots of the same request can't overlap it."""
    availability.hold(
        start=slot.start,
        end=slot.end,
        practitioner_id=slot.practitioner.pk,
        room_id=slot.room.pk,
        description=_("another appointment in this change"),
    )


def _check_all(
    slots: Sequence[Slot],
    availability: Availability,
    *,
    by: AbstractBaseUser | None,
    override_reason: str,
    now: datetime | None,
) -> list[list[Problem]]:
    """Check every slot of one request (each against the ones before it too).

    Returns the overridden problems of each slot; BookingError.index names the
    slot that was refused.
    """
    overrides = []
    for index, slot in enumerate(slots):
        try:
            overrides.append(
                check_slot(
                    slot,
                    by=by,
                    override_reason=override_reason,
                    now=now,
                    availability=availability,
                )
            )
        except BookingError as error:
            error.index = index
            raise
        hold(availability, slot)
    return overrides


def check_patients_free(
    bookings: Sequence[tuple[int, Slot]],
    *,
    exclude_ids: Iterable[int] = (),
    lock: bool = True,
) -> None:
    """A patient is in one place at a time: refuse a slot that overlaps another
    of the patient's appointments, or an earlier slot of the same request.

    ``bookings``: (patient id, slot) in the request's order; BookingError.index
    names the slot refused. One query, whatever the number of slots (and one
    to lock the patients, unless ``lock`` is False for a preview).
    """
    if not bookings:
        return
    patient_ids = {patient_id for patient_id, _slot in bookings}
    # Two bookings of one patient at once (two desks) queue here, after the
    # calendars' locks (the same order for everybody), so the second one sees
    # the first.
    if lock:
        list(
            Patient.objects.select_for_update(no_key=True)
            .filter(pk__in=sorted(patient_ids))
            .order_by("pk")
            .values("pk")
        )
    taken: dict[int, list[tuple[datetime, datetime, str]]] = {
        patient_id: [] for patient_id in patient_ids
    }
    others = (
        Appointment.objects.active()
        .filter(
            patient_id__in=patient_ids,
            start__lt=max(slot.end for _patient, slot in bookings),
            end__gt=min(slot.start for _patient, slot in bookings),
        )
        .exclude(pk__in=list(exclude_ids))
        .select_related("practitioner__user")
        .order_by("start")
    )
    for other in others:
        taken[other.patient_id].append(
            (
                other.start,
                other.end,
                _("%(kind)s with %(practitioner)s, %(when)s")
                % {
                    "kind": other.get_kind_display().lower(),
                    "practitioner": other.practitioner,
                    "when": span_text(other.start, other.end),
                },
            )
        )
    for index, (patient_id, slot) in enumerate(bookings):
        for start, end, what in taken[patient_id]:
            if start < slot.end and slot.start < end:
                raise BookingError(
                    [
                        Problem(
                            "patient_clash",
                            _("The patient has another appointment then: %(what)s.")
                            % {"what": what},
                        )
                    ],
                    index=index,
                )
        taken[patient_id].append(
            (slot.start, slot.end, _("another appointment in this change"))
        )


@transaction.atomic
def book_appointments(
    *,
    patient: Patient,
    slots: Sequence[Slot],
    kind: str,
    booked_by: AbstractBaseUser | None,
    notes: str = "",
    override_reason: str = "",
    now: datetime | None = None,
) -> list[Appointment]:
    """Book every slot for the patient, or none (BookingError.index says which)."""
    if not slots:
        return []
    _lock_calendars([s.practitioner for s in slots], [s.room for s in slots])
    overrides = _refusals(
        patient, slots, by=booked_by, override_reason=override_reason, now=now
    )
    appointments = []
    for index, (slot, overridden) in enumerate(zip(slots, overrides, strict=True)):
        appointment = Appointment(
            patient=patient,
            practitioner=slot.practitioner,
            room=slot.room,
            start=slot.start,
            end=slot.end,
            kind=kind,
            notes=notes,
            booked_by=booked_by,
        )
        # Only a reason that excused something is an override worth recording.
        if overridden:
            appointment.override_reason = override_reason.strip()
            appointment.override_by = booked_by
        try:
            _save_checked(appointment)
        except BookingError as error:
            error.index = index
            raise
        appointments.append(appointment)
    history.record(
        Action.BOOKED,
        appointments,
        by=booked_by,
        at=now or timezone.now(),
        reasons=[a.override_reason for a in appointments],
    )
    notify("booked", appointments, now=now)
    return appointments


def check_booking(
    *,
    patient: Patient,
    slot: Slot,
    booked_by: AbstractBaseUser | None,
    override_reason: str = "",
    now: datetime | None = None,
) -> None:
    """Raise BookingError with what booking the slot would be refused for,
    booking nothing: a page's look before it asks a question that a tick
    answers. Booking checks again, under its locks."""
    _refusals(
        patient,
        [slot],
        by=booked_by,
        override_reason=override_reason,
        now=now,
        lock=False,
    )


def _refusals(
    patient: Patient,
    slots: Sequence[Slot],
    *,
    by: AbstractBaseUser | None,
    override_reason: str,
    now: datetime | None,
    lock: bool = True,
) -> list[list[Problem]]:
    """What book_appointments() checks before it books: every slot against the
    calendars, then the patient's own appointments (under a lock of the patient,
    unless ``lock`` is False). Raises BookingError; returns the overridden
    problems of each slot."""
    overrides = _check_all(
        slots,
        availability_for(slots),
        by=by,
        override_reason=override_reason,
        now=now,
    )
    check_patients_free([(patient.pk, slot) for slot in slots], lock=lock)
    return overrides


ANOTHER_CONSULTATION = "another_consultation"


def has_a_consultation(patient: Patient, ahead: Sequence[Appointment]) -> str:
    """What booking a second consultation is asked with (the page's words too)."""
    return _(
        "%(patient)s already has a consultation booked (%(when)s): move that one "
        "instead, or tick the box below if another is really wanted."
    ) % {"patient": patient, "when": ", ".join(when_text(a.start) for a in ahead)}


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
    another: bool = True,
) -> Appointment:
    """Book one appointment. ``another=False`` refuses a consultation for a
    patient who has one ahead already (code ANOTHER_CONSULTATION): checked
    under a lock of the patient, so two desks booking at once book one."""
    if not another and kind == Appointment.Kind.CONSULTATION:
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        ahead = (
            patient.appointments.filter(
                kind=Appointment.Kind.CONSULTATION,
                status=Appointment.Status.BOOKED,
                start__gte=now or timezone.now(),
            )
            .order_by("start")
            .first()
        )
        if ahead is not None:
            raise BookingError(
                [Problem(ANOTHER_CONSULTATION, has_a_consultation(patient, [ahead]))]
            )
    slot = Slot(start=start, end=end, practitioner=practitioner, room=room)
    [appointment] = book_appointments(
        patient=patient,
        slots=[slot],
        kind=kind,
        booked_by=booked_by,
        notes=notes,
        override_reason=override_reason,
        now=now,
    )
    return appointment


def notify(
    event: str, appointments: list[Appointment], *, now: datetime | None, **extra
) -> None:
    """Tell the apps that follow appointments (settings.CLINIC_APPOINTMENT_LISTENERS)
    what just happened, inside the same transaction: patient emails are planned,
    re-timed or cancelled together with the change, or not at all.

    Events: booked, moved, cancelled, no_show, completed and end_changed (both
    with ``ended_at``, the session's recorded end), and medication_changed (a
    consultation decided since names a topical medication to stop before these
    booked sessions that their pre-care did not).
    """
    for path in settings.CLINIC_APPOINTMENT_LISTENERS:
        import_string(path)(
            event=event, appointments=appointments, now=now or timezone.now(), **extra
        )
