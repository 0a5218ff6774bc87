"""Bookings in a calendar snapshot: start-sorted lists, the time windows they
were loaded for, and the query that loads rooms' bookings inside windows."""

from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from clinic.models import (
    Appointment,
    Patient,
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


class RoomsNotLoaded(LookupError):
    """The snapshot holds no bookings of that room at that time."""


class Booked(NamedTuple):
    # A named tuple, not a dataclass: a year of a practitioner's bookings is
    # thousands of them, and a tuple is made several times faster.
    id: int
    practitioner_id: int
    room_id: int
    start: datetime
    end: datetime
    label: str = ""  # what it is, when it isn't an appointment in the database
    kind: str = ""
    patient: str = ""
    # The patient's own appointment with someone else, held against the
    # practitioner the snapshot books for: the patient is in one place at a time.
    patients_own: bool = False

    @property
    def description(self) -> str:
        # Built only when a clash is reported: a year of bookings loads fast.
        if self.label:
            return self.label
        if self.patients_own:
            return _("%(kind)s with another practitioner") % {
                "kind": Appointment.Kind(self.kind).label.lower()
            }
        return _("%(kind)s with %(patient)s") % {
            "kind": Appointment.Kind(self.kind).label.lower(),
            "patient": self.patient,
        }


def start_of(booking: Booked) -> datetime:
    return booking.start


def overlapping(bookings: list[Booked], start: datetime, end: datetime) -> list[Booked]:
    """Bookings in a start-sorted list that overlap [start, end)."""
    index = bisect_left(bookings, end, key=start_of)
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


def covered(
    windows: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> bool:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    index = bisect_left(windows, start, key=lambda window: window[0])
    # The window that covers [start, end) starts at ``start`` or before it.
    for candidate in windows[max(index - 1, 0) : index + 1]:
        if candidate[0] <= start and end <= candidate[1]:
            return True
    return False


def fetch_booked(appointments: QuerySet[Appointment]) -> list[Booked]:
    """The appointments as Booked, in the queryset's order (one query).

    Read straight off the cursor: a year of a practitioner's bookings is
    thousands of rows, and the ORM's per-value conversions would cost more than
    the query itself.
    """
    sql, params = appointments.values_list(*BOOKED_FIELDS).query.sql_with_params()
    return _read_booked(sql, params)


def _read_booked(sql: str, params: list) -> list[Booked]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        Booked(
            pk,
            practitioner_id,
            room_id,
            _utc(start),
            _utc(end),
            "",
            kind,
            f"{first} {last}",
        )
        for pk, practitioner_id, room_id, start, end, kind, first, last in rows
    ]


def _utc(moment: datetime) -> datetime:
    # PostgreSQL hands back aware datetimes; SQLite naive ones, in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def room_bookings(
    room_ids: list[int], windows: list[tuple[datetime, datetime]]
) -> list[Booked]:
    """Active bookings of the rooms that overlap any of the windows (one query).

    The windows are joined as a small table, so the database looks each one up
    on the (room, start) index; the same condition written as an OR of ranges
    makes SQLite read every booking and test every range on it.
    """
    if not room_ids or not windows:
        return []
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
    return _read_booked(sql, params)
