"""Bookings in a calendar snapshot: start-sorted lists, the time windows they
were loaded for, and the query that loads rooms' bookings inside windows."""

from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.db import connection
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.models import (
    Appointment,
    Patient,
    local_midnight,
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
# Read as text on SQLite, where Python's sqlite3 would otherwise parse each one
# into a naive datetime that then needs its time zone: see _utc().
TEXT_TIMES = frozenset({"start", "end"})
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


def fetch_booked(
    appointments: QuerySet[Appointment], *more: QuerySet[Appointment]
) -> list[Booked]:
    """The appointments as Booked (one query): in the queryset's order, or, with
    ``more`` querysets (which must not share rows), all of them by start.

    Read straight off the cursor: a year of a practitioner's bookings is
    thousands of rows, and the ORM's per-value conversions would cost more than
    the query itself.
    """
    fields = [
        Cast(name, TextField()) if name in TEXT_TIMES and _times_as_text() else name
        for name in BOOKED_FIELDS
    ]
    query = appointments.values_list(*fields)
    if more:
        # UNION ALL of index ranges, sorted here: an OR of them in one WHERE
        # makes the database merge row ids and sort the rows itself.
        query = query.order_by().union(
            *(other.order_by().values_list(*fields) for other in more), all=True
        )
    sql, params = query.query.sql_with_params()
    booked = _read_booked(sql, params)
    if more:
        booked.sort(key=start_of)
    return booked


def _times_as_text() -> bool:
    return connection.vendor == "sqlite"


def _time_column(column: str) -> str:
    """A datetime column of raw SQL, as _read_booked() reads it."""
    return f"CAST({column} AS TEXT)" if _times_as_text() else column


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


def _utc(moment: datetime | str) -> datetime:
    # PostgreSQL hands back aware datetimes; SQLite the text it stores, in UTC.
    # Parsing that with its offset costs a fraction of parsing it naive and
    # then setting the zone with replace(), which counts on a year of bookings.
    if moment.__class__ is str:
        return _from_text(f"{moment}+00:00")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_from_text = datetime.fromisoformat


def _earliest_overlapping(moment: datetime) -> datetime:
    """The earliest start of a booking that may overlap ``moment``: the local
    midnight before it (a booking starts and ends on one day), and never more
    than the longest appointment before it."""
    midnight = local_midnight(timezone.localdate(moment))
    return max(midnight, moment - LONGEST_APPOINTMENT)


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
        # A booking that overlaps the window starts after this: an appointment
        # starts and ends on one day, so no earlier than the window's midnight.
        params += [
            ops.adapt_datetimefield_value(_earliest_overlapping(start)),
            ops.adapt_datetimefield_value(start),
            ops.adapt_datetimefield_value(end),
        ]
    statuses = list(Appointment.ACTIVE_STATUSES)
    params += [*room_ids, *statuses]
    sql = f"""
        WITH w (earliest, opens, closes) AS (
            VALUES {", ".join(["(%s, %s, %s)"] * len(windows))}
        )
        SELECT DISTINCT a.id, a.practitioner_id, a.room_id,
               {_time_column("a.start")}, {_time_column('a."end"')},
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
