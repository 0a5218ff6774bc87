"""Proposing and booking a whole series of sessions, all or nothing."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinic import services as booking
from clinic.models import (
    Appointment,
    ClosureDay,
    OpeningHours,
    Practitioner,
    Room,
    TimeOff,
    WorkingHours,
    local_midnight,
)
from clinic.scheduling import (
    Availability,
    RoomsNotLoaded,
    away_all_working_hours,
    when_text,
)
from clinic.services.consultations import consultation_held_at
from plans.models import TreatmentPlan, TreatmentSession
from plans.scheduling import Proposal, propose_series
from plans.services.lifecycle import (
    PlanEnded,
    PlanError,
    _can_override,
    too_soon_to_heal,
    unbooked_count,
    why_on_hold,
    window_for,
)

if TYPE_CHECKING:
    from plans.services.changes import PlannedMove

logger = logging.getLogger(__name__)


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


def _sessions_of(
    plan: TreatmentPlan, statuses: tuple = Appointment.ACTIVE_STATUSES
) -> QuerySet[Appointment]:
    """The appointments of the plan's sessions in ``statuses`` (booked or done,
    unless told)."""
    return Appointment.objects.filter(treatment_session__plan=plan, status__in=statuses)


def _latest_of(plan: TreatmentPlan, statuses: tuple) -> Appointment | None:
    return (
        _sessions_of(plan, statuses)
        .select_related("practitioner__user")
        .order_by("-start")
        .first()
    )


def last_live_start(plan: TreatmentPlan) -> datetime | None:
    return _sessions_of(plan).order_by("-start").values_list("start", flat=True).first()


def live_appointments(plan: TreatmentPlan) -> list[Appointment]:
    """The course's sessions booked or done, in order, with their practitioners
    (one query)."""
    return list(
        _sessions_of(plan).select_related("practitioner__user").order_by("start", "pk")
    )


def course_seen(plan: TreatmentPlan, live: list[Appointment]) -> str:
    """The version of the course (its live_appointments(), and what its protocol
    says of a session's length and spacing) that the booking page proposes
    after: a change since brings a fresh proposal."""
    protocol = plan.protocol
    rules = (
        f"{protocol.session_minutes}/{protocol.min_spacing_days}/"
        f"{protocol.max_spacing_days}"
    )
    return f"{rules}|{booking.appointments_seen(live)}"


def last_live_session(plan: TreatmentPlan) -> Appointment | None:
    """The course's latest session booked or done, with its practitioner."""
    return _latest_of(plan, Appointment.ACTIVE_STATUSES)


def practitioner_to_follow(
    plan: TreatmentPlan,
    last: Appointment | None,
    *,
    fallback: Practitioner | None = None,
) -> Practitioner:
    """Who the course's next sessions go with: the practitioner of its latest
    session still to come (sessions from one on may have changed hands) while
    they take bookings; else ``fallback``, else the plan's practitioner.

    ``last`` is last_live_session(): when it is still to come it is the one
    (no query); when it was done, the latest to come is looked up. A session
    done says whom the course was with, not whom it goes on with."""
    if last is not None and last.status not in Appointment.OPEN_STATUSES:
        last = _latest_of(plan, Appointment.OPEN_STATUSES)
    if last is not None and last.practitioner.is_active:
        return last.practitioner
    return fallback or plan.practitioner


def room_to_follow(plan: TreatmentPlan, last: Appointment | None) -> Room | None:
    """The room the course's next sessions go on in: that of its latest session
    still to come while the room is in use (sessions from one on may have moved
    rooms), else None (any free room). ``last`` as for practitioner_to_follow()."""
    if last is not None and last.status not in Appointment.OPEN_STATUSES:
        last = _latest_of(plan, Appointment.OPEN_STATUSES)
    if last is not None and last.room.is_active:
        return last.room
    return None


def _live_sessions(plan: TreatmentPlan) -> tuple[int, datetime | None]:
    """How many of the plan's sessions are booked or done, and the last one's
    start (one query: unbooked_count() and last_live_start() together)."""
    live = _sessions_of(plan).aggregate(count=Count("pk"), last=Max("start"))
    return live["count"], live["last"]


def next_working_day(
    practitioner: Practitioner, day: date, *, within: int = 14
) -> date:
    """``day``, or the first day after it within ``within`` days when the clinic
    is open and the practitioner works, not away for all their hours (four
    queries): where a first session is best proposed. ``day`` itself when there
    is none."""
    open_days = set(OpeningHours.objects.values_list("weekday", flat=True))
    blocks: dict[int, list[tuple[time, time]]] = {}
    for weekday, start, end in WorkingHours.objects.filter(
        practitioner=practitioner, weekday__in=open_days
    ).values_list("weekday", "start", "end"):
        blocks.setdefault(weekday, []).append((start, end))
    last = day + timedelta(days=within)
    closed = set(
        ClosureDay.objects.filter(date__gte=day, date__lt=last).values_list(
            "date", flat=True
        )
    )
    away = list(
        TimeOff.objects.filter(
            practitioner=practitioner,
            start__lt=local_midnight(last),
            end__gt=local_midnight(day),
        ).values_list("start", "end")
    )
    tz = timezone.get_current_timezone()
    for offset in range(within):
        candidate = day + timedelta(days=offset)
        hours = blocks.get(candidate.weekday(), [])
        if (
            hours
            and candidate not in closed
            and not away_all_working_hours(candidate, hours, away, tz)
        ):
            return candidate
    return day


def propose_for_plan(
    *,
    plan: TreatmentPlan,
    request: SeriesRequest,
    count: int | None = None,
    now: datetime | None = None,
) -> list[Proposal]:
    """Propose the plan's unbooked sessions (a fixed number of queries)."""
    now = now or timezone.now()
    if count is None:
        live, previous = _live_sessions(plan)
        count = max(plan.planned_sessions - live, 0)
    else:
        previous = last_live_start(plan)
    if count == 0:
        return []
    window = window_for(plan)
    rooms = _rooms(request.room)
    if not rooms:
        raise PlanError(_("No room is in use: add one under Settings."))
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
        start=start,
        end=end,
        practitioner_ids=[request.practitioner.pk],
        room_ids=[],
        patient_id=plan.patient_id,
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
        raise PlanEnded(_("This plan has ended; no more sessions can be booked."))
    if not plan.has_consent:
        raise PlanError(
            _("Record the patient's consent to this plan before booking sessions.")
        )
    on_hold = why_on_hold(plan)
    if on_hold:
        raise PlanError(on_hold)
    if not proposals:
        raise PlanError(_("There is nothing to book."))
    unbooked = unbooked_count(plan)
    if unbooked == 0:
        raise PlanError(
            _(
                "Every session of this plan is booked already (from another page or "
                "desk, a moment ago): nothing more was booked."
            )
        )
    if len(proposals) > unbooked:
        raise PlanError(
            ngettext(
                "This plan has only %(n)s unbooked session left: someone may have "
                "booked the others meanwhile. Reload the plan.",
                "This plan has only %(n)s unbooked sessions left: someone may have "
                "booked the others meanwhile. Reload the plan.",
                unbooked,
            )
            % {"n": unbooked}
        )
    # The proposals' places in the course, as the plan page counts them.
    first = plan.planned_sessions - unbooked + 1
    # Checked again under the plan's lock: the sessions booked meanwhile count.
    previous = last_live_start(plan)
    for proposal in proposals:
        out_of_order = previous is not None and proposal.start <= previous
        previous = proposal.start
        if out_of_order or proposal.out_of_order:
            raise PlanError(
                _(
                    "Session %(n)s is not after the session before it: keep the "
                    "sessions in date order."
                )
                % {"n": first + proposal.index}
            )
        if not proposal.is_bookable:
            raise PlanError(
                _("Session %(n)s (%(when)s) can't be booked any more.")
                % {"n": first + proposal.index, "when": when_text(proposal.start)},
                messages=proposal.reasons,
            )
        too_soon = (
            too_soon_to_heal(proposal.spacing_days)
            if proposal.spacing_below_minimum
            else ""
        )
        if too_soon:
            raise PlanError(
                ngettext(
                    "Session %(n)s would be only %(days)s day after the previous "
                    "one: %(why)s",
                    "Session %(n)s would be only %(days)s days after the previous "
                    "one: %(why)s",
                    proposal.spacing_days,
                )
                % {
                    "n": first + proposal.index,
                    "days": proposal.spacing_days,
                    "why": too_soon,
                }
            )
        if proposal.spacing_below_minimum and not (
            override_reason.strip() and _can_override(by)
        ):
            raise PlanError(
                ngettext(
                    "Session %(n)s would be only %(days)s day after the previous "
                    "one; the minimum is %(min)s. A manager can allow it with a "
                    "reason.",
                    "Session %(n)s would be only %(days)s days after the previous "
                    "one; the minimum is %(min)s. A manager can allow it with a "
                    "reason.",
                    proposal.spacing_days,
                )
                % {
                    "n": first + proposal.index,
                    "days": proposal.spacing_days,
                    "min": window_for(plan).minimum,
                }
            )
    too_close = [
        ngettext(
            "Session %(n)s: %(days)s day after the one before.",
            "Session %(n)s: %(days)s days after the one before.",
            p.spacing_days,
        )
        % {"n": first + p.index, "days": p.spacing_days}
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
                "n": first + proposals[index].index,
                "when": when_text(proposals[index].start),
            }
            if index is not None
            else _("A session can't be booked any more.")
        )
        raise PlanError(which, messages=error.messages) from error
    next_number = max(plan.sessions.values_list("number", flat=True), default=0) + 1
    # What is booked takes the place of sessions lost without a replacement,
    # oldest first: the work lists then stop calling them unreplaced.
    replaced = (
        [replaces]
        if replaces is not None
        else list(
            plan.sessions.filter(
                appointment__status__in=Appointment.LOST_STATUSES,
                replacement__isnull=True,
            ).order_by("number")
        )
    )
    sessions = []
    for offset, appointment in enumerate(appointments):
        sessions.append(
            TreatmentSession.objects.create(
                plan=plan,
                appointment=appointment,
                number=next_number + offset,
                replaces=replaced[offset] if offset < len(replaced) else None,
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
    plan.spacing_notes = "\n".join(filter(None, [plan.spacing_notes, note]))
    plan.save(update_fields=["spacing_notes", "updated_at"])


# Patients stop a topical skin medication this many days before each session.
MEDICATION_STOP_DAYS = 3


def stops_medication_too_late(
    plan: TreatmentPlan,
    proposals: Sequence["Proposal | PlannedMove"],
    *,
    now: datetime,
) -> bool:
    """The consultation in force for the first proposed (or moved) session
    (the patient's latest decided one by then, as the pre-care email follows)
    has the patient stop a skin medication before sessions (which one is the
    practitioners' to see), and that session leaves less time than that."""
    if not proposals:
        return False
    first = min(p.start for p in proposals)
    if first - now >= timedelta(days=MEDICATION_STOP_DAYS):
        return False
    consultation = consultation_held_at(plan.patient_id, first) or plan.consultation
    return bool(consultation.topical_medication)
