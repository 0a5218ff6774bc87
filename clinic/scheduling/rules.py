"""What stands against booking a slot, in words the front desk can act on.

``SlotRules`` reads the calendar data of an ``Availability`` snapshot; it adds
no queries.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from clinic.models import (
    Practitioner,
    Room,
)
from clinic.scheduling.bookings import (
    Booked,
    RoomsNotLoaded,
    covered,
    overlapping,
)
from clinic.scheduling.clock import day_text

# Nothing is booked further ahead than this, whichever page books it.
BOOKING_HORIZON = timedelta(days=3 * 366)


def too_far_ahead_text() -> str:
    return _("Book at most three years ahead.")


def _ends_after(start: datetime, end: datetime) -> bool:
    # In UTC: Python compares two times of one zone by their wall clocks, so
    # 01:30 and the second 01:30 of the night the clocks go back look equal.
    return end.astimezone(UTC) > start.astimezone(UTC)


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


class SlotRules:
    """The checks of a calendar snapshot (mixed into ``Availability``)."""

    tz: tzinfo
    opening_hours: dict[int, list[tuple[time, time]]]
    closures: dict[date, str]
    working_hours: dict[int, dict[int, list[tuple[time, time]]]]
    time_off: dict[int, list[tuple[datetime, datetime, str]]]
    by_practitioner: dict[int, list[Booked]]
    by_room: dict[int, list[Booked]]
    room_windows: list[tuple[datetime, datetime]] | None
    loaded_rooms: frozenset[int]

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
        if not _ends_after(start, end):
            return [Problem("end_before_start", _("The end must be after the start."))]
        problems = _off_the_minute(start, end)
        problems += _across_clock_change(start, end, self.tz)
        problems += self._timing_and_person(start, now, practitioner)
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
        if not _ends_after(start, end):
            return [Problem("end_before_start", _("The end must be after the start."))]
        return [
            *_off_the_minute(start, end),
            *_across_clock_change(start, end, self.tz),
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
        elif start > now + BOOKING_HORIZON:
            problems.append(Problem("too_far_ahead", too_far_ahead_text))
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
        for booked in overlapping(
            self.by_practitioner.get(practitioner.pk, []), start, end
        ):
            if booked.patients_own:
                problems.append(
                    Problem(
                        "patient_clash",
                        lambda booked=booked: (
                            _(
                                "The patient has another appointment "
                                "%(when)s (%(what)s)."
                            )
                            % {
                                "when": self.describe(booked.start, booked.end),
                                "what": booked.description,
                            }
                        ),
                    )
                )
                continue
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
            or not covered(self.room_windows, start, end)
        ):
            raise RoomsNotLoaded(f"{room} is not loaded for {start} to {end}.")
        problems = []
        for booked in overlapping(self.by_room.get(room.pk, []), start, end):
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
                            "day": day_text(day),
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
            if local_start.time() == time(0) and local_end.time() >= time(23, 59):
                # Time off typed to 23:59, as the calendars say it.
                return _("on %(day)s, all day") % {"day": day_text(local_start.date())}
            return _("on %(day)s, %(start)s-%(end)s") % {
                "day": day_text(local_start.date()),
                "start": local_start.strftime("%H:%M"),
                "end": local_end.strftime("%H:%M"),
            }
        return _("from %(start)s until %(end)s") % {
            "start": formats.date_format(local_start, "D j M Y H:i"),
            "end": formats.date_format(local_end, "D j M Y H:i"),
        }


def _off_the_minute(start: datetime, end: datetime) -> list[Problem]:
    # 10:00:59 to 11:00:59 would clash with an 11:00 booking the calendar shows
    # as free next to it.
    if any(moment.second or moment.microsecond for moment in (start, end)):
        return [
            Problem(
                "off_the_minute",
                _("Book whole minutes: give the times in hours and minutes."),
            )
        ]
    return []


def _across_clock_change(start: datetime, end: datetime, tz: tzinfo) -> list[Problem]:
    """Times in the hour the clocks go back happen twice, and a slot across a
    change lasts an hour more or less than its times say: pages, emails and
    calendars would show 01:30-01:30 for an hour."""
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if local_start.utcoffset() == local_end.utcoffset() and not (
        _happens_twice(local_start) or _happens_twice(local_end)
    ):
        return []
    # The night of the change: the start's, when it falls in the repeated hour;
    # otherwise the end's (clocks change after midnight).
    night = local_start if _happens_twice(local_start) else local_end
    return [
        Problem(
            "clock_change",
            _(
                "The clocks change during this time on %(day)s: pick a start and "
                "an end outside the hour they change."
            )
            % {"day": day_text(night.date())},
        )
    ]


def _happens_twice(local: datetime) -> bool:
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()


def _within(blocks: list[tuple[time, time]], start: time, end: time) -> bool:
    # An end at midnight reads as the end of the day.
    end_of_day = end if end != time(0) else time(23, 59, 59, 999999)
    return any(
        block_start <= start and end_of_day <= block_end
        for block_start, block_end in blocks
    )


def _hours_text(blocks: list[tuple[time, time]]) -> str:
    return ", ".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in sorted(blocks))
