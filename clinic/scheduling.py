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

from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from clinic.models import (
    Appointment,
    ClosureDay,
    OpeningHours,
    Practitioner,
    Room,
    TimeOff,
    WorkingHours,
)


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

        ``None`` for practitioners or rooms means all of them. ``exclude_ids``
        leaves out appointments that are being moved.
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
        if practitioner_ids is not None and room_ids is not None:
            booked = booked.filter(
                Q(practitioner_id__in=practitioner_ids) | Q(room_id__in=list(room_ids))
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
                booked.values_list(
                    "id",
                    "practitioner_id",
                    "room_id",
                    "start",
                    "end",
                    "kind",
                    "patient__first_name",
                    "patient__last_name",
                )
            )
        )
        return availability

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
        problems: list[Problem] = []
        if end <= start:
            return [Problem("end_before_start", _("The end must be after the start."))]
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
        if not room.is_active:
            problems.append(
                Problem("room_inactive", _("%(room)s is not in use.") % {"room": room})
            )
        problems += self.clashes(
            start=start, end=end, practitioner=practitioner, room=room
        )
        problems += self.hours_problems(start=start, end=end, practitioner=practitioner)
        return problems

    def clashes(
        self, *, start: datetime, end: datetime, practitioner: Practitioner, room: Room
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
    # No appointment spans more than a day, so nothing that starts a day before
    # ``start`` can reach it: stop walking back there.
    horizon = start - timedelta(days=1)
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
