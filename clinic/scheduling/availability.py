"""A calendar snapshot, loaded in a fixed number of queries."""

from bisect import insort
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from django.db.models import Q
from django.utils import timezone

from clinic.models import (
    Appointment,
    ClosureDay,
    OpeningHours,
    Practitioner,
    TimeOff,
    WorkingHours,
    joined_blocks,
)
from clinic.scheduling.bookings import (
    LONGEST_APPOINTMENT,
    MAX_ROOM_WINDOWS,
    Booked,
    fetch_booked,
    merge_windows,
    overlapping,
    room_bookings,
    start_of,
)
from clinic.scheduling.clock import CLOCK_CHANGE, clock_changes, wall_clock
from clinic.scheduling.rules import SlotRules


@dataclass
class Availability(SlotRules):
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
        patient_id: int | None = None,
    ) -> "Availability":
        """Load the calendar between ``start`` and ``end`` (five queries).

        ``None`` for practitioners or rooms means all of them; an empty list of
        rooms loads only the practitioners' bookings, and the rooms' come later
        through load_rooms(). ``exclude_ids`` leaves out appointments that are
        being moved. With ``patient_id`` (and practitioners named), the patient's
        appointments with other practitioners count against those practitioners
        too, in the same query: the patient can't be in two places.
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
            # Implied by the overlap, and bounds the index range: without it the
            # database reads every earlier booking of the practitioner.
            .filter(start__gte=start - LONGEST_APPOINTMENT)
            .exclude(id__in=list(exclude_ids))
            .order_by("start")
        )
        if practitioner_ids is not None:
            practitioner_ids = list(practitioner_ids)
            working = working.filter(practitioner_id__in=practitioner_ids)
            off = off.filter(practitioner_id__in=practitioner_ids)
        room_ids = None if room_ids is None else list(room_ids)
        rooms_later = room_ids == []
        # The patient's appointments: only with the rooms' bookings to come, so
        # that every row not of the practitioners is the patient's.
        patients_own = patient_id is not None and rooms_later
        patients: list = []
        if practitioner_ids is not None and rooms_later:
            if patients_own:
                patients.append(
                    booked.filter(patient_id=patient_id).exclude(
                        practitioner_id__in=practitioner_ids
                    )
                )
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
            opening_hours={day: joined_blocks(b) for day, b in opening.items()},
            closures=closures,
            working_hours={
                pid: {day: joined_blocks(b) for day, b in days.items()}
                for pid, days in hours.items()
            },
            time_off=dict(time_off),
            room_windows=[] if rooms_later else None,
        )
        rows = fetch_booked(booked, *patients)
        if patients_own and practitioner_ids is not None:
            rows = _patients_own_held(rows, set(practitioner_ids))
        availability.add_bookings(rows)
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
                b for b in room_bookings(room_ids, merged) if b.id not in skip
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
                    insort(listed, booking, key=start_of)
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
        return self._free_days(
            practitioner,
            timezone.localtime(start, self.tz).date(),
            timezone.localtime(end, self.tz).date(),
            duration,
        )

    def free_on(
        self, *, practitioner: Practitioner, day: date, duration: timedelta
    ) -> list[tuple[datetime, datetime]]:
        """free_windows() of one local day (an hour wider on a clock change)."""
        return self._free_days(practitioner, day, day, duration)

    def _free_days(
        self,
        practitioner: Practitioner,
        day: date,
        last_day: date,
        duration: timedelta,
    ) -> list[tuple[datetime, datetime]]:
        busy = self.by_practitioner.get(practitioner.pk, [])
        time_off = self.time_off.get(practitioner.pk, [])
        windows = []
        while day <= last_day:
            # On a day the clocks change a wall-clock time may exist twice or
            # not at all: an hour more on each side.
            margin = CLOCK_CHANGE if clock_changes(day, self.tz) else timedelta(0)
            for low, high in self.hours_of(practitioner, day):
                windows += self._gaps(
                    wall_clock(day, low, self.tz) - margin,
                    wall_clock(day, high, self.tz) + margin,
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
            [(b.start, b.end) for b in overlapping(busy, start, end)]
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


def _patients_own_held(rows: list[Booked], practitioner_ids: set[int]) -> list[Booked]:
    """The practitioners' rows as loaded; the others, the patient's appointments
    with other practitioners, held against each practitioner of the snapshot
    (their rooms' bookings come with load_rooms())."""
    kept = []
    for row in rows:
        if row.practitioner_id in practitioner_ids:
            kept.append(row)
        else:
            kept += [
                row._replace(practitioner_id=pid, room_id=None, patients_own=True)
                for pid in practitioner_ids
            ]
    return kept
