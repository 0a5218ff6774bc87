"""Changes to booked appointments: move, cancel, check in, no-show, complete."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from clinic.models import (
    Appointment,
    AppointmentEvent,
    Consultation,
    Practitioner,
    Room,
)
from clinic.scheduling import Availability, Problem, when_text
from clinic.services import history
from clinic.services.booking import (
    BookingError,
    Slot,
    _check_all,
    _lock_calendars,
    _save_checked,
    availability_for,
    check_patients_free,
    notify,
)
from clinic.services.stale import check_appointments_seen

Action = AppointmentEvent.Action


def _refuse(message: str) -> BookingError:
    # str(): the message may be a lazy translation, written out now.
    return BookingError([Problem("status", str(message))])


@dataclass(frozen=True)
class Move:
    appointment: Appointment
    slot: Slot


@transaction.atomic
def move_appointments(
    *,
    moves: Sequence[Move],
    by: AbstractBaseUser | None,
    override_reason: str = "",
    now: datetime | None = None,
    why: str = "",
) -> list[Appointment]:
    """Move booked appointments (to new times, practitioners or rooms): all or none.

    The moved appointments don't block each other's new slots, so a whole series
    can shift by a week even where a new slot overlaps another one's old slot.
    ``why`` goes into their history (a manager's reason for spacing, say), with
    the reason for booking outside hours where that was needed.
    """
    if not moves:
        return []
    now = now or timezone.now()
    ids = [m.appointment.pk for m in moves]
    locked = {
        a.pk: a
        for a in Appointment.objects.select_for_update()
        .select_related("patient", "practitioner__user", "room")
        .filter(pk__in=ids)
        .order_by("pk")
    }
    for index, move in enumerate(moves):
        appointment = locked[move.appointment.pk]
        if appointment.status != Appointment.Status.BOOKED:
            error = _refuse(
                _("Only a booked appointment can be moved; this one is %(status)s.")
                % {"status": appointment.status_phrase}
            )
            error.index = index
            raise error
        if appointment.end <= now:
            error = _refuse(OVER_NOT_MOVED % {"when": when_text(appointment.start)})
            error.index = index
            raise error
    slots = [m.slot for m in moves]
    changing = [
        index
        for index, slot in enumerate(slots)
        if (slot.start, slot.end, slot.practitioner.pk, slot.room.pk)
        != (
            locked[ids[index]].start,
            locked[ids[index]].end,
            locked[ids[index]].practitioner_id,
            locked[ids[index]].room_id,
        )
    ]
    if not changing:
        raise _refuse(NOTHING_CHANGES)
    _lock_calendars(
        [s.practitioner for s in slots] + [a.practitioner for a in locked.values()],
        [s.room for s in slots] + [a.room for a in locked.values()],
    )
    overrides = _check_all(
        slots,
        availability_for(slots, exclude_ids=ids),
        by=by,
        override_reason=override_reason,
        now=now,
    )
    # Only the appointments that change: the others stay where they are, as
    # the patient's existing bookings.
    try:
        check_patients_free(
            [(locked[ids[index]].patient_id, slots[index]) for index in changing],
            exclude_ids=[ids[index] for index in changing],
        )
    except BookingError as error:
        error.index = changing[error.index]
        raise
    # Save in an order in which no moved appointment lands on one not yet moved
    # (the database checks overlaps row by row): later-first when moving later.
    before = {index: history.Place.of(locked[ids[index]]) for index in changing}
    order = sorted(
        range(len(moves)),
        key=lambda i: (
            -slots[i].start.timestamp()
            if slots[i].start > locked[ids[i]].start
            else slots[i].start.timestamp()
        ),
    )
    for index in order:
        if index not in changing:
            continue
        appointment, slot = locked[ids[index]], slots[index]
        appointment.start, appointment.end = slot.start, slot.end
        appointment.practitioner, appointment.room = slot.practitioner, slot.room
        fields = ["start", "end", "practitioner", "room", "updated_at"]
        if overrides[index]:
            appointment.override_reason = override_reason.strip()
            appointment.override_by = by
            fields += ["override_reason", "override_by"]
        elif appointment.override_reason:
            # Moved into hours: it counts as any booking again (a change of
            # hours that strands it is refused, naming it).
            appointment.override_reason, appointment.override_by = "", None
            fields += ["override_reason", "override_by"]
        try:
            _save_checked(appointment, update_fields=fields)
        except BookingError as error:
            error.index = index
            raise
    history.record_moves(
        [(locked[ids[index]], before[index]) for index in changing],
        by=by,
        at=now,
        reasons=[
            " ".join(
                filter(None, [override_reason.strip() if overrides[i] else "", why])
            )
            for i in changing
        ],
    )
    # The patient hears only of the appointments that changed.
    notify("moved", [locked[ids[index]] for index in changing], now=now)
    return [locked[pk] for pk in ids]


NOTHING_CHANGES = _lazy(
    "That is when, where and with whom it is booked already: nothing changes."
)


# A session belongs to a course: its plan's pages keep the sessions in order
# and spaced, which a move of the appointment alone would not.
TREATMENTS_MOVE_WITH_THEIR_PLAN = _lazy(
    "A treatment session is moved from its treatment plan, which keeps the "
    "sessions in order and spaced."
)


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
    seen: str | None = None,
) -> Appointment:
    """Move one consultation (or other single appointment) to a new slot.

    ``seen`` (appointments_seen() of the page that asks) refuses a move asked
    for from a page opened before another change."""
    if seen is not None:
        check_appointments_seen([_locked(appointment)], seen)
    if appointment.plan_session is not None:
        raise _refuse(TREATMENTS_MOVE_WITH_THEIR_PLAN)
    refusal = took_place(appointment, now=now or timezone.now())
    if refusal:
        raise _refuse(refusal)
    slot = Slot(start=start, end=end, practitioner=practitioner, room=room)
    [moved] = move_appointments(
        moves=[Move(appointment=appointment, slot=slot)],
        by=by,
        override_reason=override_reason,
        now=now,
    )
    return moved


CONSULTATION_TOOK_PLACE = _lazy(
    "The practitioner has recorded a decision at this consultation: it took place."
)


def consultation_took_place(appointment: Appointment) -> bool:
    """A consultation with a decision happened: a plan may rest on it."""
    return (
        appointment.kind == Appointment.Kind.CONSULTATION
        and Consultation.objects.filter(appointment=appointment)
        .exclude(decision=Consultation.Decision.PENDING)
        .exists()
    )


SESSION_RECORDED = _lazy(
    "The practitioner has started this session's record (a draft or photos): it "
    "took place."
)
CHECKED_IN_AND_OVER = _lazy(
    "The patient was checked in and the appointment's time is over: it took "
    "place, and the practitioner records it. If the patient left without being "
    "seen, undo the check-in, then mark a no-show."
)


def took_place(appointment: Appointment, *, now: datetime) -> str | None:
    """Why the appointment is known to have happened, so that it stays as it is
    (no move, cancellation, no-show or undone check-in), or None.

    A decided consultation may carry a plan; a treatment session under way
    (its time begun, or the patient checked in early) or past with a record or
    photos carries clinical notes (the plans app's, reached by their names).
    Notes written ahead of a session don't count.
    """
    if consultation_took_place(appointment):
        return str(CONSULTATION_TOOK_PLACE)
    if (
        appointment.kind == Appointment.Kind.TREATMENT
        and (
            appointment.start <= now
            or appointment.status == Appointment.Status.CHECKED_IN
        )
        and Appointment.objects.filter(pk=appointment.pk)
        .filter(
            Q(treatment_session__record__isnull=False)
            | Q(treatment_session__photos__isnull=False)
        )
        .exists()
    ):
        return str(SESSION_RECORDED)
    return None


OVER_NOT_MOVED = _lazy(
    "The appointment of %(when)s is over: if the patient didn't come, mark it a "
    "no-show and book again (moving it would lose the missed visit)."
)
BOOKED_AND_OVER = _lazy(
    "The appointment's time is over: if the patient didn't come, mark a no-show "
    "instead (a cancellation would email them about a past visit)."
)


def time_is_over(appointment: Appointment, *, now: datetime) -> str | None:
    """Why an open appointment whose time is over can't be cancelled (checked
    in: it took place; booked: a no-show), or None (no query)."""
    if appointment.end > now:
        return None
    if appointment.status == Appointment.Status.CHECKED_IN:
        return str(CHECKED_IN_AND_OVER)
    if appointment.status == Appointment.Status.BOOKED:
        return str(BOOKED_AND_OVER)
    return None


def why_not_cancellable(appointment: Appointment, *, now: datetime) -> str | None:
    """Why the (open) appointment can't be cancelled, or None: it took place,
    or its time is over."""
    return took_place(appointment, now=now) or time_is_over(appointment, now=now)


def _locked(appointment: Appointment) -> Appointment:
    """The appointment re-read under a row lock, so two changes can't interleave."""
    return (
        Appointment.objects.select_for_update()
        .select_related("patient", "practitioner__user", "room")
        .get(pk=appointment.pk)
    )


@transaction.atomic
def cancel_appointment(
    *,
    appointment: Appointment,
    by: AbstractBaseUser | None,
    reason: str,
    now: datetime | None = None,
    seen: str | None = None,
) -> Appointment:
    """Cancel one appointment; ``seen`` as for reschedule_appointment()."""
    if seen is not None:
        check_appointments_seen([_locked(appointment)], seen)
    [cancelled] = cancel_appointments(
        appointments=[appointment], by=by, reason=reason, now=now
    )
    return cancelled


@transaction.atomic
def cancel_appointments(
    *,
    appointments: list[Appointment],
    by: AbstractBaseUser | None,
    reason: str,
    now: datetime | None = None,
) -> list[Appointment]:
    """Cancel them all or none; the patient hears of them together."""
    reason = reason.strip()
    if not reason:
        raise _refuse(_("Give a reason for cancelling."))
    now = now or timezone.now()
    cancelled = []
    # Locked in one order, so two cancellations of overlapping sets can't deadlock.
    for appointment in sorted(
        {a.pk: a for a in appointments}.values(), key=attrgetter("pk")
    ):
        appointment = _locked(appointment)
        if appointment.status not in Appointment.OPEN_STATUSES:
            raise _refuse(
                _("This appointment is %(status)s and can no longer be cancelled.")
                % {"status": appointment.status_phrase}
            )
        refusal = why_not_cancellable(appointment, now=now)
        if refusal:
            raise _refuse(refusal)
        appointment.status = Appointment.Status.CANCELLED
        appointment.cancel_reason = reason
        appointment.cancelled_at = now
        appointment.save(
            update_fields=["status", "cancel_reason", "cancelled_at", "updated_at"]
        )
        cancelled.append(appointment)
    history.record(Action.CANCELLED, cancelled, by=by, at=now, reason=reason)
    notify("cancelled", cancelled, now=now)
    return cancelled


@transaction.atomic
def check_in_appointment(
    *,
    appointment: Appointment,
    by: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Appointment:
    now = now or timezone.now()
    appointment = _locked(appointment)
    if appointment.status == Appointment.Status.NO_SHOW:
        # Marked missed (from another desk, or an older page), and then the
        # patient came: the way back is on the appointment's page.
        raise _refuse(
            _(
                "This appointment is marked as a no-show. If the patient has come "
                "after all, take the no-show back on the appointment's page (Undo "
                "no-show), then check them in."
            )
        )
    if appointment.status == Appointment.Status.CHECKED_IN:
        # Checked in from another desk, or twice from an older page.
        if appointment.checked_in_at is None:
            raise _refuse(
                _("%(patient)s is already checked in.")
                % {"patient": appointment.patient}
            )
        raise _refuse(
            _("%(patient)s is already checked in (at %(time)s).")
            % {
                "patient": appointment.patient,
                "time": timezone.localtime(appointment.checked_in_at).strftime("%H:%M"),
            }
        )
    if appointment.status != Appointment.Status.BOOKED:
        raise _refuse(
            # Said on a list of arrivals: whose.
            _(
                "Only a booked appointment can be checked in; %(patient)s's is "
                "%(status)s."
            )
            % {"patient": appointment.patient, "status": appointment.status_phrase}
        )
    if timezone.localdate(appointment.start) != timezone.localdate(now):
        raise _refuse(
            _("Patients can be checked in on the day of their appointment only.")
        )
    opens = appointment.check_in_opens
    if now < opens:
        # Most likely the wrong row of the arrivals list.
        raise _refuse(
            _(
                "It is too early to check in %(patient)s: their appointment is at "
                "%(time)s, and check-in opens at %(opens)s, two hours before. "
                "Check that this is the right patient."
            )
            % {
                "patient": appointment.patient,
                "time": f"{timezone.localtime(appointment.start):%H:%M}",
                "opens": f"{timezone.localtime(opens):%H:%M}",
            }
        )
    appointment.status = Appointment.Status.CHECKED_IN
    appointment.checked_in_at = now
    appointment.save(update_fields=["status", "checked_in_at", "updated_at"])
    history.record(Action.CHECKED_IN, [appointment], by=by, at=now)
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
                "%(patient)s's is %(status)s."
            )
            % {"patient": appointment.patient, "status": appointment.status_phrase}
        )
    if appointment.start > now:
        raise _refuse(
            _(
                "An appointment can be marked as a no-show once its start time "
                "has passed: %(patient)s's is at %(time)s."
            )
            % {
                "patient": appointment.patient,
                "time": timezone.localtime(appointment.start).strftime("%H:%M"),
            }
        )
    refusal = took_place(appointment, now=now)
    if refusal:
        raise _refuse(refusal)
    appointment.status = Appointment.Status.NO_SHOW
    appointment.save(update_fields=["status", "updated_at"])
    history.record(Action.NO_SHOW, [appointment], by=by, at=now)
    notify("no_show", [appointment], now=now)
    return appointment


@transaction.atomic
def undo_check_in(
    *,
    appointment: Appointment,
    by: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Appointment:
    """A patient checked in by mistake (the wrong one of two namesakes, say),
    or who left without being seen, is booked again, as long as nothing was
    recorded (took_place())."""
    appointment = _locked(appointment)
    if appointment.status != Appointment.Status.CHECKED_IN:
        raise _refuse(
            _(
                "Only a checked-in appointment can be taken back; "
                "this one is %(status)s."
            )
            % {"status": appointment.status_phrase}
        )
    now = now or timezone.now()
    # Also on a later day: a patient who left without being seen is then
    # marked as a no-show, rather than left checked in for good.
    refusal = took_place(appointment, now=now)
    if refusal:
        raise _refuse(refusal)
    if appointment.end > now:
        # Still under way: it would be held, booked, on a closed day. One that
        # is over is taken back to be marked a no-show next.
        _check_open_then(appointment, availability_for([_slot_of(appointment)]))
    appointment.status = Appointment.Status.BOOKED
    appointment.checked_in_at = None
    appointment.save(update_fields=["status", "checked_in_at", "updated_at"])
    history.record(Action.CHECK_IN_UNDONE, [appointment], by=by, at=now)
    return appointment


def _slot_of(appointment: Appointment) -> Slot:
    return Slot(
        start=appointment.start,
        end=appointment.end,
        practitioner=appointment.practitioner,
        room=appointment.room,
    )


def _check_open_then(appointment: Appointment, calendar: Availability) -> None:
    """An appointment goes back to booked only if the clinic is open and its
    practitioner in then: a closure or time off may have been added since it
    began, as they leave appointments that are over alone."""
    problems = [
        problem
        for problem in calendar.hours_problems(
            start=appointment.start,
            end=appointment.end,
            practitioner=appointment.practitioner,
        )
        if problem.code in ("closure", "time_off")
    ]
    if problems:
        raise _refuse(
            _("%(problem)s The appointment can't go back to booked then.")
            % {"problem": problems[0].message}
        )


def _lock_plan_of(appointment: Appointment):
    """The (plans app's) plan of the appointment's session, locked, or None:
    locked before the appointment, in the order plan changes lock them."""
    session = appointment.plan_session
    if session is None:
        return None
    return type(session.plan).objects.select_for_update().get(pk=session.plan_id)


def _check_plan_takes_it_back(appointment: Appointment, plan) -> None:
    """A missed treatment session is booked again only while its plan (locked)
    is open and has room for it: the missed one may have been replaced since,
    or the plan ended."""
    if not plan.is_open:
        raise _refuse(_("Its treatment plan has ended: book a new one instead."))
    others = (
        Appointment.objects.filter(
            treatment_session__plan_id=plan.pk,
            status__in=Appointment.ACTIVE_STATUSES,
        )
        .exclude(pk=appointment.pk)
        .count()
    )
    if others >= plan.planned_sessions:
        raise _refuse(
            _(
                "The plan's %(n)s sessions are all booked again (a replacement "
                "was booked for this one): the patient can be seen in that one."
            )
            % {"n": plan.planned_sessions}
        )


@transaction.atomic
def undo_no_show(
    *,
    appointment: Appointment,
    by: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Appointment:
    """A patient marked as a no-show who turns up late after all is booked again
    (to be checked in), on the day itself, while nobody has taken the slot."""
    now = now or timezone.now()
    plan = _lock_plan_of(appointment)
    appointment = _locked(appointment)
    if appointment.status != Appointment.Status.NO_SHOW:
        raise _refuse(
            _("Only a no-show can be taken back; this one is %(status)s.")
            % {"status": appointment.status_phrase}
        )
    if timezone.localdate(appointment.start) != timezone.localdate(now):
        raise _refuse(
            _("A no-show can be taken back on the day of the appointment only.")
        )
    if plan is not None:
        _check_plan_takes_it_back(appointment, plan)
    _lock_calendars([appointment.practitioner], [appointment.room])
    slot = _slot_of(appointment)
    calendar = availability_for([slot], exclude_ids=[appointment.pk])
    _check_open_then(appointment, calendar)
    # Its slot was free for others since: it may have been booked meanwhile.
    clashes = calendar.clashes(
        start=slot.start,
        end=slot.end,
        practitioner=slot.practitioner,
        room=slot.room,
    )
    if clashes:
        raise BookingError(clashes)
    check_patients_free([(appointment.patient_id, slot)], exclude_ids=[appointment.pk])
    appointment.status = Appointment.Status.BOOKED
    _save_checked(appointment, update_fields=["status", "updated_at"])
    history.record(Action.NO_SHOW_UNDONE, [appointment], by=by, at=now)
    return appointment


@transaction.atomic
def complete_appointment(
    *,
    appointment: Appointment,
    by: AbstractBaseUser | None,
    ended_at: datetime | None = None,
    now: datetime | None = None,
) -> Appointment:
    """The appointment took place (from booked or checked in).

    ``ended_at`` is when it really ended (the session record's end), which is
    when the aftercare clock starts; by default the booked end.
    """
    now = now or timezone.now()
    appointment = _locked(appointment)
    if appointment.status not in Appointment.OPEN_STATUSES:
        raise _refuse(
            _("This appointment is %(status)s and can't be completed.")
            % {"status": appointment.status_phrase}
        )
    if appointment.start > now and appointment.status != Appointment.Status.CHECKED_IN:
        # A patient seen early is checked in first: then it may end early too.
        raise _refuse(
            _(
                "This appointment starts %(when)s: check the patient in first if "
                "they are being seen early."
            )
            % {"when": when_text(appointment.start)}
        )
    appointment.status = Appointment.Status.COMPLETED
    appointment.save(update_fields=["status", "updated_at"])
    history.record(Action.COMPLETED, [appointment], by=by, at=now)
    notify("completed", [appointment], now=now, ended_at=ended_at or appointment.end)
    return appointment
