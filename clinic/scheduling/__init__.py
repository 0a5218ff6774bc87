"""Calendar rules: when may an appointment take place?

``Availability`` is a snapshot of everything that decides it (opening hours,
closure days, working hours, time off and the active bookings) for one window of
time, loaded in a fixed number of queries. Its ``problems()`` method is pure, so
checking one slot or a hundred candidate slots of a series costs no more queries.

availability.py loads the snapshot and finds free time; rules.py says what
stands against a slot; bookings.py keeps the bookings and loads rooms' bookings
inside time windows; clock.py handles wall-clock time across clock changes.
"""

from clinic.scheduling.availability import Availability
from clinic.scheduling.bookings import (
    LONGEST_APPOINTMENT,
    MAX_ROOM_WINDOWS,
    Booked,
    RoomsNotLoaded,
    merge_windows,
)
from clinic.scheduling.clock import (
    away_all_working_hours,
    day_text,
    local_datetime,
    shift_wall_clock,
    span_text,
    when_text,
)
from clinic.scheduling.rules import Problem

__all__ = [
    "away_all_working_hours",
    "day_text",
    "span_text",
    "when_text",
    "LONGEST_APPOINTMENT",
    "MAX_ROOM_WINDOWS",
    "Availability",
    "Booked",
    "Problem",
    "RoomsNotLoaded",
    "local_datetime",
    "merge_windows",
    "shift_wall_clock",
]
