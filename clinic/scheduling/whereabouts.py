"""Who is in on a day: each practitioner's time off as the pages say it, and
whether they work that day and are away for all of it (the calendars, and the
manager's Today)."""

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.models import Practitioner, TimeOff, WorkingHours, local_midnight
from clinic.scheduling.clock import away_all_working_hours


def add_time_off_of_the_day(practitioners: list[Practitioner], day: date) -> None:
    """Each practitioner's time off on the day, as "13:00-17:30: reason", and
    whether they work that day and are away for all of it (two queries): the
    front desk sees who is away before booking, the manager who is in."""
    opens, closes = local_midnight(day), local_midnight(day + timedelta(days=1))
    away = defaultdict(list)
    spans = defaultdict(list)
    for off in TimeOff.objects.filter(
        practitioner__in=practitioners, start__lt=closes, end__gt=opens
    ).order_by("start"):
        away[off.practitioner_id].append(
            {"reason": off.reason, "hours": hours_on_the_day(off, opens, closes)}
        )
        spans[off.practitioner_id].append((off.start, off.end))
    # A column with nothing booked says whether that is free time, a day they
    # don't work, or one they are away for all their hours.
    blocks = defaultdict(list)
    for pid, start, end in WorkingHours.objects.filter(
        practitioner__in=practitioners, weekday=day.weekday()
    ).values_list("practitioner_id", "start", "end"):
        blocks[pid].append((start, end))
    tz = timezone.get_current_timezone()
    for practitioner in practitioners:
        practitioner.time_off_today = away.get(practitioner.pk, [])
        practitioner.works_today = bool(blocks.get(practitioner.pk))
        practitioner.away_all_day = away_all_working_hours(
            day, blocks.get(practitioner.pk, []), spans.get(practitioner.pk, []), tz
        )


# What people type for "to the end of the day": 23:59.
LAST_MINUTE = timedelta(minutes=1)


def hours_on_the_day(off: TimeOff, opens: datetime, closes: datetime) -> str:
    """ "13:00-17:30" of time off on one day, "all day" when it covers it
    (time off typed to 23:59 runs to the day's end)."""
    to_the_end = off.end >= closes - LAST_MINUTE
    if off.start <= opens and to_the_end:
        return _("all day")
    start = timezone.localtime(max(off.start, opens))
    end = "24:00" if to_the_end else f"{timezone.localtime(off.end):%H:%M}"
    return f"{start:%H:%M}-{end}"
