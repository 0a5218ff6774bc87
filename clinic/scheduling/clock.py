"""Wall-clock time in the clinic's zone: 10:00 stays 10:00 across a clock change."""

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from django.utils import formats, timezone
from django.utils.translation import gettext as _

CLOCK_CHANGE = timedelta(hours=1)


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


def when_text(moment: datetime) -> str:
    """A moment as messages show it, in the clinic's zone: "Thu 3 Dec 2026, 10:00"."""
    return formats.date_format(timezone.localtime(moment), "D j M Y, H:i")


def span_text(start: datetime, end: datetime) -> str:
    """An appointment's time as messages show it: "Thu 3 Dec 2026, 10:00-11:00"."""
    return f"{when_text(start)}-{timezone.localtime(end):%H:%M}"


def day_text(day: date) -> str:
    """A day as messages show it: "Thu 3 Dec 2026"."""
    return formats.date_format(day, "D j M Y")


def shift_wall_clock(start: datetime, delta: timedelta) -> datetime:
    """Shift by a wall-clock amount: 10:00 plus 7 days is 10:00 across a DST change."""
    local = timezone.localtime(start)
    naive = local.replace(tzinfo=None) + delta
    return timezone.make_aware(naive, local.tzinfo)


def clock_changes(day: date, tz: tzinfo) -> bool:
    midnight = datetime.combine(day, time(0), tz)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tz)
    return midnight.utcoffset() != next_midnight.utcoffset()


def wall_clock(day: date, moment: time, tz: tzinfo) -> datetime:
    """That wall-clock time in UTC, or near it on a day it doesn't exist."""
    return datetime.combine(day, moment, tz).astimezone(UTC)


def away_all_working_hours(
    day: date,
    blocks: Iterable[tuple[time, time]],
    away: Iterable[tuple[datetime, datetime]],
    tz: tzinfo,
) -> bool:
    """Whether time off (start, end) covers every block of a practitioner's
    working hours on ``day``: a day with no free time, though not a whole one
    away. False on a day they don't work."""
    away = sorted(away)
    blocks = list(blocks)
    return bool(blocks) and all(
        _covered(
            away, datetime.combine(day, opens, tz), datetime.combine(day, closes, tz)
        )
        for opens, closes in blocks
    )


def _covered(spans: list, start: datetime, end: datetime) -> bool:
    """Whether (start, end) spans, sorted, cover start to end between them:
    time off written as one row or as several back to back."""
    reached = start
    for span_start, span_end in spans:
        if span_start > reached:
            break
        reached = max(reached, span_end)
    return reached >= end
