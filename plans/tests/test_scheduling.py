"""The series engine as pure functions: a calendar snapshot in, proposals out."""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clinic.models import ClosureDay, Practitioner, Room
from clinic.scheduling import Availability, Booked, local_datetime
from clinic.tests.factories import AppointmentFactory, TimeOffFactory, open_clinic
from plans.scheduling import Proposal, State, Window, propose_series

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
STANDARD = Window(target=28, minimum=28, maximum=35)
HOUR = timedelta(hours=1)
MONDAY_TO_SATURDAY = range(6)


def person(pk: int, first_name: str, last_name: str) -> Practitioner:
    """A practitioner that never touches the database."""
    user = User(username=first_name.lower(), first_name=first_name, last_name=last_name)
    return Practitioner(pk=pk, user=user, title=Practitioner.Title.AESTHETICIAN)


ANN = person(1, "Ann", "Lee")
BEN = person(2, "Ben", "Kay")
ROOM_1 = Room(pk=1, name="Room 1")
ROOM_2 = Room(pk=2, name="Room 2")
ROOM_3 = Room(pk=3, name="Room 3")

_ids = itertools.count(1)


def at(day: date, hour: int, minute: int = 0, tz: tzinfo = LONDON) -> datetime:
    return local_datetime(day, time(hour, minute), tz)


# Thu 26 Nov 2026 10:00 starts most series below; session 2 is ideally Thu 24 Dec.
FIRST = at(date(2026, 11, 26), 10)
SECOND_DAY = date(2026, 12, 24)
NOW = at(date(2026, 11, 23), 8)


def booked(
    start: datetime,
    end: datetime,
    *,
    practitioner: Practitioner = ANN,
    room: Room = ROOM_1,
    what: str = "treatment with Eve Example",
) -> Booked:
    return Booked(
        id=next(_ids),
        practitioner_id=practitioner.pk,
        room_id=room.pk,
        start=start,
        end=end,
        label=what,
    )


def calendar(
    tz: tzinfo = LONDON,
    *,
    days: range = MONDAY_TO_SATURDAY,
    opens: time = time(9),
    closes: time = time(18),
    working_days: dict[int, range | tuple[int, ...]] | None = None,
    closures: dict[date, str] | None = None,
    time_off: Sequence[tuple[datetime, datetime, str]] = (),
    bookings: Sequence[Booked] = (),
) -> Availability:
    """Opening hours on ``days``; Ann and Ben work them unless told otherwise."""
    working_days = working_days or {}
    availability = Availability(
        tz=tz,
        opening_hours={day: [(opens, closes)] for day in days},
        closures=closures or {},
        working_hours={
            p.pk: {day: [(opens, closes)] for day in working_days.get(p.pk, days)}
            for p in (ANN, BEN)
        },
        time_off={ANN.pk: list(time_off)},
    )
    availability.add_bookings(bookings)
    return availability


def propose(
    availability: Availability,
    first_start: datetime = FIRST,
    count: int = 6,
    *,
    window: Window = STANDARD,
    rooms: tuple[Room, ...] = (ROOM_1,),
    now: datetime = NOW,
    **kwargs,
) -> list[Proposal]:
    with timezone.override(availability.tz):
        return propose_series(
            first_start=first_start,
            count=count,
            window=window,
            duration=HOUR,
            practitioner=ANN,
            rooms=list(rooms),
            availability=availability,
            now=now,
            **kwargs,
        )


def local(moment: datetime, tz: tzinfo = LONDON) -> datetime:
    return moment.astimezone(tz)


# A free calendar


def test_every_session_goes_as_planned_on_a_free_calendar():
    proposals = propose(calendar())

    assert [p.index for p in proposals] == [0, 1, 2, 3, 4, 5]
    assert [p.state for p in proposals] == [State.AS_PLANNED] * 6
    assert [p.start for p in proposals] == [
        at(FIRST.date() + timedelta(days=28 * n), 10) for n in range(6)
    ]
    assert all(p.end == p.start + HOUR for p in proposals)
    assert all(p.start == p.ideal_start and p.describe_shift() == "" for p in proposals)
    assert all(p.room == ROOM_1 and p.reasons == [] for p in proposals)
    assert [p.spacing_days for p in proposals] == [None, 28, 28, 28, 28, 28]
    assert [p.spacing_flag for p in proposals] == [""] * 6
    assert all(p.is_bookable for p in proposals)


def test_a_window_with_the_target_outside_it_is_refused():
    with pytest.raises(ValueError):
        Window(target=21, minimum=28, maximum=35)


def test_no_sessions_are_proposed_for_a_count_of_zero():
    assert propose(calendar(), count=0) == []


# Clock changes


@pytest.mark.parametrize(
    ("tz", "first_day", "elapsed"),
    [
        # Clocks go forward in between: 28 days less an hour of real time.
        (LONDON, date(2026, 3, 12), timedelta(days=28, hours=-1)),
        (NEW_YORK, date(2026, 2, 19), timedelta(days=28, hours=-1)),
        # Clocks go back in between: 28 days and an hour.
        (LONDON, date(2026, 10, 8), timedelta(days=28, hours=1)),
        (NEW_YORK, date(2026, 10, 15), timedelta(days=28, hours=1)),
    ],
    ids=["london-spring", "new-york-spring", "london-autumn", "new-york-autumn"],
)
def test_sessions_keep_their_local_wall_clock_time_across_a_clock_change(
    tz, first_day, elapsed
):
    first_start = at(first_day, 10, tz=tz)

    proposals = propose(calendar(tz), first_start, count=3, now=first_start - HOUR)

    assert [p.state for p in proposals] == [State.AS_PLANNED] * 3
    assert [local(p.start, tz).time() for p in proposals] == [time(10)] * 3
    assert [local(p.start, tz).date() for p in proposals] == [
        first_day,
        first_day + timedelta(days=28),
        first_day + timedelta(days=56),
    ]
    assert proposals[1].start.astimezone(UTC) - first_start.astimezone(UTC) == elapsed
    assert [p.spacing_days for p in proposals] == [None, 28, 28]
    for p in proposals:
        assert p.end.astimezone(UTC) - p.start.astimezone(UTC) == HOUR


@pytest.mark.parametrize(
    ("tz", "first_day"),
    [(LONDON, date(2026, 3, 27)), (NEW_YORK, date(2026, 10, 30))],
    ids=["london-spring", "new-york-autumn"],
)
def test_daily_sessions_over_the_night_of_the_change_keep_their_time(tz, first_day):
    first_start = at(first_day, 10, tz=tz)
    daily = Window(target=1, minimum=1, maximum=1)

    proposals = propose(
        calendar(tz, days=range(7)),
        first_start,
        count=4,
        window=daily,
        now=first_start - HOUR,
    )

    assert [p.state for p in proposals] == [State.AS_PLANNED] * 4
    assert [local(p.start, tz) for p in proposals] == [
        at(first_day + timedelta(days=n), 10, tz=tz) for n in range(4)
    ]
    assert proposals[0].start.utcoffset() != proposals[-1].start.utcoffset()


# Taken, closed or unavailable slots


def test_a_taken_slot_moves_to_the_nearest_free_time_that_day():
    taken = booked(at(SECOND_DAY, 9), at(SECOND_DAY, 10, 45), room=ROOM_2)

    proposals = propose(calendar(bookings=[taken]), count=3)

    second = proposals[1]
    assert second.state == State.MOVED
    assert second.start == at(SECOND_DAY, 10, 45)
    assert second.ideal_start == at(SECOND_DAY, 10)
    assert second.describe_shift() == "45 min later"
    assert second.reasons == [
        "Ann Lee is already booked on Thu 24 Dec 2026, 09:00-10:45 "
        "(treatment with Eve Example)."
    ]
    assert second.spacing_days == 28
    assert second.is_bookable
    # The series keeps its own time: the next session is at 10:00 again.
    assert proposals[2].state == State.AS_PLANNED
    assert proposals[2].start == at(SECOND_DAY + timedelta(days=28), 10)


def test_a_full_day_moves_the_session_to_the_nearest_day_never_below_the_minimum():
    # Wed 23 Dec is as near as Fri 25 Dec, and free, but only 27 days on.
    full = booked(at(SECOND_DAY, 9), at(SECOND_DAY, 18))

    proposals = propose(calendar(bookings=[full]), count=2)

    assert proposals[1].state == State.MOVED
    assert proposals[1].start == at(date(2026, 12, 25), 10)
    assert proposals[1].describe_shift() == "1 day later"
    assert proposals[1].spacing_days == 29
    assert proposals[1].spacing_flag == ""


def test_a_session_may_move_earlier_while_it_stays_inside_the_window():
    # Target 30 days: Sat 26 Dec is full, Sun 27 Dec closed, Fri 25 Dec (29) free.
    window = Window(target=30, minimum=28, maximum=35)
    full = booked(at(date(2026, 12, 26), 9), at(date(2026, 12, 26), 18))

    proposals = propose(calendar(bookings=[full]), count=2, window=window)

    assert proposals[1].ideal_start == at(date(2026, 12, 26), 10)
    assert proposals[1].state == State.MOVED
    assert proposals[1].start == at(date(2026, 12, 25), 10)
    assert proposals[1].describe_shift() == "1 day earlier"
    assert proposals[1].spacing_days == 29


def test_a_closure_day_moves_the_session_to_the_next_day():
    proposals = propose(calendar(closures={SECOND_DAY: "Christmas Eve"}), count=2)

    assert proposals[1].state == State.MOVED
    assert proposals[1].start == at(date(2026, 12, 25), 10)
    assert proposals[1].reasons == [
        "The clinic is closed on Thu 24 Dec 2026 (Christmas Eve)."
    ]


def test_time_off_moves_the_session_to_the_first_free_time_that_day():
    off = (at(SECOND_DAY, 9), at(SECOND_DAY, 13), "training")

    proposals = propose(calendar(time_off=[off]), count=2)

    assert proposals[1].state == State.MOVED
    assert proposals[1].start == at(SECOND_DAY, 13)
    assert proposals[1].reasons == [
        "Ann Lee is off on Thu 24 Dec 2026, 09:00-13:00 (training)."
    ]


def test_a_weekday_the_practitioner_does_not_work_moves_the_session():
    # Ann doesn't work Thursdays: the first session moves to Friday, and the
    # second is then 28 days after that Friday.
    no_thursdays = calendar(working_days={ANN.pk: (0, 1, 2, 4, 5)})

    proposals = propose(no_thursdays, count=2)

    assert proposals[0].state == State.MOVED
    assert proposals[0].start == at(date(2026, 11, 27), 10)
    assert proposals[0].reasons == ["Ann Lee does not work on Thursdays."]
    assert proposals[1].state == State.AS_PLANNED
    assert proposals[1].start == at(date(2026, 12, 25), 10)


def test_a_first_start_that_has_passed_moves_to_the_next_free_time():
    proposals = propose(calendar(), count=1, now=at(FIRST.date(), 11, 50))

    assert proposals[0].state == State.MOVED
    assert proposals[0].start == at(FIRST.date(), 12)
    assert proposals[0].reasons == ["That time has already passed: pick a future time."]


def test_a_session_with_no_free_slot_in_its_window_is_flagged_and_the_series_goes_on():
    # Ann works Mondays only, and the one Monday in the 28-30 day window is full.
    monday = date(2026, 11, 30)
    full = booked(at(date(2026, 12, 28), 9), at(date(2026, 12, 28), 18), room=ROOM_2)
    mondays_only = calendar(working_days={ANN.pk: (0,)}, bookings=[full])

    proposals = propose(
        mondays_only,
        at(monday, 10),
        count=3,
        window=Window(target=28, minimum=28, maximum=30),
    )

    assert [p.state for p in proposals] == [
        State.AS_PLANNED,
        State.NO_SLOT,
        State.AS_PLANNED,
    ]
    assert not proposals[1].is_bookable
    assert proposals[1].start == proposals[1].ideal_start == at(date(2026, 12, 28), 10)
    assert proposals[1].reasons == [
        "Ann Lee is already booked on Mon 28 Dec 2026, 09:00-18:00 "
        "(treatment with Eve Example)."
    ]
    assert proposals[2].start == at(date(2027, 1, 25), 10)


def test_any_free_room_puts_the_session_in_another_room():
    other = booked(at(SECOND_DAY, 9, 30), at(SECOND_DAY, 11), practitioner=BEN)

    any_room = propose(calendar(bookings=[other]), count=2, rooms=(ROOM_1, ROOM_2))
    room_1_only = propose(calendar(bookings=[other]), count=2, rooms=(ROOM_1,))

    assert any_room[1].state == State.AS_PLANNED
    assert (any_room[1].start, any_room[1].room) == (at(SECOND_DAY, 10), ROOM_2)
    assert room_1_only[1].state == State.MOVED
    assert (room_1_only[1].start, room_1_only[1].room) == (at(SECOND_DAY, 11), ROOM_1)
    assert room_1_only[1].reasons == [
        "Room 1 is already booked on Thu 24 Dec 2026, 09:30-11:00 "
        "(treatment with Eve Example)."
    ]


def test_with_every_room_taken_the_reason_names_each_room():
    taken = [
        booked(at(SECOND_DAY, 9, 30), at(SECOND_DAY, 11), practitioner=BEN),
        booked(
            at(SECOND_DAY, 10),
            at(SECOND_DAY, 10, 30),
            practitioner=BEN,
            room=ROOM_2,
            what="consultation with Zoe Other",
        ),
    ]

    proposals = propose(calendar(bookings=taken), count=2, rooms=(ROOM_1, ROOM_2))

    assert proposals[1].state == State.MOVED
    assert proposals[1].reasons == [
        "No room is free then: Room 1 is already booked on Thu 24 Dec 2026, "
        "09:30-11:00 (treatment with Eve Example); Room 2 is already booked on "
        "Thu 24 Dec 2026, 10:00-10:30 (consultation with Zoe Other)."
    ]


# Dates chosen by the front desk, and spacing


def test_a_chosen_date_is_kept_and_the_sessions_after_it_are_spaced_from_it():
    chosen = {1: (at(date(2026, 12, 29), 14), ROOM_2)}

    proposals = propose(calendar(), count=3, chosen=chosen)

    second = proposals[1]
    assert second.state == State.CHOSEN
    assert (second.start, second.end, second.room) == (
        at(date(2026, 12, 29), 14),
        at(date(2026, 12, 29), 15),
        ROOM_2,
    )
    assert second.ideal_start == at(SECOND_DAY, 10)
    assert second.reasons == []
    assert second.is_bookable
    assert second.spacing_days == 33
    # 28 days after the chosen date, at the series' own time.
    assert proposals[2].state == State.AS_PLANNED
    assert proposals[2].start == at(date(2027, 1, 26), 10)
    assert proposals[2].spacing_days == 28


def test_a_session_chosen_before_the_one_before_it_is_out_of_order():
    # Sessions are numbered in date order: the third can't come before the second.
    chosen = {
        1: (at(date(2027, 3, 2), 10), ROOM_1),
        2: (FIRST + timedelta(days=7), ROOM_1),
    }

    proposals = propose(calendar(), count=3, chosen=chosen)

    assert proposals[1].is_bookable
    third = proposals[2]
    assert third.out_of_order
    assert not third.is_bookable
    assert third.reasons == [
        "This is not after the session before it: keep the sessions in date order."
    ]


def test_a_chosen_date_that_is_taken_is_kept_and_flagged_not_moved():
    chosen_start = at(date(2026, 12, 29), 14)
    taken = booked(chosen_start, chosen_start + HOUR)

    proposals = propose(
        calendar(bookings=[taken]), count=2, chosen={1: (chosen_start, ROOM_1)}
    )

    assert proposals[1].state == State.CHOSEN
    assert proposals[1].start == chosen_start
    assert not proposals[1].is_bookable
    assert proposals[1].reasons == [
        "Ann Lee is already booked on Tue 29 Dec 2026, 14:00-15:00 "
        "(treatment with Eve Example).",
        "Room 1 is already booked on Tue 29 Dec 2026, 14:00-15:00 "
        "(treatment with Eve Example).",
    ]


def test_a_chosen_date_on_top_of_another_session_is_flagged_as_a_clash():
    proposals = propose(
        calendar(), count=2, chosen={1: (FIRST + timedelta(minutes=30), ROOM_2)}
    )

    assert not proposals[1].is_bookable
    assert proposals[1].reasons == [
        "Ann Lee is already booked on Thu 26 Nov 2026, 10:00-11:00 "
        "(session 1 of this series)."
    ]


@pytest.mark.parametrize(
    ("days", "flag"),
    [(21, "short"), (27, "short"), (28, ""), (35, ""), (36, "long"), (42, "long")],
)
def test_spacing_outside_the_window_is_flagged(days, flag):
    chosen_start = at(FIRST.date() + timedelta(days=days), 10)

    proposals = propose(
        calendar(days=range(7)), count=2, chosen={1: (chosen_start, ROOM_1)}
    )

    assert proposals[1].spacing_days == days
    assert proposals[1].spacing_flag == flag
    assert proposals[1].spacing_below_minimum == (flag == "short")


def test_the_first_spacing_is_measured_from_the_last_booked_session():
    on_time = propose(calendar(), count=2, previous_start=at(date(2026, 10, 29), 10))
    too_soon = propose(calendar(), count=2, previous_start=at(date(2026, 11, 12), 10))

    assert [p.spacing_days for p in on_time] == [28, 28]
    assert [p.spacing_flag for p in on_time] == ["", ""]
    assert too_soon[0].spacing_days == 14
    assert too_soon[0].spacing_flag == "short"


def test_a_taken_first_slot_after_earlier_sessions_moves_inside_their_window():
    previous = at(date(2026, 10, 29), 10)
    full = booked(at(FIRST.date(), 9), at(FIRST.date(), 18))

    proposals = propose(calendar(bookings=[full]), count=1, previous_start=previous)

    assert proposals[0].state == State.MOVED
    assert proposals[0].start == at(date(2026, 11, 27), 10)
    assert proposals[0].spacing_days == 29


def test_the_engine_works_on_a_calendar_loaded_from_the_database(
    settings, practitioner, room, other_room
):
    settings.TIME_ZONE = "Europe/London"
    open_clinic(practitioner)
    ClosureDay.objects.create(date=SECOND_DAY, reason="Christmas Eve")
    TimeOffFactory(
        practitioner=practitioner,
        start=at(date(2026, 12, 25), 9),
        end=at(date(2026, 12, 25), 12),
    )
    AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=at(date(2027, 1, 22), 9, 30),
        end=at(date(2027, 1, 22), 11),
    )
    availability = Availability.load(
        start=FIRST - timedelta(days=1),
        end=FIRST + timedelta(days=120),
        practitioner_ids=[practitioner.pk],
        room_ids=[room.pk, other_room.pk],
    )

    proposals = propose_series(
        first_start=FIRST,
        count=3,
        window=STANDARD,
        duration=HOUR,
        practitioner=practitioner,
        rooms=[room, other_room],
        availability=availability,
        now=NOW,
    )

    # Closed on the 24th, off on the morning of the 25th: the 25th at 12:00.
    assert [p.state for p in proposals] == [State.AS_PLANNED, State.MOVED, State.MOVED]
    assert proposals[1].start == at(date(2026, 12, 25), 12)
    # 28 days after the 25th, where the practitioner is busy until 11:00.
    assert proposals[2].ideal_start == at(date(2027, 1, 22), 10)
    assert proposals[2].start == at(date(2027, 1, 22), 11)


# Properties, over random calendars, protocols, start times and time zones

ZONES = [
    ZoneInfo("Europe/London"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Sydney"),
    ZoneInfo("UTC"),
]
ROOMS = (ROOM_1, ROOM_2, ROOM_3)
# Clinics keep daytime hours, so no session meets the hour a clock change skips.
quarter_hours = st.integers(6 * 4, 21 * 4)


def _time(quarter: int) -> time:
    return time(quarter // 4, quarter % 4 * 15)


@st.composite
def windows(draw) -> Window:
    minimum = draw(st.integers(1, 42))
    target = draw(st.integers(minimum, minimum + 7))
    maximum = draw(st.integers(target, target + 10))
    return Window(target=target, minimum=minimum, maximum=maximum)


@st.composite
def blocks(draw) -> tuple[time, time]:
    if not draw(st.booleans()):
        return time(8), time(20)  # a long day, so that many slots go as planned
    start = draw(st.integers(6 * 4, 14 * 4))
    end = draw(st.integers(start + 4, 22 * 4))
    return _time(start), _time(end)


@st.composite
def weeks(draw, *, most_blocks: int) -> dict[int, list[tuple[time, time]]]:
    return {
        weekday: draw(st.lists(blocks(), min_size=1, max_size=most_blocks))
        for weekday in range(7)
        if draw(st.integers(0, 7)) < 7  # open seven days in eight
    }


@dataclass
class World:
    """Everything the engine is given, kept apart to check its answers against."""

    tz: tzinfo
    window: Window
    count: int
    duration: timedelta
    first_start: datetime
    now: datetime
    previous_start: datetime | None
    rooms: list[Room]
    opening: dict[int, list[tuple[time, time]]]
    working: dict[int, list[tuple[time, time]]]
    closures: set[date]
    time_off: list[tuple[datetime, datetime]]
    bookings: list[Booked]
    chosen: dict[int, tuple[datetime, Room]]

    def availability(self) -> Availability:
        availability = Availability(
            tz=self.tz,
            opening_hours=self.opening,
            closures={day: "" for day in self.closures},
            working_hours={ANN.pk: self.working},
            time_off={ANN.pk: [(s, e, "") for s, e in self.time_off]},
        )
        availability.add_bookings(self.bookings)
        return availability

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def spacing(self, start: datetime, previous: datetime) -> int:
        return (self.local(start).date() - self.local(previous).date()).days

    def free(
        self, start: datetime, room: Room, taken: list[tuple[datetime, datetime, Room]]
    ) -> bool:
        """Whether Ann may see a patient in ``room`` from ``start``."""
        end = start.astimezone(UTC) + self.duration
        local_start, local_end = self.local(start), self.local(end)
        day = local_start.date()
        if start < self.now or local_end.date() != day or day in self.closures:
            return False
        start_t, end_t = local_start.time(), local_end.time()
        for week in (self.opening, self.working):
            if not any(
                s <= start_t and end_t <= e for s, e in week.get(day.weekday(), [])
            ):
                return False
        if any(s < end and start < e for s, e in self.time_off):
            return False
        if any(
            b.start < end
            and start < b.end
            and (b.practitioner_id == ANN.pk or b.room_id == room.pk)
            for b in self.bookings
        ):
            return False
        # Ann can't be in two of the series' sessions at once, in any room.
        return not any(s < end and start < e for s, e, _room in taken)

    def free_starts(
        self, day: date, taken: list[tuple[datetime, datetime, Room]]
    ) -> list[datetime]:
        """Every quarter-hour start on ``day`` that is free in some room."""
        starts = (local_datetime(day, _time(q), self.tz) for q in range(24, 89))
        return [
            start
            for start in starts
            if any(self.free(start, room, taken) for room in self.rooms)
        ]


def minutes(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


@st.composite
def worlds(draw, *, with_chosen: bool = False) -> World:
    tz = draw(st.sampled_from(ZONES))
    window = draw(windows())
    count = draw(st.integers(1, 10))
    duration = timedelta(minutes=draw(st.sampled_from([30, 45, 60, 90])))
    first_day = draw(st.dates(date(2026, 1, 1), date(2027, 12, 31)))
    wanted = draw(st.integers(6 * 4, 20 * 4))
    first_start = local_datetime(first_day, _time(wanted), tz)
    now = first_start - timedelta(minutes=15 * draw(st.integers(-24, 300)))
    previous_start = None
    if draw(st.booleans()):
        days_before = draw(st.integers(1, window.maximum + 10))
        previous_start = local_datetime(
            first_day - timedelta(days=days_before),
            _time(draw(quarter_hours)),
            tz,
        )

    def near_the_series(offset: int) -> datetime:
        # Bookings where the sessions are likely to fall, so they get in the way.
        day = first_day + timedelta(days=offset)
        return local_datetime(day, _time(draw(quarter_hours)), tz)

    offsets = st.builds(
        lambda n, noise: n * window.target + noise,
        st.integers(0, count - 1),
        st.integers(-3, window.maximum - window.target + 8),
    )
    bookings = []
    for offset in draw(st.lists(offsets, max_size=30)):
        start = near_the_series(offset)
        length = draw(st.sampled_from([2, 4, 4, 4, 6, 8, 64]))
        bookings.append(
            booked(
                start,
                start + timedelta(minutes=15 * length),
                practitioner=draw(st.sampled_from([ANN, BEN])),
                room=draw(st.sampled_from(ROOMS)),
            )
        )
    time_off = []
    for offset in draw(st.lists(offsets, max_size=4)):
        start = near_the_series(offset)
        time_off.append((start, start + timedelta(hours=draw(st.integers(1, 30)))))
    closures = {
        first_day + timedelta(days=offset)
        for offset in draw(st.lists(offsets, max_size=6))
    }
    chosen = {}
    if with_chosen:
        for index in draw(st.sets(st.integers(0, count - 1), max_size=3)):
            chosen[index] = (
                near_the_series(index * window.target + draw(st.integers(-5, 5))),
                draw(st.sampled_from(ROOMS)),
            )
    return World(
        tz=tz,
        window=window,
        count=count,
        duration=duration,
        first_start=first_start,
        now=now,
        previous_start=previous_start,
        rooms=draw(st.sampled_from([[ROOM_1], list(ROOMS)])),
        opening=draw(weeks(most_blocks=1)),
        working=draw(weeks(most_blocks=2)),
        closures=closures,
        time_off=time_off,
        bookings=bookings,
        chosen=chosen,
    )


def run(world: World) -> list[Proposal]:
    with timezone.override(world.tz):
        return propose_series(
            first_start=world.first_start,
            count=world.count,
            window=world.window,
            duration=world.duration,
            practitioner=ANN,
            rooms=world.rooms,
            availability=world.availability(),
            now=world.now,
            previous_start=world.previous_start,
            chosen=world.chosen,
        )


def check_common_properties(world: World, proposals: list[Proposal]) -> None:
    assert len(proposals) == world.count
    assert [p.index for p in proposals] == list(range(world.count))
    bookable = [p for p in proposals if p.is_bookable]
    for p in proposals:
        assert p.end.astimezone(UTC) - p.start.astimezone(UTC) == world.duration
    for p in bookable:
        others = [(q.start, q.end, q.room) for q in bookable if q is not p]
        # Inside opening and working hours, not closed, not off, not in the
        # past, and clear of every booking of Ann or the room, and of the
        # series' other sessions.
        assert world.free(p.start, p.room, others), p
        assert p.room in world.rooms or p.index in world.chosen
    wanted = world.local(world.first_start).time()
    previous = world.previous_start
    for p in proposals:
        if previous is None:
            assert p.spacing_days is None
            assert p.spacing_flag == ""
        else:
            spacing = world.spacing(p.start, previous)
            assert p.spacing_days == spacing
            expected_flag = (
                "short"
                if spacing < world.window.minimum
                else "long"
                if spacing > world.window.maximum
                else ""
            )
            assert p.spacing_flag == expected_flag
        if p.state == State.AS_PLANNED:
            assert world.local(p.start).time() == wanted
            if p.index == 0:
                assert p.start == world.first_start
            else:
                assert p.spacing_days == world.window.target
        previous = p.start


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(world=worlds())
def test_proposals_are_free_inside_hours_spaced_and_as_many_as_asked(world):
    proposals = run(world)

    for state in {p.state for p in proposals}:
        event(state)
    check_common_properties(world, proposals)
    assert all(p.state != State.CHOSEN for p in proposals)
    taken: list[tuple[datetime, datetime, Room]] = []
    previous = world.previous_start
    for p in proposals:
        # A moved session is never closer than the minimum. Only the first
        # session, searched for from the date asked for, may land beyond the
        # window (flagged "long").
        if p.spacing_flag:
            assert p.index == 0
            assert p.state != State.MOVED or p.spacing_flag == "long"
        ideal_day = world.local(p.ideal_start).date()
        if previous is None:
            days = [ideal_day + timedelta(days=n) for n in range(8)]
        elif p.index == 0:
            previous_day = world.local(previous).date()
            first = max(ideal_day, previous_day + timedelta(days=world.window.minimum))
            last = max(
                first + timedelta(days=7),
                previous_day + timedelta(days=world.window.maximum),
            )
            days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        else:
            previous_day = world.local(previous).date()
            days = [
                previous_day + timedelta(days=n)
                for n in range(world.window.minimum, world.window.maximum + 1)
            ]
        wanted = minutes(world.local(p.ideal_start))
        if p.state == State.NO_SLOT:
            # Really no free slot on any day it may go.
            assert all(world.free_starts(day, taken) == [] for day in days), p
        elif p.state == State.MOVED:
            # The ideal slot was not free, and no free slot is nearer to it.
            assert not any(world.free(p.ideal_start, r, taken) for r in world.rooms)
            day = world.local(p.start).date()
            assert day in days
            distance = abs((day - ideal_day).days)
            for nearer in days:
                if abs((nearer - ideal_day).days) < distance:
                    assert world.free_starts(nearer, taken) == [], (p, nearer)
            shift = abs(minutes(world.local(p.start)) - wanted)
            assert all(
                abs(minutes(world.local(s)) - wanted) >= shift
                for s in world.free_starts(day, taken)
            ), p
        taken.append((p.start, p.end, p.room))
        previous = p.start


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(world=worlds(with_chosen=True))
def test_chosen_dates_are_kept_checked_and_never_overlapped(world):
    proposals = run(world)

    for p in proposals:
        event(f"{p.state}, {'bookable' if p.is_bookable else 'not bookable'}")
    check_common_properties(world, proposals)
    for p in proposals:
        if p.index in world.chosen:
            start, room = world.chosen[p.index]
            earlier = [(q.start, q.end, q.room) for q in proposals[: p.index]]
            assert p.state == State.CHOSEN
            assert (p.start, p.room) == (start, room)
            # Checked against the calendar and the sessions before it, and
            # after the one before it: sessions keep their order.
            before = proposals[p.index - 1].start if p.index else world.previous_start
            in_order = before is None or start > before
            assert p.out_of_order == (not in_order)
            assert (p.reasons == []) == (world.free(start, room, earlier) and in_order)
        else:
            assert p.state != State.CHOSEN
