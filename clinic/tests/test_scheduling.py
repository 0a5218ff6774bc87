from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from clinic.models import (
    Appointment,
    ClosureDay,
    OpeningHours,
    Practitioner,
    Room,
    TimeOff,
    WorkingHours,
    working_outside_opening,
)
from clinic.scheduling import (
    Availability,
    Booked,
    Problem,
    day_text,
    local_datetime,
    when_text,
)
from clinic.tests.factories import (
    AppointmentFactory,
    PatientFactory,
    PractitionerFactory,
    RoomFactory,
    TimeOffFactory,
    clinic_time,
    open_clinic,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
# A Monday morning; the slots under test are later that week (Thu 26 Nov).
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def london(settings) -> None:
    settings.TIME_ZONE = "Europe/London"


@pytest.fixture
def clinic(practitioner, other_practitioner) -> None:
    """Open Monday to Saturday 09:00-18:00, both practitioners working all of it."""
    open_clinic(practitioner, other_practitioner)


def open_on_sundays(*practitioners: Practitioner) -> None:
    OpeningHours.objects.create(weekday=6, opens=time(9), closes=time(18))
    for practitioner in practitioners:
        WorkingHours.objects.create(
            practitioner=practitioner, weekday=6, start=time(9), end=time(18)
        )


def check(
    start: datetime,
    end: datetime,
    *,
    practitioner: Practitioner,
    room: Room,
    now: datetime = NOW,
) -> list[Problem]:
    availability = Availability.load(
        start=start,
        end=end,
        practitioner_ids=[practitioner.pk],
        room_ids=[room.pk],
    )
    return availability.problems(
        start=start, end=end, practitioner=practitioner, room=room, now=now
    )


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def messages(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems]


def thursday(hour: int, minute: int = 0) -> datetime:
    return clinic_time(2026, 11, 26, hour, minute)


# Opening hours, closures, working hours, time off


def test_a_slot_inside_opening_and_working_hours_has_no_problems(
    clinic, practitioner, room
):
    assert check(thursday(10), thursday(11), practitioner=practitioner, room=room) == []


def test_a_slot_may_fill_the_whole_opening_day_exactly(clinic, practitioner, room):
    assert check(thursday(9), thursday(18), practitioner=practitioner, room=room) == []


def test_it_refuses_a_slot_that_starts_before_opening(clinic, practitioner, room):
    problems = check(
        thursday(8, 30), thursday(9, 30), practitioner=practitioner, room=room
    )

    assert "outside_opening" in codes(problems)
    assert "That is outside opening hours (Thursday: 09:00-18:00)." in messages(
        problems
    )


def test_it_refuses_a_slot_that_ends_after_closing(clinic, practitioner, room):
    problems = check(
        thursday(17, 30), thursday(18, 30), practitioner=practitioner, room=room
    )

    assert "outside_opening" in codes(problems)


def test_it_refuses_a_weekday_the_clinic_is_closed(clinic, practitioner, room):
    sunday = clinic_time(2026, 11, 29, 10)

    problems = check(
        sunday, sunday + timedelta(hours=1), practitioner=practitioner, room=room
    )

    assert "closed_weekday" in codes(problems)
    assert "The clinic is closed on Sundays." in messages(problems)


def test_it_refuses_a_closure_day_and_gives_the_reason(clinic, practitioner, room):
    ClosureDay.objects.create(date=date(2026, 11, 26), reason="Staff training")

    problems = check(thursday(10), thursday(11), practitioner=practitioner, room=room)

    assert codes(problems) == ["closure"]
    assert messages(problems) == [
        "The clinic is closed on Thu 26 Nov 2026 (Staff training)."
    ]


def test_a_closure_day_blocks_only_its_own_date(clinic, practitioner, room):
    ClosureDay.objects.create(date=date(2026, 11, 25))

    assert check(thursday(10), thursday(11), practitioner=practitioner, room=room) == []


def test_it_refuses_a_day_the_practitioner_does_not_work(clinic, practitioner, room):
    WorkingHours.objects.filter(practitioner=practitioner, weekday=3).delete()

    problems = check(thursday(10), thursday(11), practitioner=practitioner, room=room)

    assert codes(problems) == ["not_working"]
    assert messages(problems) == [f"{practitioner} does not work on Thursdays."]


def test_it_refuses_a_slot_outside_the_practitioners_working_hours(
    clinic, practitioner, room
):
    WorkingHours.objects.filter(practitioner=practitioner, weekday=3).update(
        start=time(9), end=time(13)
    )

    problems = check(thursday(14), thursday(15), practitioner=practitioner, room=room)

    assert codes(problems) == ["outside_working"]
    assert messages(problems) == [
        f"That is outside {practitioner}'s working hours (Thursday: 09:00-13:00)."
    ]


def test_a_practitioner_may_work_split_shifts(clinic, practitioner, room):
    WorkingHours.objects.filter(practitioner=practitioner, weekday=3).update(
        start=time(9), end=time(12)
    )
    WorkingHours.objects.create(
        practitioner=practitioner, weekday=3, start=time(14), end=time(18)
    )

    afternoon = check(thursday(14), thursday(15), practitioner=practitioner, room=room)
    over_lunch = check(thursday(11), thursday(15), practitioner=practitioner, room=room)

    assert afternoon == []
    assert codes(over_lunch) == ["outside_working"]
    assert "09:00-12:00, 14:00-18:00" in over_lunch[0].message


def test_blocks_of_hours_that_meet_are_one_stretch(clinic, practitioner, room):
    """A manager adds 13:00-14:00 between 09:00-13:00 and 14:00-18:00, or an
    evening after closing: a booking across the joins is inside the hours."""
    WorkingHours.objects.filter(practitioner=practitioner, weekday=3).update(
        start=time(9), end=time(13)
    )
    WorkingHours.objects.bulk_create(
        WorkingHours(practitioner=practitioner, weekday=3, start=start, end=end)
        for start, end in [(time(14), time(19)), (time(13), time(14))]
    )
    OpeningHours.objects.create(weekday=3, opens=time(18), closes=time(19))

    for start, end in [
        (thursday(12, 45), thursday(13, 15)),
        (thursday(17, 45), thursday(18, 15)),
    ]:
        assert check(start, end, practitioner=practitioner, room=room) == []
    late = check(
        thursday(18, 30), thursday(19, 30), practitioner=practitioner, room=room
    )
    assert codes(late) == ["outside_opening", "outside_working"]
    assert "(Thursday: 09:00-19:00)" in late[0].message
    assert "(Thursday: 09:00-19:00)" in late[1].message
    # The engine finds the free time across the joins too, as one window.
    availability = Availability.load(
        start=thursday(0),
        end=thursday(23),
        practitioner_ids=[practitioner.pk],
        room_ids=[],
    )
    assert availability.free_on(
        practitioner=practitioner, day=thursday(0).date(), duration=timedelta(hours=10)
    ) == [(thursday(9), thursday(19))]
    # Nor do they warn of working outside the opening hours that meet.
    assert working_outside_opening(practitioner) == []


def test_it_refuses_a_slot_during_time_off_and_says_when(clinic, practitioner, room):
    TimeOffFactory(
        practitioner=practitioner, start=thursday(9), end=thursday(13), reason="Dentist"
    )

    problems = check(thursday(12), thursday(13), practitioner=practitioner, room=room)

    assert codes(problems) == ["time_off"]
    assert messages(problems) == [
        f"{practitioner} is off on Thu 26 Nov 2026, 09:00-13:00 (Dentist)."
    ]
    # A whole day, typed to 23:59, as the calendars say it.
    TimeOff.objects.update(start=thursday(0), end=thursday(23, 59))
    problems = check(thursday(12), thursday(13), practitioner=practitioner, room=room)
    assert messages(problems) == [
        f"{practitioner} is off on Thu 26 Nov 2026, all day (Dentist)."
    ]


@pytest.mark.parametrize(
    ("start", "end"),
    [((13, 0), (14, 0)), ((8, 0), (9, 0))],
    ids=["slot-after", "slot-before"],
)
def test_time_off_next_to_the_slot_does_not_block(
    clinic, practitioner, room, start, end
):
    OpeningHours.objects.update(opens=time(8))
    WorkingHours.objects.update(start=time(8))
    TimeOffFactory(practitioner=practitioner, start=thursday(9), end=thursday(13))
    # The whole day, as a series check loads it: the time off is in the snapshot.
    day = Availability.load(start=thursday(0), end=clinic_time(2026, 11, 27, 0))

    problems = day.problems(
        start=thursday(*start),
        end=thursday(*end),
        practitioner=practitioner,
        room=room,
        now=NOW,
    )

    assert problems == []


def test_another_practitioners_time_off_does_not_block(
    clinic, practitioner, other_practitioner, room
):
    TimeOffFactory(practitioner=other_practitioner, start=thursday(9), end=thursday(18))

    assert check(thursday(10), thursday(11), practitioner=practitioner, room=room) == []


def test_hours_problems_may_be_overridden(clinic, practitioner, room):
    ClosureDay.objects.create(date=date(2026, 11, 26))
    TimeOffFactory(practitioner=practitioner, start=thursday(9), end=thursday(18))

    problems = check(
        thursday(17, 30), thursday(18, 30), practitioner=practitioner, room=room
    )

    assert set(codes(problems)) == {
        "closure",
        "outside_opening",
        "outside_working",
        "time_off",
    }
    assert all(p.overridable for p in problems)


# Clashes


def test_it_refuses_a_practitioner_who_is_already_booked_naming_the_booking(
    clinic, practitioner, room, other_room, patient
):
    AppointmentFactory(
        practitioner=practitioner,
        room=other_room,
        patient=patient,
        start=thursday(10),
        end=thursday(11),
    )

    problems = check(
        thursday(10, 30), thursday(11, 30), practitioner=practitioner, room=room
    )

    assert codes(problems) == ["practitioner_clash"]
    assert messages(problems) == [
        f"{practitioner} is already booked on Thu 26 Nov 2026, 10:00-11:00 "
        "(consultation with Ada Lovelace)."
    ]
    assert not problems[0].overridable


def test_it_refuses_a_room_that_is_already_booked_naming_the_booking(
    clinic, practitioner, other_practitioner, room, patient
):
    AppointmentFactory(
        practitioner=other_practitioner,
        room=room,
        patient=patient,
        kind=Appointment.Kind.TREATMENT,
        start=thursday(10),
        end=thursday(11),
    )

    problems = check(
        thursday(9, 30), thursday(10, 15), practitioner=practitioner, room=room
    )

    assert codes(problems) == ["room_clash"]
    assert messages(problems) == [
        "Room 1 is already booked on Thu 26 Nov 2026, 10:00-11:00 "
        "(treatment session with Ada Lovelace)."
    ]
    assert not problems[0].overridable


def test_it_names_both_the_practitioner_and_the_room_when_both_are_taken(
    clinic, practitioner, room
):
    AppointmentFactory(
        practitioner=practitioner, room=room, start=thursday(10), end=thursday(11)
    )

    problems = check(thursday(10), thursday(11), practitioner=practitioner, room=room)

    assert codes(problems) == ["practitioner_clash", "room_clash"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ((10, 0), (11, 0)),  # the same slot
        ((9, 0), (12, 0)),  # around it
        ((10, 15), (10, 45)),  # inside it
        ((9, 30), (10, 1)),  # one minute into it
        ((10, 59), (12, 0)),  # its last minute
    ],
)
def test_any_overlap_clashes(clinic, practitioner, room, start, end):
    AppointmentFactory(practitioner=practitioner, start=thursday(10), end=thursday(11))

    problems = check(
        thursday(*start), thursday(*end), practitioner=practitioner, room=room
    )

    assert codes(problems) == ["practitioner_clash"]


def test_a_snapshot_starting_late_in_a_long_appointment_still_holds_it(
    clinic, practitioner, room
):
    # The snapshot reads bookings from a day before its start on the (start)
    # index: one day is the longest an appointment can be.
    AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=thursday(0),
        end=thursday(23, 45),
    )

    problems = check(
        thursday(23, 30), thursday(23, 45), practitioner=practitioner, room=room
    )

    assert codes(problems)[:2] == ["practitioner_clash", "room_clash"]


def test_back_to_back_appointments_do_not_clash(clinic, practitioner, room):
    AppointmentFactory(
        practitioner=practitioner, room=room, start=thursday(10), end=thursday(11)
    )

    before = check(thursday(9), thursday(10), practitioner=practitioner, room=room)
    after = check(thursday(11), thursday(12), practitioner=practitioner, room=room)

    assert before == []
    assert after == []


@pytest.mark.parametrize(
    "status", [Appointment.Status.CANCELLED, Appointment.Status.NO_SHOW]
)
def test_cancelled_and_no_show_appointments_do_not_block(
    clinic, practitioner, room, status
):
    AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=thursday(10),
        end=thursday(11),
        status=status,
        cancel_reason="Patient is unwell",
    )

    assert check(thursday(10), thursday(11), practitioner=practitioner, room=room) == []


@pytest.mark.parametrize(
    "status", [Appointment.Status.CHECKED_IN, Appointment.Status.COMPLETED]
)
def test_checked_in_and_completed_appointments_still_block(
    clinic, practitioner, room, status
):
    AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=thursday(10),
        end=thursday(11),
        status=status,
    )

    problems = check(thursday(10), thursday(11), practitioner=practitioner, room=room)

    assert codes(problems) == ["practitioner_clash", "room_clash"]


def test_other_practitioners_in_other_rooms_do_not_block(
    clinic, practitioner, other_practitioner, room, other_room
):
    AppointmentFactory(
        practitioner=other_practitioner,
        room=other_room,
        start=thursday(10),
        end=thursday(11),
    )

    assert check(thursday(10), thursday(11), practitioner=practitioner, room=room) == []


def test_an_appointment_being_moved_does_not_clash_with_itself(
    clinic, practitioner, room
):
    moving = AppointmentFactory(
        practitioner=practitioner, room=room, start=thursday(10), end=thursday(11)
    )

    availability = Availability.load(
        start=thursday(10, 30),
        end=thursday(11, 30),
        practitioner_ids=[practitioner.pk],
        room_ids=[room.pk],
        exclude_ids=[moving.pk],
    )

    assert (
        availability.problems(
            start=thursday(10, 30),
            end=thursday(11, 30),
            practitioner=practitioner,
            room=room,
            now=NOW,
        )
        == []
    )


def test_it_finds_a_long_booking_behind_a_shorter_later_one():
    # Bookings added in memory (a series proposal) may overlap one another.
    grace = Practitioner(
        pk=1, user=User(first_name="Grace", last_name="Hopper"), title="nurse"
    )
    room = Room(pk=1, name="Room 1")
    availability = Availability(tz=LONDON)
    day = datetime(2026, 11, 26, tzinfo=LONDON)
    availability.add_bookings(
        [
            Booked(1, 1, 2, day.replace(hour=9), day.replace(hour=17), "long"),
            Booked(2, 1, 3, day.replace(hour=10), day.replace(hour=10, minute=30), "x"),
        ]
    )

    problems = availability.clashes(
        start=day.replace(hour=12),
        end=day.replace(hour=13),
        practitioner=grace,
        room=room,
    )

    assert messages(problems) == [
        "Grace Hopper is already booked on Thu 26 Nov 2026, 09:00-17:00 (long)."
    ]


# Past times, inactive rooms and practitioners, impossible slots


def test_it_refuses_a_time_that_has_already_passed(clinic, practitioner, room):
    problems = check(
        thursday(10),
        thursday(11),
        practitioner=practitioner,
        room=room,
        now=thursday(10, 1),
    )

    assert codes(problems) == ["past"]
    assert not problems[0].overridable


def test_a_slot_starting_right_now_is_not_in_the_past(clinic, practitioner, room):
    problems = check(
        thursday(10),
        thursday(11),
        practitioner=practitioner,
        room=room,
        now=thursday(10),
    )

    assert problems == []


def test_it_refuses_a_room_that_is_not_in_use(clinic, practitioner, room):
    room.is_active = False
    room.save()

    problems = check(thursday(10), thursday(11), practitioner=practitioner, room=room)

    assert codes(problems) == ["room_inactive"]
    assert messages(problems) == ["Room 1 is not in use."]
    assert not problems[0].overridable


def test_it_refuses_a_practitioner_who_takes_no_bookings(clinic, practitioner, room):
    practitioner.is_active = False
    practitioner.save()

    problems = check(thursday(10), thursday(11), practitioner=practitioner, room=room)

    assert codes(problems) == ["practitioner_inactive"]
    assert messages(problems) == [f"{practitioner} is not taking bookings."]
    assert not problems[0].overridable


@pytest.mark.parametrize("minutes", [0, -30])
def test_it_refuses_an_end_that_is_not_after_the_start(
    clinic, practitioner, room, minutes
):
    problems = check(
        thursday(10),
        thursday(10) + timedelta(minutes=minutes),
        practitioner=practitioner,
        room=room,
    )

    assert codes(problems) == ["end_before_start"]


def test_it_refuses_an_appointment_that_runs_past_midnight(clinic, practitioner, room):
    problems = check(
        thursday(23), clinic_time(2026, 11, 27, 1), practitioner=practitioner, room=room
    )

    assert codes(problems) == ["spans_days"]
    assert not problems[0].overridable


def test_it_refuses_an_appointment_that_ends_at_a_later_midnight(
    clinic, practitioner, room
):
    problems = check(
        thursday(10), clinic_time(2026, 11, 28, 0), practitioner=practitioner, room=room
    )

    assert codes(problems) == ["spans_days"]


def test_an_appointment_may_end_at_midnight(clinic, practitioner, room):
    problems = check(
        thursday(23), clinic_time(2026, 11, 27, 0), practitioner=practitioner, room=room
    )

    assert "spans_days" not in codes(problems)
    assert "outside_opening" in codes(problems)


# Daylight saving time


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Europe/London", date(2026, 3, 29)),
        ("Europe/London", date(2026, 10, 25)),
        ("America/New_York", date(2026, 3, 8)),
        ("America/New_York", date(2026, 11, 1)),
    ],
)
def test_opening_hours_are_read_on_the_local_clock_when_the_clocks_change(
    settings, practitioner, room, zone, day
):
    settings.TIME_ZONE = zone
    open_on_sundays(practitioner)
    tz = ZoneInfo(zone)
    now = datetime.combine(day - timedelta(days=7), time(8), tz)

    def at(hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tz)

    def problem_codes(start: datetime, end: datetime) -> list[str]:
        return codes(check(start, end, practitioner=practitioner, room=room, now=now))

    assert problem_codes(at(9), at(10)) == []
    assert problem_codes(at(17), at(18)) == []
    assert "outside_opening" in problem_codes(at(8), at(9))
    assert "outside_opening" in problem_codes(at(17, 30), at(18, 30))


def test_a_clash_on_the_day_the_clocks_go_forward_is_shown_on_the_local_clock(
    practitioner, room, patient
):
    AppointmentFactory(
        practitioner=practitioner,
        patient=patient,
        start=datetime(2026, 3, 29, 10, tzinfo=LONDON),
        end=datetime(2026, 3, 29, 11, tzinfo=LONDON),
    )
    start = datetime(2026, 3, 29, 9, 15, tzinfo=UTC)  # 10:15 BST
    availability = Availability.load(start=start, end=start + timedelta(hours=1))

    problems = availability.clashes(
        start=start,
        end=start + timedelta(hours=1),
        practitioner=practitioner,
        room=room,
    )

    assert messages(problems) == [
        f"{practitioner} is already booked on Sun 29 Mar 2026, 10:00-11:00 "
        "(consultation with Ada Lovelace)."
    ]


def test_across_the_skipped_hour_clashes_count_real_time(practitioner, room):
    # 00:30 GMT to 02:30 BST is one hour; 02:30 to 03:30 BST starts when it ends.
    AppointmentFactory(
        practitioner=practitioner,
        start=datetime(2026, 3, 29, 0, 30, tzinfo=LONDON),
        end=datetime(2026, 3, 29, 2, 30, tzinfo=LONDON),
    )
    window = (
        datetime(2026, 3, 29, tzinfo=LONDON),
        datetime(2026, 3, 30, tzinfo=LONDON),
    )
    availability = Availability.load(start=window[0], end=window[1])

    def clash_codes(start: datetime, end: datetime) -> list[str]:
        return codes(
            availability.clashes(
                start=start, end=end, practitioner=practitioner, room=room
            )
        )

    assert (
        clash_codes(
            datetime(2026, 3, 29, 2, 30, tzinfo=LONDON),
            datetime(2026, 3, 29, 3, 30, tzinfo=LONDON),
        )
        == []
    )
    assert clash_codes(
        datetime(2026, 3, 29, 1, 15, tzinfo=UTC),  # 02:15 BST
        datetime(2026, 3, 29, 3, 30, tzinfo=LONDON),
    ) == ["practitioner_clash"]


@pytest.mark.parametrize(
    ("zone", "day"),
    [("Europe/London", date(2026, 10, 25)), ("America/New_York", date(2026, 11, 1))],
)
def test_the_repeated_hour_is_two_different_hours_for_clashes(
    settings, practitioner, room, zone, day
):
    settings.TIME_ZONE = zone
    first = datetime.combine(day, time(1), ZoneInfo(zone))  # summer time
    second = first.replace(fold=1)  # the same wall clock, an hour later
    AppointmentFactory(
        practitioner=practitioner, start=first, end=first + timedelta(minutes=45)
    )
    availability = Availability.load(
        start=first - timedelta(hours=2), end=first + timedelta(hours=4)
    )

    def clash_codes(start: datetime, end: datetime) -> list[str]:
        return codes(
            availability.clashes(
                start=start, end=end, practitioner=practitioner, room=room
            )
        )

    assert clash_codes(second, second.replace(minute=45)) == []
    assert clash_codes(first.replace(minute=30), second.replace(minute=15)) == [
        "practitioner_clash"
    ]


@pytest.mark.parametrize(
    ("zone", "day"),
    [("Europe/London", date(2027, 10, 31)), ("America/New_York", date(2027, 11, 7))],
)
def test_a_slot_ending_in_the_repeated_hour_ends_after_it_starts(
    settings, practitioner, room, zone, day
):
    """01:30 to the second 01:30 is an hour: Python compares two times of one
    zone by their wall clocks, which read the same."""
    settings.TIME_ZONE = zone
    start = datetime.combine(day, time(1, 30), ZoneInfo(zone))
    end = timezone.localtime(start.astimezone(UTC) + timedelta(hours=1))
    availability = Availability.load(
        start=start - timedelta(hours=2), end=start + timedelta(hours=4)
    )
    now = start - timedelta(days=1)

    found = codes(
        availability.problems(
            start=start, end=end, practitioner=practitioner, room=room, now=now
        )
    ) + codes(
        availability.practitioner_problems(
            start=start, end=end, practitioner=practitioner, now=now
        )
    )

    assert end.replace(tzinfo=None) == start.replace(tzinfo=None)
    assert "end_before_start" not in found
    # Shown as 01:30-01:30 on every page and email: refused even to a manager.
    assert set(found) == {"clock_change", "closed_weekday", "not_working"}
    assert not any(
        p.overridable
        for p in availability.problems(
            start=start, end=end, practitioner=practitioner, room=room, now=now
        )
        if p.code == "clock_change"
    )


def test_the_clock_change_refusal_names_the_night_it_happens(
    settings, practitioner, room
):
    """From Saturday 23:30, two hours: the clocks go forward on the Sunday."""
    settings.TIME_ZONE = "Europe/London"
    start = datetime(2027, 3, 27, 23, 30, tzinfo=ZoneInfo("Europe/London"))
    availability = Availability.load(
        start=start - timedelta(hours=2), end=start + timedelta(hours=4)
    )

    [problem] = [
        p
        for p in availability.problems(
            start=start,
            end=start + timedelta(hours=2),
            practitioner=practitioner,
            room=room,
            now=start - timedelta(days=1),
        )
        if p.code == "clock_change"
    ]

    assert "on Sun 28 Mar 2027" in problem.message


@pytest.mark.parametrize(
    ("zone", "start", "end", "refused"),
    [
        # Starting in the hour that happens twice (the first 01:10).
        ("Europe/London", (2027, 10, 31, 1, 10), (2027, 10, 31, 2, 40), True),
        # Ending in it, from before.
        ("Europe/London", (2027, 10, 31, 0, 30), (2027, 10, 31, 1, 30), True),
        # Across the hour skipped when the clocks go forward: 3 h on the clock, 2 h.
        ("Europe/London", (2027, 3, 28, 0, 30), (2027, 3, 28, 3, 30), True),
        ("America/New_York", (2027, 11, 7, 0, 30), (2027, 11, 7, 1, 30), True),
        # The clinic's day on a night the clocks changed: nothing to say.
        ("Europe/London", (2027, 10, 31, 10, 0), (2027, 10, 31, 11, 0), False),
        ("Europe/London", (2027, 3, 28, 3, 0), (2027, 3, 28, 4, 0), False),
        ("Europe/London", (2027, 10, 31, 2, 0), (2027, 10, 31, 3, 0), False),
    ],
)
def test_a_slot_touching_the_hour_the_clocks_change_is_refused(
    settings, practitioner, room, zone, start, end, refused
):
    settings.TIME_ZONE = zone
    tz = ZoneInfo(zone)
    start, end = datetime(*start, tzinfo=tz), datetime(*end, tzinfo=tz)
    availability = Availability.load(
        start=start - timedelta(hours=2), end=end + timedelta(hours=2)
    )

    found = codes(
        availability.problems(
            start=start,
            end=end,
            practitioner=practitioner,
            room=room,
            now=start - timedelta(days=1),
        )
    )

    assert ("clock_change" in found) is refused


def test_availability_follows_the_active_time_zone(practitioner, room, patient):
    with timezone.override(NEW_YORK):
        start = clinic_time(2026, 11, 26, 10)
        AppointmentFactory(
            practitioner=practitioner,
            patient=patient,
            start=start,
            end=start + timedelta(hours=1),
        )
        availability = Availability.load(start=start, end=start + timedelta(hours=1))
        problems = availability.clashes(
            start=start,
            end=start + timedelta(hours=1),
            practitioner=practitioner,
            room=room,
        )

    assert availability.tz == NEW_YORK
    assert start == datetime(2026, 11, 26, 15, tzinfo=UTC)
    assert messages(problems) == [
        f"{practitioner} is already booked on Thu 26 Nov 2026, 10:00-11:00 "
        "(consultation with Ada Lovelace)."
    ]


# local_datetime()


@pytest.mark.parametrize(
    ("zone", "day", "at", "message"),
    [
        (
            "Europe/London",
            date(2026, 3, 29),
            time(1, 0),
            "01:00 does not exist on Sun 29 Mar 2026: "
            "the clocks go forward that night.",
        ),
        (
            "Europe/London",
            date(2026, 3, 29),
            time(1, 30),
            "01:30 does not exist on Sun 29 Mar 2026: "
            "the clocks go forward that night.",
        ),
        (
            "America/New_York",
            date(2026, 3, 8),
            time(2, 0),
            "02:00 does not exist on Sun 8 Mar 2026: the clocks go forward that night.",
        ),
        (
            "America/New_York",
            date(2026, 3, 8),
            time(2, 59),
            "02:59 does not exist on Sun 8 Mar 2026: the clocks go forward that night.",
        ),
    ],
)
def test_local_datetime_rejects_a_time_skipped_when_the_clocks_go_forward(
    zone, day, at, message
):
    with pytest.raises(ValueError) as excinfo:
        local_datetime(day, at, ZoneInfo(zone))

    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("zone", "day", "at", "utc"),
    [
        ("Europe/London", date(2026, 3, 29), time(0, 59), datetime(2026, 3, 29, 0, 59)),
        ("Europe/London", date(2026, 3, 29), time(2, 0), datetime(2026, 3, 29, 1, 0)),
        ("Europe/London", date(2026, 11, 26), time(10), datetime(2026, 11, 26, 10)),
        ("Europe/London", date(2026, 6, 10), time(10), datetime(2026, 6, 10, 9)),
        ("America/New_York", date(2026, 3, 8), time(3, 0), datetime(2026, 3, 8, 7)),
        (
            "America/New_York",
            date(2026, 3, 8),
            time(1, 59),
            datetime(2026, 3, 8, 6, 59),
        ),
    ],
)
def test_local_datetime_converts_existing_times(zone, day, at, utc):
    assert local_datetime(day, at, ZoneInfo(zone)) == utc.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "day", "utc"),
    [
        ("Europe/London", date(2026, 10, 25), datetime(2026, 10, 25, 0, 30)),
        ("America/New_York", date(2026, 11, 1), datetime(2026, 11, 1, 5, 30)),
    ],
)
def test_local_datetime_takes_the_first_of_a_repeated_hour(zone, day, utc):
    # Compared in UTC: Python never calls an ambiguous local time equal to
    # a time in another zone.
    result = local_datetime(day, time(1, 30), ZoneInfo(zone))

    assert result.astimezone(UTC) == utc.replace(tzinfo=UTC)


def test_local_datetime_defaults_to_the_clinic_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"

    assert local_datetime(date(2026, 11, 26), time(10)) == datetime(
        2026, 11, 26, 15, tzinfo=UTC
    )


# Cost


@pytest.mark.parametrize("bookings", [1, 40])
def test_loading_the_calendar_takes_five_queries_whatever_the_number_of_bookings(
    clinic, practitioner, room, django_assert_num_queries, bookings
):
    monday = clinic_time(2026, 11, 23, 9)
    for n in range(bookings):
        start = monday + timedelta(days=n % 6, hours=n // 6 % 8)
        AppointmentFactory(
            patient=PatientFactory(),
            practitioner=PractitionerFactory(),
            room=RoomFactory(),
            start=start,
            end=start + timedelta(hours=1),
        )
        TimeOffFactory(
            practitioner=practitioner, start=start, end=start + timedelta(minutes=5)
        )
    ClosureDay.objects.create(date=date(2026, 11, 28))
    week = (monday - timedelta(hours=9), monday + timedelta(days=7))

    with django_assert_num_queries(5):
        availability = Availability.load(start=week[0], end=week[1])
        found = [
            availability.problems(
                start=b.start,
                end=b.end,
                practitioner=practitioner,
                room=room,
                now=NOW,
            )
            for bookings_list in availability.by_room.values()
            for b in bookings_list
        ]
    with django_assert_num_queries(5):
        Availability.load(
            start=week[0],
            end=week[1],
            practitioner_ids=[practitioner.pk],
            room_ids=[room.pk],
        )

    assert len(found) == bookings
    assert all("time_off" in codes(problems) for problems in found)


def test_messages_write_days_without_a_leading_zero():
    moment = timezone.make_aware(datetime(2026, 12, 3, 10, 0))

    assert when_text(moment) == "Thu 3 Dec 2026, 10:00"
    assert day_text(moment.date()) == "Thu 3 Dec 2026"


def test_away_for_all_working_hours_is_time_off_over_every_block():
    from clinic.scheduling import away_all_working_hours

    tz = ZoneInfo("Europe/London")
    day = date(2026, 12, 9)
    blocks = [(time(9), time(13)), (time(14), time(18))]

    def off(start: int, end: int) -> tuple[datetime, datetime]:
        return datetime.combine(day, time(start), tz), datetime.combine(
            day, time(end), tz
        )

    assert away_all_working_hours(day, blocks, [off(8, 19)], tz)
    assert away_all_working_hours(day, blocks, [off(9, 13), off(14, 18)], tz)
    assert not away_all_working_hours(day, blocks, [off(9, 13)], tz)
    assert not away_all_working_hours(day, blocks, [], tz)
    assert not away_all_working_hours(day, [], [off(0, 23)], tz)
