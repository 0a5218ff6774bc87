"""Treatment plans and session series: every change is one transaction.

Appointments are only ever created or moved through ``clinic.services``, so the
clash and hours rules, and the database's no-overlap guarantee, hold for series too.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic import services as booking
from clinic.models import Appointment, Consultation, Practitioner, Room
from clinic.scheduling import Availability, RoomsNotLoaded
from plans.models import Protocol, TreatmentPlan, TreatmentSession
from plans.scheduling import Proposal, Window, propose_series

logger = logging.getLogger(__name__)


class PlanError(Exception):
    """A plan change was refused; the message says why, in words for staff."""

    def __init__(self, message: str, *, messages: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.messages = [message, *messages]


def window_for(plan: TreatmentPlan) -> Window:
    protocol = plan.protocol
    minimum = min(protocol.min_spacing_days, plan.spacing_days)
    maximum = max(protocol.max_spacing_days, plan.spacing_days)
    return Window(target=plan.spacing_days, minimum=minimum, maximum=maximum)


def _can_override(user: AbstractBaseUser | None) -> bool:
    return booking.can_override_hours(user)


# Plans -------------------------------------------------------------------------


@transaction.atomic
def create_plan(
    *,
    consultation: Consultation,
    protocol: Protocol,
    practitioner: Practitioner,
    planned_sessions: int,
    spacing_days: int,
    areas: list[str],
    exception_reason: str = "",
    consent: bool = False,
    by: AbstractBaseUser,
    now: datetime | None = None,
) -> TreatmentPlan:
    consultation = Consultation.objects.select_for_update().get(pk=consultation.pk)
    if not consultation.is_eligible:
        raise PlanError(
            _("Only an eligible consultation can start a plan; this one is %(d)s.")
            % {"d": consultation.get_decision_display().lower()}
        )
    if not protocol.is_active:
        raise PlanError(_("The %(p)s protocol is no longer offered.") % {"p": protocol})
    plan = TreatmentPlan(
        patient=consultation.patient,
        consultation=consultation,
        protocol=protocol,
        practitioner=practitioner,
        planned_sessions=planned_sessions,
        spacing_days=spacing_days,
        areas=areas,
        exception_reason=exception_reason.strip(),
        created_by=by,
    )
    departures = plan.outside_protocol()
    if departures and not plan.exception_reason:
        raise PlanError(
            _("Give a reason to go outside the protocol."), messages=departures
        )
    if consent:
        plan.consent_by = by
        plan.consented_at = now or timezone.now()
    plan.save()
    return plan


@transaction.atomic
def record_consent(
    *, plan: TreatmentPlan, by: AbstractBaseUser, now: datetime | None = None
) -> TreatmentPlan:
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    if not plan.is_open:
        raise PlanError(_("This plan has ended."))
    if plan.has_consent:
        raise PlanError(_("Consent is already recorded for this plan."))
    plan.consent_by = by
    plan.consented_at = now or timezone.now()
    plan.save(update_fields=["consent_by", "consented_at", "updated_at"])
    return plan


def live_sessions(plan: TreatmentPlan) -> list[TreatmentSession]:
    return [
        s
        for s in plan.sessions.select_related("appointment").order_by("number")
        if s.appointment.status in Appointment.ACTIVE_STATUSES
    ]


def unbooked_count(plan: TreatmentPlan) -> int:
    live = plan.sessions.filter(
        appointment__status__in=Appointment.ACTIVE_STATUSES
    ).count()
    return max(plan.planned_sessions - live, 0)


# Proposing and booking a series ------------------------------------------------


@dataclass
class SeriesRequest:
    """What the front desk asked for: where the series starts, who and where."""

    first_start: datetime
    practitioner: Practitioner
    room: Room | None  # None: any free room
    chosen: dict[int, tuple[datetime, Room]]


def _rooms(room: Room | None) -> list[Room]:
    if room is not None:
        return [room]
    return list(Room.objects.filter(is_active=True).order_by("name"))


def last_live_start(plan: TreatmentPlan) -> datetime | None:
    last = (
        Appointment.objects.filter(
            treatment_session__plan=plan, status__in=Appointment.ACTIVE_STATUSES
        )
        .order_by("-start")
        .values_list("start", flat=True)
        .first()
    )
    return last


def propose_for_plan(
    *,
    plan: TreatmentPlan,
    request: SeriesRequest,
    count: int | None = None,
    now: datetime | None = None,
) -> list[Proposal]:
    """Propose the plan's unbooked sessions (a fixed number of queries)."""
    now = now or timezone.now()
    count = unbooked_count(plan) if count is None else count
    if count == 0:
        return []
    window = window_for(plan)
    rooms = _rooms(request.room)
    if not rooms:
        raise PlanError(_("No room is in use: add one under Settings."))
    previous = last_live_start(plan)
    # Load every day the engine may look at: after booked sessions the first one
    # is searched for inside the window after the last (which may begin before
    # the requested start), and a date picked by hand may lie anywhere, with the
    # sessions after it spaced from it.
    anchors = [
        request.first_start,
        *(start for start, _room in request.chosen.values()),
    ]
    if previous is not None:
        anchors += [
            previous + timedelta(days=window.minimum),
            previous + timedelta(days=window.maximum),
        ]
    start = min(anchors) - timedelta(days=1)
    end = max(anchors) + timedelta(days=window.maximum * count + 10)
    duration = timedelta(minutes=plan.protocol.session_minutes)
    # Rooms picked by hand are checked too, whichever room the series asked for.
    room_ids = sorted(
        {r.pk for r in rooms} | {r.pk for _s, r in request.chosen.values()}
    )
    # The practitioner's bookings first, then the rooms' only where the
    # practitioner is free (and around the dates picked by hand): on a full
    # calendar that is a small part of a year of every room's bookings.
    availability = Availability.load(
        start=start, end=end, practitioner_ids=[request.practitioner.pk], room_ids=[]
    )
    free = availability.free_windows(
        practitioner=request.practitioner, start=start, end=end, duration=duration
    )
    picked = [
        (moment - timedelta(days=1), moment + timedelta(days=1))
        for moment, _room in request.chosen.values()
    ]
    availability.load_rooms(room_ids=room_ids, windows=free + picked)

    def propose(availability: Availability) -> list[Proposal]:
        return propose_series(
            first_start=request.first_start,
            count=count,
            window=window,
            duration=duration,
            practitioner=request.practitioner,
            rooms=rooms,
            availability=availability,
            now=now,
            previous_start=previous,
            chosen=request.chosen,
        )

    try:
        return propose(availability)
    except RoomsNotLoaded:
        # Rooms are only asked about where the practitioner is free, so this is
        # not expected; should it happen, the whole calendar answers instead.
        logger.warning("Series proposal for plan %s reloaded every room.", plan.pk)
        return propose(
            Availability.load(
                start=start,
                end=end,
                practitioner_ids=[request.practitioner.pk],
                room_ids=room_ids,
            )
        )


@transaction.atomic
def book_series(
    *,
    plan: TreatmentPlan,
    proposals: Sequence[Proposal],
    practitioner: Practitioner,
    by: AbstractBaseUser,
    override_reason: str = "",
    now: datetime | None = None,
    replaces: TreatmentSession | None = None,
) -> list[TreatmentSession]:
    """Book every proposed session, or none.

    If another booking took one of the slots in the meantime, nothing is booked
    and the error names the session that clashed.
    """
    now = now or timezone.now()
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    if not plan.is_open:
        raise PlanError(_("This plan has ended; no more sessions can be booked."))
    if not plan.has_consent:
        raise PlanError(
            _("Record the patient's consent to this plan before booking sessions.")
        )
    if not proposals:
        raise PlanError(_("There is nothing to book."))
    if len(proposals) > unbooked_count(plan):
        raise PlanError(
            _(
                "This plan has only %(n)s unbooked session(s) left: someone may have "
                "booked them meanwhile. Reload the plan."
            )
            % {"n": unbooked_count(plan)}
        )
    for proposal in proposals:
        if not proposal.is_bookable:
            raise PlanError(
                _("Session %(n)s has no free slot: change its date first.")
                % {"n": proposal.index + 1},
                messages=proposal.reasons,
            )
        if proposal.spacing_below_minimum and not (
            override_reason.strip() and _can_override(by)
        ):
            raise PlanError(
                _(
                    "Session %(n)s would be only %(days)s days after the previous "
                    "one; the minimum is %(min)s. A manager can allow it with a reason."
                )
                % {
                    "n": proposal.index + 1,
                    "days": proposal.spacing_days,
                    "min": window_for(plan).minimum,
                }
            )
    too_close = [
        _("Session %(n)s: %(days)s days after the one before.")
        % {"n": p.index + 1, "days": p.spacing_days}
        for p in proposals
        if p.spacing_below_minimum
    ]
    if too_close:
        _note_exception(plan, by, override_reason, too_close)
    try:
        appointments = booking.book_appointments(
            patient=plan.patient,
            slots=[
                booking.Slot(
                    start=p.start, end=p.end, practitioner=practitioner, room=p.room
                )
                for p in proposals
            ],
            kind=Appointment.Kind.TREATMENT,
            booked_by=by,
            now=now,
        )
    except booking.BookingError as error:
        index = getattr(error, "index", None)
        which = (
            _("Session %(n)s (%(when)s) can't be booked any more.")
            % {
                "n": proposals[index].index + 1,
                "when": _describe(proposals[index].start),
            }
            if index is not None
            else _("A session can't be booked any more.")
        )
        raise PlanError(which, messages=error.messages) from error
    next_number = max(plan.sessions.values_list("number", flat=True), default=0) + 1
    sessions = []
    for offset, appointment in enumerate(appointments):
        sessions.append(
            TreatmentSession.objects.create(
                plan=plan,
                appointment=appointment,
                number=next_number + offset,
                replaces=replaces if offset == 0 else None,
            )
        )
    if plan.status == TreatmentPlan.Status.DRAFT:
        plan.status = TreatmentPlan.Status.ACTIVE
        plan.save(update_fields=["status", "updated_at"])
    return sessions


def _note_exception(
    plan: TreatmentPlan, by: AbstractBaseUser, reason: str, what: list[str]
) -> None:
    """Keep a manager's reason for spacing below the minimum on the plan."""
    note = _("%(what)s Allowed by %(who)s on %(day)s: %(reason)s") % {
        "what": " ".join(what),
        "who": by.get_full_name() or by.get_username(),
        "day": timezone.localdate().strftime("%d %b %Y"),
        "reason": reason.strip(),
    }
    plan.exception_reason = "\n".join(filter(None, [plan.exception_reason, note]))
    plan.save(update_fields=["exception_reason", "updated_at"])


def _describe(start: datetime) -> str:
    return timezone.localtime(start).strftime("%a %d %b %Y, %H:%M")


# Changing a series ---------------------------------------------------------------


class Scope:
    THIS = "this"
    FOLLOWING = "following"


@dataclass
class PlannedMove:
    session: TreatmentSession
    start: datetime
    end: datetime
    practitioner: Practitioner
    room: Room


@dataclass
class MovePreview:
    moves: list[PlannedMove]
    problems: list[str]  # clashes and hours: the move can't go ahead
    too_close: list[str]  # spacing below the minimum: a manager's reason needed
    too_far: list[str]  # spacing above the maximum: needs confirmation

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.too_close or self.too_far)


def _booked_sessions_from(session: TreatmentSession) -> list[TreatmentSession]:
    return list(
        session.plan.sessions.filter(
            number__gte=session.number, appointment__status=Appointment.Status.BOOKED
        )
        .select_related("appointment__practitioner__user", "appointment__room")
        .order_by("number")
    )


def _shift_wall_clock(start: datetime, delta: timedelta) -> datetime:
    """Shift by a wall-clock amount: 10:00 plus 7 days is 10:00 across a DST change."""
    local = timezone.localtime(start)
    naive = local.replace(tzinfo=None) + delta
    return timezone.make_aware(naive, local.tzinfo)


def preview_move(
    *,
    session: TreatmentSession,
    start: datetime,
    scope: str,
    room: Room | None = None,
    now: datetime | None = None,
) -> MovePreview:
    """What moving ``session`` to ``start`` would do, without doing it."""
    now = now or timezone.now()
    plan = session.plan
    appointment = session.appointment
    duration = appointment.end - appointment.start
    old_local = timezone.localtime(appointment.start).replace(tzinfo=None)
    delta = timezone.localtime(start).replace(tzinfo=None) - old_local
    moving = [session]
    if scope == Scope.FOLLOWING:
        moving = _booked_sessions_from(session)
    moves = []
    for s in moving:
        new_start = (
            start
            if s.pk == session.pk
            else _shift_wall_clock(s.appointment.start, delta)
        )
        moves.append(
            PlannedMove(
                session=s,
                start=new_start,
                end=new_start + duration,
                practitioner=s.appointment.practitioner,
                room=room
                if (room is not None and s.pk == session.pk)
                else s.appointment.room,
            )
        )
    slots = [
        booking.Slot(start=m.start, end=m.end, practitioner=m.practitioner, room=m.room)
        for m in moves
    ]
    availability = booking.availability_for(
        slots, exclude_ids=[m.session.appointment_id for m in moves]
    )
    problems = []
    for move, slot in zip(moves, slots, strict=True):
        found = availability.problems(
            start=slot.start,
            end=slot.end,
            practitioner=slot.practitioner,
            room=slot.room,
            now=now,
        )
        problems += [
            _("Session %(n)s: %(why)s") % {"n": move.session.number, "why": p.message}
            for p in found
        ]
        booking.hold(availability, slot)
    too_close, too_far = _spacing_after(plan, moves)
    return MovePreview(
        moves=moves, problems=problems, too_close=too_close, too_far=too_far
    )


def _spacing_after(
    plan: TreatmentPlan, moves: list[PlannedMove]
) -> tuple[list[str], list[str]]:
    """Spacing warnings for the whole course once the moves are made."""
    window = window_for(plan)
    moved = {m.session.pk: m.start for m in moves}
    starts = sorted(
        (moved.get(s.pk, s.appointment.start), s.number)
        for s in plan.sessions.select_related("appointment")
        if s.appointment.status in Appointment.ACTIVE_STATUSES
    )
    moved_numbers = {m.session.number for m in moves}
    too_close, too_far = [], []
    for (before, earlier), (after, number) in zip(starts, starts[1:], strict=False):
        if number not in moved_numbers and earlier not in moved_numbers:
            continue
        days = (timezone.localdate(after) - timezone.localdate(before)).days
        text = _("Session %(n)s would be %(days)s days after the one before it") % {
            "n": number,
            "days": days,
        }
        if days < window.minimum:
            too_close.append(f"{text} (minimum {window.minimum}).")
        elif days > window.maximum:
            too_far.append(f"{text} (longest {window.maximum}).")
    return too_close, too_far


@transaction.atomic
def move_sessions(
    *,
    session: TreatmentSession,
    start: datetime,
    scope: str,
    by: AbstractBaseUser,
    room: Room | None = None,
    confirmed: bool = False,
    override_reason: str = "",
    now: datetime | None = None,
) -> MovePreview:
    """Move one session, or it and all booked sessions after it, keeping spacing.

    Spacing outside the window needs ``confirmed``; below the minimum it also
    needs a manager's ``override_reason``.
    """
    plan = TreatmentPlan.objects.select_for_update().get(pk=session.plan_id)
    if not plan.is_open:
        raise PlanError(_("This plan has ended."))
    session = TreatmentSession.objects.select_related(
        "plan__protocol", "appointment__practitioner__user", "appointment__room"
    ).get(pk=session.pk)
    if session.appointment.status != Appointment.Status.BOOKED:
        raise PlanError(
            _("Session %(n)s is %(status)s and can't be moved.")
            % {
                "n": session.number,
                "status": session.appointment.get_status_display().lower(),
            }
        )
    preview = preview_move(
        session=session, start=start, scope=scope, room=room, now=now
    )
    if preview.problems:
        raise PlanError(_("The move can't be made."), messages=preview.problems)
    if preview.needs_confirmation and not confirmed:
        raise PlanError(
            _("Check the spacing and confirm the move."),
            messages=preview.too_close + preview.too_far,
        )
    if preview.too_close and not (override_reason.strip() and _can_override(by)):
        raise PlanError(
            _("Sessions closer than the minimum need a manager's reason."),
            messages=preview.too_close,
        )
    if preview.too_close:
        _note_exception(plan, by, override_reason, preview.too_close)
    try:
        booking.move_appointments(
            moves=[
                booking.Move(
                    appointment=m.session.appointment,
                    slot=booking.Slot(
                        start=m.start,
                        end=m.end,
                        practitioner=m.practitioner,
                        room=m.room,
                    ),
                )
                for m in preview.moves
            ],
            by=by,
            now=now,
        )
    except booking.BookingError as error:
        raise PlanError(
            _("The move can't be made."), messages=error.messages
        ) from error
    return preview


@transaction.atomic
def change_resources_from(
    *,
    session: TreatmentSession,
    practitioner: Practitioner,
    room: Room,
    by: AbstractBaseUser,
    now: datetime | None = None,
) -> list[TreatmentSession]:
    """Give session N and every booked session after it another practitioner or room."""
    plan = TreatmentPlan.objects.select_for_update().get(pk=session.plan_id)
    if not plan.is_open:
        raise PlanError(_("This plan has ended."))
    sessions = _booked_sessions_from(session)
    if not sessions:
        raise PlanError(_("There is no booked session from here on to change."))
    try:
        booking.move_appointments(
            moves=[
                booking.Move(
                    appointment=s.appointment,
                    slot=booking.Slot(
                        start=s.appointment.start,
                        end=s.appointment.end,
                        practitioner=practitioner,
                        room=room,
                    ),
                )
                for s in sessions
            ],
            by=by,
            now=now,
        )
    except booking.BookingError as error:
        which = sessions[error.index].number if error.index is not None else "?"
        raise PlanError(
            _("Session %(n)s can't be changed.") % {"n": which},
            messages=error.messages,
        ) from error
    earlier_booked = plan.sessions.filter(
        number__lt=session.number, appointment__status=Appointment.Status.BOOKED
    ).exists()
    # The plan's practitioner is whoever has all of its upcoming sessions.
    if plan.practitioner_id != practitioner.pk and not earlier_booked:
        plan.practitioner = practitioner
        plan.save(update_fields=["practitioner", "updated_at"])
    return sessions


@transaction.atomic
def cancel_session(
    *,
    session: TreatmentSession,
    reason: str,
    by: AbstractBaseUser,
    replace: bool = False,
    now: datetime | None = None,
) -> TreatmentSession | None:
    """Cancel one session; with ``replace``, book one more at the end of the course.

    Returns the replacement session, if any. If no slot for the replacement is
    free inside the spacing window, nothing is changed.
    """
    now = now or timezone.now()
    plan = TreatmentPlan.objects.select_for_update().get(pk=session.plan_id)
    if not plan.is_open:
        raise PlanError(_("This plan has ended."))
    try:
        booking.cancel_appointment(
            appointment=session.appointment, by=by, reason=reason, now=now
        )
    except booking.BookingError as error:
        raise PlanError(error.messages[0], messages=error.messages[1:]) from error
    if not replace:
        return None
    last = last_live_start(plan)
    practitioner = session.appointment.practitioner
    first_start = (
        _shift_wall_clock(last, timedelta(days=plan.spacing_days))
        if last is not None
        else _shift_wall_clock(
            session.appointment.start, timedelta(days=plan.spacing_days)
        )
    )
    proposals = propose_for_plan(
        plan=plan,
        request=SeriesRequest(
            first_start=first_start,
            practitioner=practitioner,
            room=None,
            chosen={},
        ),
        count=1,
        now=now,
    )
    if not proposals[0].is_bookable:
        raise PlanError(
            _(
                "There is no free slot for a replacement near %(when)s. Cancel "
                "without a replacement and book it later from the plan."
            )
            % {"when": _describe(first_start)},
            messages=proposals[0].reasons,
        )
    [replacement] = book_series(
        plan=plan,
        proposals=proposals,
        practitioner=practitioner,
        by=by,
        now=now,
        replaces=session,
    )
    return replacement


def mark_session_no_show(
    *, session: TreatmentSession, by: AbstractBaseUser, now: datetime | None = None
) -> None:
    try:
        booking.mark_no_show(appointment=session.appointment, by=by, now=now)
    except booking.BookingError as error:
        raise PlanError(error.messages[0]) from error


@transaction.atomic
def extend_plan(
    *, plan: TreatmentPlan, by: AbstractBaseUser, reason: str = ""
) -> TreatmentPlan:
    """One more session (up to the protocol's maximum; beyond it with a reason)."""
    plan = (
        TreatmentPlan.objects.select_for_update()
        .select_related("protocol")
        .get(pk=plan.pk)
    )
    if not plan.is_open:
        raise PlanError(_("This plan has ended."))
    if plan.planned_sessions >= plan.protocol.max_sessions and not reason.strip():
        raise PlanError(
            _(
                "The %(protocol)s protocol has at most %(max)s sessions: give a "
                "reason to plan more."
            )
            % {"protocol": plan.protocol, "max": plan.protocol.max_sessions}
        )
    plan.planned_sessions += 1
    fields = ["planned_sessions", "updated_at"]
    if reason.strip():
        note = _("Extended to %(n)s sessions: %(reason)s") % {
            "n": plan.planned_sessions,
            "reason": reason.strip(),
        }
        plan.exception_reason = "\n".join(filter(None, [plan.exception_reason, note]))
        fields.append("exception_reason")
    plan.save(update_fields=fields)
    return plan


@transaction.atomic
def cancel_plan(
    *,
    plan: TreatmentPlan,
    reason: str,
    by: AbstractBaseUser,
    now: datetime | None = None,
) -> int:
    """Cancel the rest of a plan: every session not yet done. Returns how many."""
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise PlanError(_("Give a reason for cancelling the plan."))
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    if not plan.is_open:
        raise PlanError(_("This plan has already ended."))
    upcoming = Appointment.objects.filter(
        treatment_session__plan=plan,
        status__in=[Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN],
    )
    count = len(
        booking.cancel_appointments(
            appointments=list(upcoming), by=by, reason=reason, now=now
        )
    )
    plan.status = TreatmentPlan.Status.CANCELLED
    plan.ended_reason = reason
    plan.ended_at = now
    plan.save(update_fields=["status", "ended_reason", "ended_at", "updated_at"])
    return count


@transaction.atomic
def complete_plan(
    *, plan: TreatmentPlan, by: AbstractBaseUser, now: datetime | None = None
) -> TreatmentPlan:
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    if not plan.is_open:
        raise PlanError(_("This plan has already ended."))
    if Appointment.objects.filter(
        treatment_session__plan=plan,
        status__in=[Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN],
    ).exists():
        raise PlanError(
            _(
                "Sessions are still booked: cancel them first, or wait until "
                "they are done."
            )
        )
    plan.status = TreatmentPlan.Status.COMPLETED
    plan.ended_at = now or timezone.now()
    plan.save(update_fields=["status", "ended_at", "updated_at"])
    return plan
