"""The series engine: propose every session of a treatment course.

Pure functions over a calendar snapshot (``clinic.scheduling.Availability``), so
proposing ten sessions costs the snapshot's few queries and nothing per session.

Each session goes at the plan's spacing after the previous one, at the series'
local wall-clock time (10:00 stays 10:00 across a clock change). When that slot
is taken or outside hours, the nearest free slot that keeps the spacing inside
the protocol's window is proposed instead, never closer than the minimum. When
there is none, the session is flagged "no slot in window".
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinic.models import Practitioner, Room
from clinic.scheduling import Availability, Problem, local_datetime

STEP = timedelta(minutes=15)
FIRST_SESSION_SEARCH_DAYS = 7


class State:
    AS_PLANNED = "as_planned"
    MOVED = "moved"
    NO_SLOT = "no_slot"
    CHOSEN = "chosen"


@dataclass(frozen=True)
class Window:
    """Spacing between sessions, in days."""

    target: int
    minimum: int
    maximum: int

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.target <= self.maximum:
            raise ValueError("The target spacing must lie inside the window.")


@dataclass
class Proposal:
    index: int
    start: datetime
    end: datetime
    room: Room
    ideal_start: datetime
    state: str
    reasons: list[str] = field(default_factory=list)
    spacing_days: int | None = None
    spacing_flag: str = ""
    # On or before the session before it: sessions are numbered in date order.
    out_of_order: bool = False

    @property
    def shift(self) -> timedelta:
        return self.start - self.ideal_start

    @property
    def is_bookable(self) -> bool:
        return (
            self.state != State.NO_SLOT
            and not self.out_of_order
            and not (self.state == State.CHOSEN and self.reasons)
        )

    @property
    def spacing_below_minimum(self) -> bool:
        return self.spacing_flag == "short"

    def describe_shift(self) -> str:
        minutes = int(self.shift.total_seconds() // 60)
        if minutes == 0:
            return ""
        days, rest = divmod(abs(minutes), 24 * 60)
        hours, mins = divmod(rest, 60)
        parts = []
        if days:
            parts.append(ngettext("%(n)s day", "%(n)s days", days) % {"n": days})
        if hours:
            parts.append(_("%(n)s h") % {"n": hours})
        if mins:
            parts.append(_("%(n)s min") % {"n": mins})
        direction = _("later") if minutes > 0 else _("earlier")
        return f"{' '.join(parts)} {direction}"


def propose_series(
    *,
    first_start: datetime,
    count: int,
    window: Window,
    duration: timedelta,
    practitioner: Practitioner,
    rooms: Sequence[Room],
    availability: Availability,
    now: datetime,
    previous_start: datetime | None = None,
    chosen: dict[int, tuple[datetime, Room]] | None = None,
) -> list[Proposal]:
    """Propose ``count`` sessions, the first at ``first_start`` if it is free.

    ``previous_start`` is the last session already booked before these: the first
    proposal's spacing is measured from it. ``chosen`` maps an index to a start and
    room the front desk picked by hand: those are checked and kept as they are, and
    the sessions after them are spaced from them.
    """
    if count < 1:
        return []
    if not rooms:
        raise ValueError("At least one room is needed.")
    chosen = chosen or {}
    tz = availability.tz
    wanted_time = timezone.localtime(first_start, tz).time()
    proposals: list[Proposal] = []
    previous = previous_start
    for index in range(count):
        if index == 0:
            ideal = first_start
        else:
            ideal = _same_time_after(
                timezone.localtime(previous, tz).date(), window.target, wanted_time, tz
            )
        if index in chosen:
            start, room = chosen[index]
            proposal = _check_chosen(
                index, start, room, duration, practitioner, availability, now
            )
            proposal.ideal_start = ideal
        else:
            proposal = _propose_one(
                index,
                ideal,
                previous,
                window,
                duration,
                practitioner,
                rooms,
                availability,
                now,
            )
        if previous is not None and proposal.start <= previous:
            proposal.out_of_order = True
            proposal.reasons.append(
                _(
                    "This is not after the session before it: keep the sessions "
                    "in date order."
                )
            )
        if previous is not None:
            proposal.spacing_days = (
                timezone.localtime(proposal.start, tz).date()
                - timezone.localtime(previous, tz).date()
            ).days
            if proposal.spacing_days < window.minimum:
                proposal.spacing_flag = "short"
            elif proposal.spacing_days > window.maximum:
                proposal.spacing_flag = "long"
        availability.hold(
            start=proposal.start,
            end=proposal.end,
            practitioner_id=practitioner.pk,
            room_id=proposal.room.pk,
            description=_("session %(n)s of this series") % {"n": index + 1},
        )
        proposals.append(proposal)
        previous = proposal.start
    return proposals


def _same_time_after(day: date, days: int, at: time, tz) -> datetime:
    target_day = day + timedelta(days=days)
    try:
        return local_datetime(target_day, at, tz)
    except ValueError:
        # The wall-clock time doesn't exist that day (clocks go forward): the
        # hours check refuses it and the search picks another time.
        return datetime.combine(target_day, at, tz)


def _end(start: datetime, duration: timedelta) -> datetime:
    # Elapsed time: a session across a clock change still lasts its length.
    return timezone.localtime(start.astimezone(UTC) + duration, start.tzinfo)


def _free_room(
    start: datetime,
    duration: timedelta,
    practitioner: Practitioner,
    rooms: Sequence[Room],
    availability: Availability,
    now: datetime,
) -> tuple[Room | None, list[Problem]]:
    """The first room in which the slot is free, or why not: the practitioner's
    problems when they can't take it in any room, else the first room's."""
    end = _end(start, duration)
    # Checked first: on a busy calendar most candidate slots fail here, and the
    # rooms' bookings need only be known where the practitioner is free.
    blocking = availability.practitioner_problems(
        start=start, end=end, practitioner=practitioner, now=now
    )
    if blocking:
        return None, blocking
    by_room: list[list[Problem]] = []
    for room in rooms:
        problems = availability.problems(
            start=start, end=end, practitioner=practitioner, room=room, now=now
        )
        if not problems:
            return room, []
        by_room.append(problems)
    if len(by_room) < 2:
        return None, by_room[0] if by_room else []
    # "Any free room": why not in each of them, not only in the first.
    return None, [
        Problem(
            code="no_room",
            text=lambda: (
                _("No room is free then: %(why)s")
                % {
                    "why": "; ".join(
                        problems[0].message.rstrip(".") for problems in by_room
                    )
                    + "."
                }
            ),
        )
    ]


def _check_chosen(
    index: int,
    start: datetime,
    room: Room,
    duration: timedelta,
    practitioner: Practitioner,
    availability: Availability,
    now: datetime,
) -> Proposal:
    end = _end(start, duration)
    problems = availability.problems(
        start=start, end=end, practitioner=practitioner, room=room, now=now
    )
    return Proposal(
        index=index,
        start=start,
        end=end,
        room=room,
        ideal_start=start,
        state=State.CHOSEN,
        reasons=[p.message for p in problems],
    )


def _propose_one(
    index: int,
    ideal: datetime,
    previous: datetime | None,
    window: Window,
    duration: timedelta,
    practitioner: Practitioner,
    rooms: Sequence[Room],
    availability: Availability,
    now: datetime,
) -> Proposal:
    room, problems = _free_room(ideal, duration, practitioner, rooms, availability, now)
    if room is not None:
        return Proposal(
            index=index,
            start=ideal,
            end=_end(ideal, duration),
            room=room,
            ideal_start=ideal,
            state=State.AS_PLANNED,
        )
    reasons = [p.message for p in problems]
    tz = availability.tz
    wanted_time = timezone.localtime(ideal, tz).time()
    for day in _candidate_days(ideal, previous, window, tz, first=index == 0):
        # Only starts inside the practitioner's free time that day are checked
        # in full: on a booked-up calendar most days have little or none.
        free = availability.free_on(
            practitioner=practitioner, day=day, duration=duration
        )
        if not free:
            continue
        for start in _candidate_starts(
            day, wanted_time, duration, practitioner, availability
        ):
            if not _inside(free, start, start + duration):
                continue
            room, _problems = _free_room(
                start, duration, practitioner, rooms, availability, now
            )
            if room is not None:
                return Proposal(
                    index=index,
                    start=start,
                    end=_end(start, duration),
                    room=room,
                    ideal_start=ideal,
                    state=State.MOVED,
                    reasons=reasons,
                )
    return Proposal(
        index=index,
        start=ideal,
        end=_end(ideal, duration),
        room=rooms[0],
        ideal_start=ideal,
        state=State.NO_SLOT,
        reasons=reasons,
    )


def _inside(
    windows: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> bool:
    return any(low <= start and end <= high for low, high in windows)


def _candidate_days(
    ideal: datetime, previous: datetime | None, window: Window, tz, *, first: bool
) -> list[date]:
    """Days to search, nearest to the ideal day first (ties: the later day).

    The first session is searched for from the day the front desk asked for,
    onwards; later sessions inside the spacing window after the one before.
    Never closer than the minimum to an earlier session.
    """
    ideal_day = timezone.localtime(ideal, tz).date()
    previous_day = timezone.localtime(previous, tz).date() if previous else None
    if first:
        start_day = ideal_day
        last_day = ideal_day + timedelta(days=FIRST_SESSION_SEARCH_DAYS)
        if previous_day is not None:
            start_day = max(start_day, previous_day + timedelta(days=window.minimum))
            last_day = max(
                start_day + timedelta(days=FIRST_SESSION_SEARCH_DAYS),
                previous_day + timedelta(days=window.maximum),
            )
        return [
            start_day + timedelta(days=n)
            for n in range((last_day - start_day).days + 1)
        ]
    offsets = range(window.minimum, window.maximum + 1)
    days = [previous_day + timedelta(days=n) for n in offsets]
    return sorted(
        days, key=lambda d: (abs((d - ideal_day).days), -(d - ideal_day).days)
    )


def _candidate_starts(
    day: date,
    wanted: time,
    duration: timedelta,
    practitioner: Practitioner,
    availability: Availability,
) -> list[datetime]:
    """Starts on ``day`` inside opening and working hours, nearest to ``wanted``."""
    starts: set[datetime] = set()
    tz = availability.tz
    for block_start, block_end in availability.hours_of(practitioner, day):
        cursor = datetime.combine(day, block_start)
        last = datetime.combine(day, block_end) - duration
        while cursor <= last:
            try:
                starts.add(local_datetime(day, cursor.time(), tz))
            except ValueError:
                pass
            cursor += STEP
    wanted_minutes = wanted.hour * 60 + wanted.minute

    def distance(start: datetime) -> tuple[int, int]:
        local = timezone.localtime(start, tz)
        minutes = local.hour * 60 + local.minute
        return (abs(minutes - wanted_minutes), minutes)

    return sorted(starts, key=distance)
