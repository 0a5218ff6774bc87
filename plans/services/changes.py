"""Changing a booked series: move sessions (this one or all following), change
the practitioner or room from a session on, cancel one (with a replacement at
the end if wanted) or mark a no-show. Each change is one transaction."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinic import services as booking
from clinic.models import Appointment, Practitioner, Room
from clinic.scheduling import shift_wall_clock, when_text
from clinic.services.changes import OVER_NOT_MOVED
from clinic.services.stale import appointments_seen
from plans.models import SessionRecord, TreatmentPlan, TreatmentSession
from plans.scheduling import State
from plans.services.lifecycle import (
    PlanEnded,
    PlanError,
    StalePlan,
    _can_override,
    place_in_course,
    too_soon_to_heal,
    window_for,
)
from plans.services.series import (
    SeriesRequest,
    _note_exception,
    book_series,
    last_live_session,
    practitioner_to_follow,
    propose_for_plan,
    room_to_follow,
)


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
    # Its place in the course as the plan page counts (cancelled sessions left
    # out): what staff call it, rather than its stored number.
    position: int = 0


@dataclass
class MovePreview:
    moves: list[PlannedMove]
    problems: list[str]  # clashes and hours: the move can't go ahead
    too_close: list[str]  # spacing below the minimum: a manager's reason needed
    too_far: list[str]  # spacing above the maximum: needs confirmation

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.too_close or self.too_far)


def session_seen(session: TreatmentSession) -> str:
    """The version of the session a move page shows (clinic.services.stale)."""
    return appointments_seen([session.appointment])


def sessions_seen(session: TreatmentSession) -> str:
    """The version of the booked sessions from this one on that a change page
    shows."""
    return appointments_seen(s.appointment for s in booked_sessions_from(session))


def _lock_as_seen(
    session: TreatmentSession,
    seen: str | None,
    *,
    refusal: str,
    stamp: Callable[[TreatmentSession], str] = session_seen,
) -> tuple[TreatmentPlan, TreatmentSession]:
    """Lock the session's open plan and read the session again under the lock;
    refuse with ``refusal`` when it is not as the page saw it (``stamp``:
    session_seen(), or sessions_seen() for a page about the sessions after it
    too; None: no page). The plan's lock makes changes take turns."""
    plan = TreatmentPlan.objects.select_for_update().get(pk=session.plan_id)
    if not plan.is_open:
        raise PlanEnded()
    session = TreatmentSession.objects.select_related(
        "plan__protocol", "appointment__practitioner__user", "appointment__room"
    ).get(pk=session.pk)
    if seen is not None and seen != stamp(session):
        raise StalePlan(f"{refusal} {_as_it_is_now(session)}")
    return plan, session


def _as_it_is_now(session: TreatmentSession) -> str:
    """What a colleague's change left the session as: the refusal says it,
    as the page that follows may not (a cancelled one's is the plan's)."""
    appointment = session.appointment
    # Numbered as the plan page numbers it, cancelled and missed ones left out.
    place = place_in_course(session)
    if appointment.status == Appointment.Status.BOOKED:
        return _("Session %(n)s is now booked for %(when)s with %(who)s.") % {
            "n": place,
            "when": when_text(appointment.start),
            "who": appointment.practitioner,
        }
    if place is None:
        return _("This session is now %(status)s.") % {
            "status": appointment.status_phrase
        }
    return _("Session %(n)s is now %(status)s.") % {
        "n": place,
        "status": appointment.status_phrase,
    }


def booked_sessions_from(session: TreatmentSession) -> list[TreatmentSession]:
    return list(
        session.plan.sessions.filter(
            number__gte=session.number, appointment__status=Appointment.Status.BOOKED
        )
        .select_related("appointment__practitioner__user", "appointment__room")
        .order_by("number")
    )


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
    old_local = timezone.localtime(appointment.start).replace(tzinfo=None)
    delta = timezone.localtime(start).replace(tzinfo=None) - old_local
    moving = [session]
    if scope == Scope.FOLLOWING:
        moving = booked_sessions_from(session)
    moves = []
    for s in moving:
        new_start = (
            start
            if s.pk == session.pk
            else shift_wall_clock(s.appointment.start, delta)
        )
        moves.append(
            PlannedMove(
                session=s,
                start=new_start,
                # Each session keeps its own length.
                end=new_start + (s.appointment.end - s.appointment.start),
                practitioner=s.appointment.practitioner,
                room=room
                if (room is not None and s.pk == session.pk)
                else s.appointment.room,
            )
        )
    starts = _starts_after(plan, moves)
    places = {number: place for place, (number, _) in enumerate(starts, start=1)}
    for move in moves:
        move.position = places.get(move.session.number, 0)
    slots = [
        booking.Slot(start=m.start, end=m.end, practitioner=m.practitioner, room=m.room)
        for m in moves
    ]
    availability = booking.availability_for(
        slots, exclude_ids=[m.session.appointment_id for m in moves]
    )
    problems = []
    if all(
        (m.start, m.room.pk)
        == (m.session.appointment.start, m.session.appointment.room_id)
        for m in moves
    ):
        problems.append(str(booking.NOTHING_CHANGES))
    for move, slot in zip(moves, slots, strict=True):
        found = availability.problems(
            start=slot.start,
            end=slot.end,
            practitioner=slot.practitioner,
            room=slot.room,
            now=now,
        )
        problems += [
            _("Session %(n)s: %(why)s") % {"n": move.position, "why": p.message}
            for p in found
        ]
        booking.hold(availability, slot)
    shifting = [
        (m, slot)
        for m, slot in zip(moves, slots, strict=True)
        if (m.start, m.room.pk)
        != (m.session.appointment.start, m.session.appointment.room_id)
    ]
    try:
        booking.check_patients_free(
            [(plan.patient_id, slot) for _m, slot in shifting],
            exclude_ids=[m.session.appointment_id for m, _slot in shifting],
            lock=False,
        )
    except booking.BookingError as error:
        problems += [
            _("Session %(n)s: %(why)s")
            % {"n": shifting[error.index][0].position, "why": message}
            for message in error.messages
        ]
    problems += _order_problems(starts, moves, places)
    too_close, too_far, unsafe = _spacing_after(plan, starts, moves, places)
    # Closer than the skin needs to heal: no manager's reason books it.
    problems += unsafe
    return MovePreview(
        moves=moves, problems=problems, too_close=too_close, too_far=too_far
    )


def _starts_after(
    plan: TreatmentPlan, moves: list[PlannedMove]
) -> list[tuple[int, datetime]]:
    """(number, start) of each live session once the moves are made, by number."""
    moved = {m.session.pk: m.start for m in moves}
    return sorted(
        (s.number, moved.get(s.pk, s.appointment.start))
        for s in plan.sessions.select_related("appointment")
        if s.appointment.status in Appointment.ACTIVE_STATUSES
    )


def _order_problems(
    starts: list[tuple[int, datetime]],
    moves: list[PlannedMove],
    places: dict[int, int],
) -> list[str]:
    """Sessions keep their order: session 3 never comes before session 2."""
    moved_numbers = {m.session.number for m in moves}
    return [
        _(
            "Session %(later)s would not come after session %(earlier)s: pick "
            "another date, or move the sessions after it too."
        )
        % {"later": places[later], "earlier": places[earlier]}
        for (earlier, before), (later, after) in pairwise(starts)
        if after <= before and moved_numbers & {earlier, later}
    ]


def _spacing_after(
    plan: TreatmentPlan,
    starts: list[tuple[int, datetime]],
    moves: list[PlannedMove],
    places: dict[int, int],
) -> tuple[list[str], list[str], list[str]]:
    """Spacing warnings for the whole course once the moves are made: closer
    than the window (a manager may allow it), further apart, and closer than
    the skin needs to heal (no one may). A gap the moves leave as it was (two
    sessions moved together) is not asked about again."""
    window = window_for(plan)
    moved_numbers = {m.session.number for m in moves}
    # Where each session is before the moves: where it goes, unless it moves.
    was_at = {m.session.number: m.session.appointment.start for m in moves}
    now_at = {number: was_at.get(number, start) for number, start in starts}
    too_close, too_far, unsafe = [], [], []
    for (earlier, before), (number, after) in pairwise(starts):
        if number not in moved_numbers and earlier not in moved_numbers:
            continue
        if after <= before:
            continue  # Out of order: _order_problems() says so.
        days = (timezone.localdate(after) - timezone.localdate(before)).days
        was = timezone.localdate(now_at[number]) - timezone.localdate(now_at[earlier])
        if days == was.days:
            continue
        text = ngettext(
            "Session %(n)s would be %(days)s day after the one before it",
            "Session %(n)s would be %(days)s days after the one before it",
            days,
        ) % {"n": places[number], "days": days}
        if too_soon := too_soon_to_heal(days):
            unsafe.append(f"{text}: {too_soon}")
        elif days < window.minimum:
            too_close.append(f"{text} (minimum {window.minimum}).")
        elif days > window.maximum:
            too_far.append(f"{text} (longest {window.maximum}).")
    return too_close, too_far, unsafe


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
    seen: str | None = None,
) -> MovePreview:
    """Move one session, or it and all booked sessions after it, keeping spacing.

    Spacing outside the window needs ``confirmed``; below the minimum it also
    needs a manager's ``override_reason``. ``seen`` (sessions_seen() of the
    page that asks: "and all following" moves the later sessions too) refuses a
    move asked for from a page opened before another change.
    """
    plan, session = _lock_as_seen(
        session,
        seen,
        stamp=sessions_seen,
        refusal=_(
            "Someone changed this session, or one after it, while your page "
            "was open (a colleague, or this form sent twice), so this move was "
            "not made: move it again if it is still needed."
        ),
    )
    if session.appointment.status != Appointment.Status.BOOKED:
        raise PlanError(
            _("This session is %(status)s and can't be moved.")
            % {"status": session.appointment.status_phrase}
        )
    if session.appointment.end <= (now or timezone.now()):
        raise PlanError(
            str(OVER_NOT_MOVED % {"when": when_text(session.appointment.start)})
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
    shifts = {
        m.session.pk: _wall(m.start) - _wall(m.session.appointment.start)
        for m in preview.moves
    }
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
            why=override_reason.strip() if preview.too_close else "",
        )
    except booking.BookingError as error:
        raise PlanError(
            _("The move can't be made."), messages=error.messages
        ) from error
    _drafts_follow(shifts)
    return preview


def _wall(moment: datetime) -> datetime:
    return timezone.localtime(moment).replace(tzinfo=None)


def _drafts_follow(shifts: dict[int, timedelta]) -> None:
    """A draft record's times (filled in from the booking, or typed ahead) move
    with its session: left behind, they would lie too far from the booking for
    the draft to be saved or signed again."""
    drafts = SessionRecord.objects.select_for_update().filter(
        session_id__in=shifts, signed_at__isnull=True
    )
    for record in drafts:
        shift = shifts[record.session_id]
        changed = [
            name
            for name in ("started_at", "ended_at")
            if getattr(record, name) is not None
        ]
        for name in changed:
            setattr(record, name, shift_wall_clock(getattr(record, name), shift))
        if changed and shift:
            record.save(update_fields=[*changed, "updated_at"])


@transaction.atomic
def change_resources_from(
    *,
    session: TreatmentSession,
    practitioner: Practitioner,
    room: Room,
    by: AbstractBaseUser,
    now: datetime | None = None,
    seen: str | None = None,
) -> list[TreatmentSession]:
    """Give session N and every booked session after it another practitioner or room.

    ``seen`` (sessions_seen() of the page that asks) refuses a change asked for
    from a page opened before another."""
    plan = TreatmentPlan.objects.select_for_update().get(pk=session.plan_id)
    if not plan.is_open:
        raise PlanEnded()
    sessions = booked_sessions_from(session)
    if seen is not None and seen != appointments_seen(s.appointment for s in sessions):
        raise StalePlan(
            _(
                "Someone changed these sessions while your page was open (a "
                "colleague, or this form sent twice), so nothing was changed. The "
                "page now shows them as they are: change them again if it is "
                "still needed."
            )
        )
    if not sessions:
        raise PlanError(_("There is no booked session from here on to change."))
    if all(
        (s.appointment.practitioner_id, s.appointment.room_id)
        == (practitioner.pk, room.pk)
        for s in sessions
    ):
        raise PlanError(
            _(
                "The sessions from here on are with %(practitioner)s in %(room)s "
                "already: nothing changes."
            )
            % {"practitioner": practitioner, "room": room}
        )
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
        which = (
            _("The session of %(when)s can't be changed.")
            % {"when": when_text(sessions[error.index].appointment.start)}
            if error.index is not None
            else _("A session can't be changed.")
        )
        raise PlanError(which, messages=error.messages) from error
    earlier_booked = plan.sessions.filter(
        number__lt=session.number, appointment__status=Appointment.Status.BOOKED
    ).exists()
    # The plan's practitioner is whoever has all of its upcoming sessions.
    if plan.practitioner_id != practitioner.pk and not earlier_booked:
        plan.practitioner = practitioner
        plan.save(update_fields=["practitioner", "updated_at"])
    return sessions


def gap_left_by_cancelling(session: TreatmentSession) -> str:
    """What cancelling the session does to the course's spacing, in words ("" when
    the sessions either side stay inside the window): a replacement goes at the
    end and leaves the gap where it is (one query)."""
    live = [
        s
        for s in session.plan.sessions.select_related("appointment").order_by(
            "appointment__start"
        )
        if s.appointment.status in Appointment.ACTIVE_STATUSES and s.pk != session.pk
    ]
    start = session.appointment.start
    before = [s for s in live if s.appointment.start < start]
    after = [s for s in live if s.appointment.start > start]
    if not before or not after:
        return ""
    first, then = before[-1].appointment.start, after[0].appointment.start
    days = (timezone.localdate(then) - timezone.localdate(first)).days
    longest = window_for(session.plan).maximum
    if days <= longest:
        return ""
    return _(
        "If cancelled, it leaves %(days)s days between the sessions of %(first)s and "
        "%(then)s, longer than the %(longest)s days apart the plan allows (a "
        "replacement goes at the end of the course). To keep the course on "
        "track, move this session instead."
    ) % {
        "days": days,
        "first": when_text(first),
        "then": when_text(then),
        "longest": longest,
    }


@transaction.atomic
def cancel_session(
    *,
    session: TreatmentSession,
    reason: str,
    by: AbstractBaseUser,
    replace: bool = False,
    now: datetime | None = None,
    seen: str | None = None,
) -> TreatmentSession | None:
    """Cancel one session; with ``replace``, book one more at the end of the course,
    with the practitioner of the course's last session.

    Returns the replacement session, if any. If no slot for the replacement is
    free inside the spacing window, nothing is changed. ``seen`` (session_seen()
    of the page that asks) refuses a cancellation asked for from a page opened
    before the session was moved or changed.
    """
    now = now or timezone.now()
    plan, session = _lock_as_seen(
        session,
        seen,
        refusal=_(
            "Someone changed this session while your page was open, so it was "
            "not cancelled: cancel it again if that is still needed."
        ),
    )
    try:
        booking.cancel_appointment(
            appointment=session.appointment, by=by, reason=reason, now=now
        )
    except booking.BookingError as error:
        raise PlanError(error.messages[0], messages=error.messages[1:]) from error
    if not replace:
        return None
    # The replacement follows the course's last session, with the practitioner
    # of its last booked one (sessions from one on may have changed hands), or,
    # when that one no longer takes bookings, the cancelled session's.
    latest = last_live_session(plan)
    practitioner = practitioner_to_follow(
        plan, latest, fallback=session.appointment.practitioner
    )
    cancelled = session.appointment
    if latest is None:
        first_start = shift_wall_clock(
            cancelled.start, timedelta(days=plan.spacing_days)
        )
    else:
        # Spaced from the course's last session, at its time of day; never on
        # the cancelled session's day (the patient can't come then), so a
        # cancelled last session is replaced a day after it at the soonest,
        # inside the window while one is free.
        first_start = shift_wall_clock(latest.start, timedelta(days=plan.spacing_days))
        day_after = shift_wall_clock(cancelled.start, timedelta(days=1))
        if latest.start < cancelled.start and first_start < day_after:
            first_start = day_after
    # In the room the course goes on in (or the cancelled session's, when none
    # is still to come), when it is free then; else in any.
    course_room = room_to_follow(plan, latest)
    if course_room is None and cancelled.room.is_active:
        course_room = cancelled.room
    rooms = [course_room, None]
    for room in dict.fromkeys(rooms):
        proposals = propose_for_plan(
            plan=plan,
            request=SeriesRequest(
                first_start=first_start,
                practitioner=practitioner,
                room=room,
                chosen={},
            ),
            count=1,
            now=now,
        )
        if proposals[0].is_bookable and proposals[0].state != State.MOVED:
            break
    if not proposals[0].is_bookable:
        raise PlanError(
            _(
                "There is no free slot for a replacement near %(when)s. Cancel "
                "without a replacement and book it later from the plan."
            )
            % {"when": when_text(first_start)},
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
