"""Calendar rules: when may an appointment take place?

``Availability`` is a snapshot of everything that decides it (opening hours,
closure days, working hours, time off and the active bookings) for one window of
time, loaded in a fixed number of queries. Its ``problems()`` method is pure, so
checking one slot or a hundred candidate slots of a series costs no more queries.
"""

from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from django.db import connection
from django.db.models import Q
from django.db.models.query import RawQuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from clinic.models import (
    Appointment,
    ClosureDay,
    OpeningHours,
    Patient,
    Practitioner,
    Room,
    TimeOff,
    WorkingHours,
)

BOOKED_FIELDS = (
    "id",
    "practitioner_id",
    "room_id",
    "start",
    "end",
    "kind",
    "patient__first_name",
    "patient__last_name",
)
# The rooms' bookings are read for at most this many time windows in one query
# (neighbouring windows are joined beyond it).
MAX_ROOM_WINDOWS = 200
# An appointment starts and ends on one day: midnight to midnight is its longest,
# 25 hours on the night the clocks go back.
LONGEST_APPOINTMENT = timedelta(hours=25)
CLOCK_CHANGE = timedelta(hours=1)


class RoomsNotLoaded(LookupError):
    """The snapshot holds no bookings of that room at that time."""


@dataclass(frozen=True)
class Problem:
    """Why a slot can't be booked. Hours problems may be overridden by a manager.

    ``text`` may be a function that writes the message: the series engine checks
    thousands of candidate slots and reads the words of very few.
    """

    code: str
    text: str | Callable[[], str]
    overridable: bool = False

    @property
    def message(self) -> str:
        return self.text() if callable(self.text) else self.text


@dataclass(frozen=True)
class Booked:
    id: int
    practitioner_id: int
    room_id: int
    start: datetime
    end: datetime
    label: str = ""  # what it is, when it isn't an appointment in the database
    kind: str = ""
    patient: str = ""

    @property
    def description(self) -> str:
        # Built only when a clash is reported: a year of bookings loads fast.
        if self.label:
            return self.label
        return _("%(kind)s with %(patient)s") % {
            "kind": Appointment.Kind(self.kind).label.lower(),
            "patient": self.patient,
        }


@dataclass
class Availability:
    tz: tzinfo
    opening_hours: dict[int, list[tuple[time, time]]] = field(default_factory=dict)
    closures: dict[date, str] = field(default_factory=dict)
    working_hours: dict[int, dict[int, list[tuple[time, time]]]] = field(
        default_factory=dict
    )
    time_off: dict[int, list[tuple[datetime, datetime, str]]] = field(
        default_factory=dict
    )
    by_practitioner: dict[int, list[Booked]] = field(default_factory=dict)
    by_room: dict[int, list[Booked]] = field(default_factory=dict)
    # None: the rooms' bookings are loaded for the whole snapshot. Otherwise only
    # those of ``loaded_rooms`` inside these (start, end) windows: see load_rooms().
    room_windows: list[tuple[datetime, datetime]] | None = None
    loaded_rooms: frozenset[int] = frozenset()

    @classmethod
    def load(
        cls,
        *,
        start: datetime,
        end: datetime,
        practitioner_ids: Iterable[int] | None = None,
        room_ids: Iterable[int] | None = None,
        exclude_ids: Iterable[int] = (),
    ) -> "Availability":
        """Load the calendar between ``start`` and ``end`` (five queries).

        ``None`` for practitioners or rooms means all of them; an empty list of
        rooms loads only the practitioners' bookings, and the rooms' come later
        through load_rooms(). ``exclude_ids`` leaves out appointments that are
        being moved.
        """
        tz = timezone.get_current_timezone()
        first_day = timezone.localtime(start, tz).date()
        last_day = timezone.localtime(end, tz).date()

        opening: dict[int, list[tuple[time, time]]] = defaultdict(list)
        for weekday, opens, closes in OpeningHours.objects.values_list(
            "weekday", "opens", "closes"
        ):
            opening[weekday].append((opens, closes))

        closures = dict(
            ClosureDay.objects.filter(date__range=(first_day, last_day)).values_list(
                "date", "reason"
            )
        )

        working = WorkingHours.objects.all()
        off = TimeOff.objects.filter(start__lt=end, end__gt=start)
        booked = (
            Appointment.objects.active()
            .overlapping(start, end)
            .exclude(id__in=list(exclude_ids))
            .order_by("start")
        )
        if practitioner_ids is not None:
            practitioner_ids = list(practitioner_ids)
            working = working.filter(practitioner_id__in=practitioner_ids)
            off = off.filter(practitioner_id__in=practitioner_ids)
        room_ids = None if room_ids is None else list(room_ids)
        rooms_later = room_ids == []
        if practitioner_ids is not None and rooms_later:
            booked = booked.filter(practitioner_id__in=practitioner_ids)
        elif practitioner_ids is not None and room_ids is not None:
            booked = booked.filter(
                Q(practitioner_id__in=practitioner_ids) | Q(room_id__in=room_ids)
            )

        hours: dict[int, dict[int, list[tuple[time, time]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for pid, weekday, wstart, wend in working.values_list(
            "practitioner_id", "weekday", "start", "end"
        ):
            hours[pid][weekday].append((wstart, wend))

        time_off: dict[int, list[tuple[datetime, datetime, str]]] = defaultdict(list)
        for pid, ostart, oend, reason in off.values_list(
            "practitioner_id", "start", "end", "reason"
        ):
            time_off[pid].append((ostart, oend, reason))

        availability = cls(
            tz=tz,
            opening_hours=dict(opening),
            closures=closures,
            working_hours={pid: dict(days) for pid, days in hours.items()},
            time_off=dict(time_off),
            room_windows=[] if rooms_later else None,
        )
        availability.add_bookings(
            Booked(
                pk,
                practitioner_id,
                room_id,
                b_start,
                b_end,
                "",
                kind,
                f"{first} {last}",
            )
            for pk, practitioner_id, room_id, b_start, b_end, kind, first, last in (
                booked.values_list(*BOOKED_FIELDS)
            )
        )
        return availability

    def load_rooms(
        self,
        *,
        room_ids: Iterable[int],
        windows: Iterable[tuple[datetime, datetime]],
        exclude_ids: Iterable[int] = (),
    ) -> None:
        """Load the rooms' bookings that overlap ``windows`` (one query), once,
        into a snapshot loaded with ``room_ids=[]``.

        After this, asking about another room, or a time outside the windows,
        raises ``RoomsNotLoaded`` rather than answering from missing bookings.
        """
        if self.room_windows is None or self.loaded_rooms:
            raise ValueError("Load rooms once, into a snapshot loaded without them.")
        room_ids = list(room_ids)
        merged = merge_windows(
            sorted(
                (start.astimezone(UTC), end.astimezone(UTC)) for start, end in windows
            ),
            limit=MAX_ROOM_WINDOWS,
        )
        if merged:
            # The practitioner's own bookings are in already.
            skip = {*exclude_ids}
            skip.update(
                b.id for listed in self.by_practitioner.values() for b in listed
            )
            self.add_bookings(
                Booked(
                    a.pk,
                    a.practitioner_id,
                    a.room_id,
                    a.start,
                    a.end,
                    "",
                    a.kind,
                    f"{a.first_name} {a.last_name}",
                )
                for a in _room_bookings(room_ids, merged)
                if a.pk not in skip
            )
        self.room_windows = merged
        self.loaded_rooms = frozenset(room_ids)

    def add_bookings(self, bookings: Iterable[Booked]) -> None:
        """Add bookings, keeping each practitioner's and room's list sorted."""
        for booking in bookings:
            for index, key in (
                (self.by_practitioner, booking.practitioner_id),
                (self.by_room, booking.room_id),
            ):
                listed = index.setdefault(key, [])
                if listed and listed[-1].start > booking.start:
                    insort(listed, booking, key=_start)
                else:
                    listed.append(booking)

    def free_windows(
        self,
        *,
        practitioner: Practitioner,
        start: datetime,
        end: datetime,
        duration: timedelta,
    ) -> list[tuple[datetime, datetime]]:
        """The stretches between ``start`` and ``end`` in which the practitioner
        could take an appointment of ``duration``: inside opening and working
        hours, on no closure day, between their bookings and time off."""
        busy = self.by_practitioner.get(practitioner.pk, [])
        time_off = self.time_off.get(practitioner.pk, [])
        windows = []
        day = timezone.localtime(start, self.tz).date()
        last_day = timezone.localtime(end, self.tz).date()
        while day <= last_day:
            # On a day the clocks change a wall-clock time may exist twice or
            # not at all: an hour more on each side.
            margin = CLOCK_CHANGE if _clock_changes(day, self.tz) else timedelta(0)
            for low, high in self.hours_of(practitioner, day):
                windows += self._gaps(
                    _wall_clock(day, low, self.tz) - margin,
                    _wall_clock(day, high, self.tz) + margin,
                    busy,
                    time_off,
                    duration,
                )
            day += timedelta(days=1)
        return windows

    def hours_of(
        self, practitioner: Practitioner, day: date
    ) -> list[tuple[time, time]]:
        """When the practitioner may be booked on ``day`` (wall clock): their
        working hours inside the opening hours, none on a closure day."""
        if day in self.closures:
            return []
        weekday = day.weekday()
        working = self.working_hours.get(practitioner.pk, {}).get(weekday, [])
        return [
            (max(opens, works), min(closes, stops))
            for opens, closes in self.opening_hours.get(weekday, [])
            for works, stops in working
            if max(opens, works) < min(closes, stops)
        ]

    @staticmethod
    def _gaps(
        start: datetime,
        end: datetime,
        busy: list[Booked],
        time_off: list[tuple[datetime, datetime, str]],
        duration: timedelta,
    ) -> list[tuple[datetime, datetime]]:
        taken = sorted(
            [(b.start, b.end) for b in _overlapping(busy, start, end)]
            + [(o_start, o_end) for o_start, o_end, _ in time_off if o_start < end]
        )
        gaps = []
        cursor = start
        for taken_start, taken_end in [*taken, (end, end)]:
            if taken_end <= cursor:
                continue
            gap_end = min(taken_start, end)
            if gap_end - cursor >= duration:
                gaps.append((cursor, gap_end))
            cursor = max(cursor, taken_end)
            if cursor >= end:
                break
        return gaps

    def hold(
        self,
        *,
        start: datetime,
        end: datetime,
        practitioner_id: int,
        room_id: int,
        description: str,
    ) -> None:
        """Count a slot as taken from now on (a proposal not yet in the database)."""
        self._held = getattr(self, "_held", 0) + 1
        self.add_bookings(
            [
                Booked(
                    id=-self._held,
                    practitioner_id=practitioner_id,
                    room_id=room_id,
                    start=start,
                    end=end,
                    label=description,
                )
            ]
        )

    def problems(
        self,
        *,
        start: datetime,
        end: datetime,
        practitioner: Practitioner,
        room: Room,
        now: datetime,
    ) -> list[Problem]:
        """Everything that stands against booking this slot, most serious first."""
        if end <= start:
            return [Problem("end_before_start", _("The end must be after the start."))]
        problems = self._timing_and_person(start, now, practitioner)
        if not room.is_active:
            problems.append(
                Problem("room_inactive", _("%(room)s is not in use.") % {"room": room})
            )
        problems += self.clashes(
            start=start, end=end, practitioner=practitioner, room=room
        )
        problems += self.hours_problems(start=start, end=end, practitioner=practitioner)
        return problems

    def practitioner_problems(
        self,
        *,
        start: datetime,
        end: datetime,
        practitioner: Practitioner,
        now: datetime,
    ) -> list[Problem]:
        """What stands against the slot whatever the room: when there is anything,
        no room can help. The series engine asks this first, and rooms only then."""
        if end <= start:
            return [Problem("end_before_start", _("The end must be after the start."))]
        return [
            *self._timing_and_person(start, now, practitioner),
            *self._practitioner_clashes(start, end, practitioner),
            *self.hours_problems(start=start, end=end, practitioner=practitioner),
        ]

    def _timing_and_person(
        self, start: datetime, now: datetime, practitioner: Practitioner
    ) -> list[Problem]:
        problems = []
        if start < now:
            problems.append(
                Problem("past", _("That time has already passed: pick a future time."))
            )
        if not practitioner.is_active:
            problems.append(
                Problem(
                    "practitioner_inactive",
                    _("%(name)s is not taking bookings.") % {"name": practitioner},
                )
            )
        return problems

    def clashes(
        self, *, start: datetime, end: datetime, practitioner: Practitioner, room: Room
    ) -> list[Problem]:
        return self._practitioner_clashes(start, end, practitioner) + (
            self._room_clashes(start, end, room)
        )

    def _practitioner_clashes(
        self, start: datetime, end: datetime, practitioner: Practitioner
    ) -> list[Problem]:
        problems = []
        for booked in _overlapping(
            self.by_practitioner.get(practitioner.pk, []), start, end
        ):
            problems.append(
                Problem(
                    "practitioner_clash",
                    lambda booked=booked: (
                        _("%(name)s is already booked %(when)s (%(what)s).")
                        % {
                            "name": practitioner,
                            "when": self.describe(booked.start, booked.end),
                            "what": booked.description,
                        }
                    ),
                )
            )
        return problems

    def _room_clashes(
        self, start: datetime, end: datetime, room: Room
    ) -> list[Problem]:
        if self.room_windows is not None and (
            room.pk not in self.loaded_rooms
            or not _covered(self.room_windows, start, end)
        ):
            raise RoomsNotLoaded(f"{room} is not loaded for {start} to {end}.")
        problems = []
        for booked in _overlapping(self.by_room.get(room.pk, []), start, end):
            problems.append(
                Problem(
                    "room_clash",
                    lambda booked=booked: (
                        _("%(room)s is already booked %(when)s (%(what)s).")
                        % {
                            "room": room,
                            "when": self.describe(booked.start, booked.end),
                            "what": booked.description,
                        }
                    ),
                )
            )
        return problems

    def hours_problems(
        self, *, start: datetime, end: datetime, practitioner: Practitioner
    ) -> list[Problem]:
        local_start = timezone.localtime(start, self.tz)
        local_end = timezone.localtime(end, self.tz)
        day = local_start.date()

        def weekday_name() -> str:
            return formats.date_format(local_start, "l")

        ends_at_midnight = local_end.time() == time(0) and local_end.date() == (
            day + timedelta(days=1)
        )
        if local_end.date() != day and not ends_at_midnight:
            return [
                Problem(
                    "spans_days",
                    _("An appointment must start and end on the same day."),
                    overridable=False,
                )
            ]
        start_t, end_t = local_start.time(), local_end.time()
        problems = []
        if day in self.closures:
            closure_reason = self.closures[day]
            problems.append(
                Problem(
                    "closure",
                    lambda: (
                        _("The clinic is closed on %(day)s%(reason)s.")
                        % {
                            "day": formats.date_format(day, "D j M Y"),
                            "reason": f" ({closure_reason})" if closure_reason else "",
                        }
                    ),
                    overridable=True,
                )
            )
        opening = self.opening_hours.get(day.weekday(), [])
        if not opening:
            problems.append(
                Problem(
                    "closed_weekday",
                    lambda: (
                        _("The clinic is closed on %(weekday)s.")
                        % {"weekday": weekday_name() + "s"}
                    ),
                    overridable=True,
                )
            )
        elif not _within(opening, start_t, end_t):
            problems.append(
                Problem(
                    "outside_opening",
                    lambda: (
                        _("That is outside opening hours (%(weekday)s: %(hours)s).")
                        % {"weekday": weekday_name(), "hours": _hours_text(opening)}
                    ),
                    overridable=True,
                )
            )
        working = self.working_hours.get(practitioner.pk, {}).get(day.weekday(), [])
        if not working:
            problems.append(
                Problem(
                    "not_working",
                    lambda: (
                        _("%(name)s does not work on %(weekday)s.")
                        % {"name": practitioner, "weekday": weekday_name() + "s"}
                    ),
                    overridable=True,
                )
            )
        elif not _within(working, start_t, end_t):
            problems.append(
                Problem(
                    "outside_working",
                    lambda: (
                        _(
                            "That is outside %(name)s's working hours "
                            "(%(weekday)s: %(hours)s)."
                        )
                        % {
                            "name": practitioner,
                            "weekday": weekday_name(),
                            "hours": _hours_text(working),
                        }
                    ),
                    overridable=True,
                )
            )
        for off_start, off_end, reason in self.time_off.get(practitioner.pk, []):
            if off_start < end and off_end > start:
                problems.append(
                    Problem(
                        "time_off",
                        lambda off_start=off_start, off_end=off_end, reason=reason: (
                            _("%(name)s is off %(when)s%(reason)s.")
                            % {
                                "name": practitioner,
                                "when": self.describe(off_start, off_end),
                                "reason": f" ({reason})" if reason else "",
                            }
                        ),
                        overridable=True,
                    )
                )
        return problems

    def describe(self, start: datetime, end: datetime) -> str:
        """'on Thu 26 Nov 2026, 10:00-11:00' in the clinic's zone."""
        local_start = timezone.localtime(start, self.tz)
        local_end = timezone.localtime(end, self.tz)
        if local_start.date() == local_end.date():
            return _("on %(day)s, %(start)s-%(end)s") % {
                "day": formats.date_format(local_start, "D j M Y"),
                "start": local_start.strftime("%H:%M"),
                "end": local_end.strftime("%H:%M"),
            }
        return _("from %(start)s until %(end)s") % {
            "start": formats.date_format(local_start, "D j M Y H:i"),
            "end": formats.date_format(local_end, "D j M Y H:i"),
        }


def _start(booking: Booked) -> datetime:
    return booking.start


def _overlapping(
    bookings: list[Booked], start: datetime, end: datetime
) -> list[Booked]:
    """Bookings in a start-sorted list that overlap [start, end)."""
    index = bisect_left(bookings, end, key=_start)
    # Nothing that starts longer before ``start`` than the longest appointment
    # can reach it: stop walking back there.
    horizon = start - LONGEST_APPOINTMENT
    found = []
    while index > 0:
        index -= 1
        booked = bookings[index]
        if booked.end > start:
            found.append(booked)
        elif booked.start < horizon:
            break
    found.reverse()
    return found


def _within(blocks: list[tuple[time, time]], start: time, end: time) -> bool:
    # An end at midnight reads as the end of the day.
    end_of_day = end if end != time(0) else time(23, 59, 59, 999999)
    return any(
        block_start <= start and end_of_day <= block_end
        for block_start, block_end in blocks
    )


def _hours_text(blocks: list[tuple[time, time]]) -> str:
    return ", ".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in sorted(blocks))


def local_datetime(day: date, at: time, tz: tzinfo | None = None) -> datetime:
    """Combine a local date and wall-clock time into an aware datetime.

    Raises ValueError for a time that does not exist on that day (the hour skipped
    when clocks go forward). An hour that happens twice takes its first occurrence.
    """
    tz = tz or timezone.get_current_timezone()
    candidate = datetime.combine(day, at, tz)
    round_trip = candidate.astimezone(UTC).astimezone(tz)
    if round_trip.replace(tzinfo=None) != candidate.replace(tzinfo=None):
        raise ValueError(
            _("%(time)s does not exist on %(day)s: the clocks go forward that night.")
            % {"time": at.strftime("%H:%M"), "day": formats.date_format(day, "D j M Y")}
        )
    return candidate


def merge_windows(
    windows: list[tuple[datetime, datetime]], *, limit: int | None = None
) -> list[tuple[datetime, datetime]]:
    """Sorted windows with the overlapping ones joined; when there are more than
    ``limit``, the neighbours closest to each other are joined too (covering more
    never hurts, but costs the bookings in between)."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in windows:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    if limit is None or len(merged) <= limit:
        return merged
    between = sorted(
        range(len(merged) - 1), key=lambda i: merged[i + 1][0] - merged[i][1]
    )
    joined = set(between[: len(merged) - limit])
    result = [merged[0]]
    for index, window in enumerate(merged[1:], start=1):
        if index - 1 in joined:
            result[-1] = (result[-1][0], window[1])
        else:
            result.append(window)
    return result


def _covered(
    windows: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> bool:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    index = bisect_left(windows, start, key=lambda window: window[0])
    # The window that covers [start, end) starts at ``start`` or before it.
    for candidate in windows[max(index - 1, 0) : index + 1]:
        if candidate[0] <= start and end <= candidate[1]:
            return True
    return False


def shift_wall_clock(start: datetime, delta: timedelta) -> datetime:
    """Shift by a wall-clock amount: 10:00 plus 7 days is 10:00 across a DST change."""
    local = timezone.localtime(start)
    naive = local.replace(tzinfo=None) + delta
    return timezone.make_aware(naive, local.tzinfo)


def _clock_changes(day: date, tz: tzinfo) -> bool:
    midnight = datetime.combine(day, time(0), tz)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tz)
    return midnight.utcoffset() != next_midnight.utcoffset()


def _wall_clock(day: date, moment: time, tz: tzinfo) -> datetime:
    """That wall-clock time in UTC, or near it on a day it doesn't exist."""
    return datetime.combine(day, moment, tz).astimezone(UTC)


def _room_bookings(
    room_ids: list[int], windows: list[tuple[datetime, datetime]]
) -> RawQuerySet:
    """Active bookings of the rooms that overlap any of the windows.

    The windows are joined as a small table, so the database looks each one up
    on the (room, start) index; the same condition written as an OR of ranges
    makes SQLite read every booking and test every range on it.
    """
    if not room_ids:
        return Appointment.objects.none()
    ops = connection.ops
    appointment = Appointment._meta.db_table
    patient = Patient._meta.db_table
    params: list = []
    for start, end in windows:
        # A booking that overlaps the window starts after this.
        params += [
            ops.adapt_datetimefield_value(start - LONGEST_APPOINTMENT),
            ops.adapt_datetimefield_value(start),
            ops.adapt_datetimefield_value(end),
        ]
    statuses = list(Appointment.ACTIVE_STATUSES)
    params += [*room_ids, *statuses]
    sql = f"""
        WITH w (earliest, opens, closes) AS (
            VALUES {", ".join(["(%s, %s, %s)"] * len(windows))}
        )
        SELECT DISTINCT a.id, a.practitioner_id, a.room_id, a.start, a."end",
               a.kind, p.first_name, p.last_name
        FROM w
        JOIN {ops.quote_name(appointment)} a
          ON a.start >= w.earliest AND a.start < w.closes AND a."end" > w.opens
        JOIN {ops.quote_name(patient)} p ON p.id = a.patient_id
        WHERE a.room_id IN ({", ".join(["%s"] * len(room_ids))})
          AND a.status IN ({", ".join(["%s"] * len(statuses))})
        ORDER BY a.start
    """
    return Appointment.objects.raw(sql, params)
