"""The clinic's calendar settings (opening hours, closures, rooms, working hours,
time off) and the bookings a change of them would strand."""

from collections.abc import Iterable
from datetime import date, datetime, time

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from clinic.models.appointments import Appointment, AppointmentQuerySet
from clinic.models.people import Practitioner, validate_plain_text

# The farthest from today a date typed into a booking, a calendar or the
# settings may lie (date arithmetic on year 1 or 9999 would overflow).
MAX_DAYS_AWAY = 5 * 366


def within_reach(day: date | datetime) -> bool:
    """``day`` (a date, or a moment on the clinic's clock) is at most
    MAX_DAYS_AWAY from today."""
    try:
        if isinstance(day, datetime):
            day = timezone.localdate(day)
        return abs((day - timezone.localdate()).days) <= MAX_DAYS_AWAY
    except OverflowError:  # Year 1 in a zone behind UTC, say.
        return False


OUT_OF_REACH = _("Pick a date within five years of today.")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


# Joiners shape letters in several scripts, between two letters; other format
# characters (zero-width spaces, direction overrides, soft hyphens) only hide
# what a name is.


def validate_whole_minute(value) -> None:
    """Hours are kept to the minute: the series engine proposes times from them,
    and bookings are made to the minute."""
    if value.second or value.microsecond:
        raise ValidationError(
            _("Give the time in hours and minutes, like 09:00."), code="seconds"
        )


def stranded_error(
    appointments: list["Appointment"], what: str, *, where: str = "outside the hours"
) -> ValidationError:
    from clinic.scheduling.clock import when_text  # clock's package imports models

    shown = "; ".join(
        f"{when_text(a.start)} {a.patient} with {a.practitioner}"
        for a in appointments[:3]
    )
    more = len(appointments) - 3
    return ValidationError(
        ngettext(
            "%(what)s would leave %(n)s booked appointment %(where)s: "
            "%(shown)s%(more)s. Move or cancel it first.",
            "%(what)s would leave %(n)s booked appointments %(where)s: "
            "%(shown)s%(more)s. Move or cancel them first.",
            len(appointments),
        )
        % {
            "what": what,
            "where": where,
            "n": len(appointments),
            "shown": shown,
            "more": f" and {more} more" if more > 0 else "",
        }
    )


def _open_bookings(*, booked_outside_hours: bool = False) -> "AppointmentQuerySet":
    """Booked or checked-in appointments. A change of hours leaves out those a
    manager booked outside hours on purpose (with a reason); a closure or time
    off, which that reason never covered, takes them in
    (``booked_outside_hours``)."""
    open_ones = Appointment.objects.filter(
        status__in=Appointment.OPEN_STATUSES
    ).select_related("patient", "practitioner__user")
    if booked_outside_hours:
        return open_ones
    return open_ones.filter(override_reason="")


def joined_blocks(blocks: Iterable[tuple[time, time]]) -> list[tuple[time, time]]:
    """Blocks of hours in order, those that meet or overlap joined: 09:00-13:00
    and 13:00-14:00 are 09:00-14:00, bookable across 13:00."""
    joined: list[tuple[time, time]] = []
    for start, end in sorted(blocks):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


def bookings_outside_blocks(
    weekday: int,
    blocks: list[tuple["time", "time"]],
    *,
    practitioner_id: int | None = None,
) -> list["Appointment"]:
    """Upcoming open appointments on ``weekday`` (of one practitioner, or all)
    that no block of the day holds whole."""
    booked = _open_bookings().filter(
        start__gte=timezone.now(),
        # Django counts weekdays from Sunday = 1; ours from Monday = 0.
        start__week_day=(weekday + 1) % 7 + 1,
    )
    if practitioner_id is not None:
        booked = booked.filter(practitioner_id=practitioner_id)
    blocks = joined_blocks(blocks)
    stranded = []
    for appointment in booked.order_by("start"):
        start = timezone.localtime(appointment.start)
        end = timezone.localtime(appointment.end)
        if not any(
            opens <= start.time()
            and end.date() == start.date()
            and end.time() <= closes
            for opens, closes in blocks
        ):
            stranded.append(appointment)
    return stranded


def bookings_newly_outside(
    weekday: int,
    before: list[tuple["time", "time"]],
    after: list[tuple["time", "time"]],
    *,
    practitioner_id: int | None = None,
) -> list["Appointment"]:
    """The upcoming bookings on ``weekday`` that the blocks ``before`` held and
    the blocks ``after`` no longer do (one booked outside on purpose, with a
    manager's reason, is not held up by any change)."""
    if sorted(before) == sorted(after):
        return []
    outside_before = {
        a.pk
        for a in bookings_outside_blocks(
            weekday, before, practitioner_id=practitioner_id
        )
    }
    return [
        a
        for a in bookings_outside_blocks(
            weekday, after, practitioner_id=practitioner_id
        )
        if a.pk not in outside_before
    ]


def working_outside_opening(practitioner: "Practitioner") -> list[str]:
    """The practitioner's working hours that fall outside the clinic's opening
    hours, in words (two queries). Allowed (time for notes, say), but nothing
    can be booked then without a manager's override."""
    from clinic.scheduling.rules import _hours_text, _within  # rules import models

    opening: dict[int, list[tuple[time, time]]] = {}
    for weekday, opens, closes in OpeningHours.objects.values_list(
        "weekday", "opens", "closes"
    ):
        opening.setdefault(weekday, []).append((opens, closes))
    outside = []
    for block in practitioner.working_hours.order_by("weekday", "start"):
        blocks = joined_blocks(opening.get(block.weekday, []))
        if _within(blocks, block.start, block.end):
            continue
        outside.append(
            _("%(day)s %(hours)s (%(open)s)")
            % {
                "day": block.get_weekday_display(),
                "hours": _hours_text([(block.start, block.end)]),
                "open": _("open %(hours)s") % {"hours": _hours_text(blocks)}
                if blocks
                else _("the clinic is closed"),
            }
        )
    return outside


class WorkingHours(models.Model):
    """One block of a practitioner's regular week (several blocks a day allowed)."""

    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("from"), validators=[validate_whole_minute])
    end = models.TimeField(_("until"), validators=[validate_whole_minute])

    class Meta:
        ordering = ["practitioner", "weekday", "start"]
        # "The block of working hours ... was added", not "hours ... was".
        verbose_name = _("block of working hours")
        verbose_name_plural = _("working hours")
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")),
                name="working_hours_end_after_start",
                violation_error_message=_("The end must be after the start."),
            ),
        ]

    def __str__(self) -> str:
        hours = f"{self.start:%H:%M}-{self.end:%H:%M}"
        return f"{self.practitioner}: {self.get_weekday_display()} {hours}"


class TimeOff(models.Model):
    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.CASCADE, related_name="time_off"
    )
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    reason = models.CharField(
        _("reason"), max_length=200, blank=True, validators=[validate_plain_text]
    )

    class Meta:
        ordering = ["start"]
        verbose_name_plural = _("time off")
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")),
                name="time_off_end_after_start",
                violation_error_message=_("The end must be after the start."),
            ),
        ]

    def __str__(self) -> str:
        start, end = timezone.localtime(self.start), timezone.localtime(self.end)
        return f"{self.practitioner}: {start:%d %b %Y %H:%M} - {end:%d %b %Y %H:%M}"

    def clean(self) -> None:
        from clinic.services import hold_calendars  # services import models

        if self.practitioner_id is None or self.start is None or self.end is None:
            return
        stored = TimeOff.objects.filter(pk=self.pk).first() if self.pk else None
        # Only what is typed now: time off kept from years ago stays as it is.
        far = {
            name: OUT_OF_REACH
            for name in ("start", "end")
            if (stored is None or getattr(stored, name) != getattr(self, name))
            and not within_reach(getattr(self, name))
        }
        if far:
            raise ValidationError(far)
        changed = stored is None or (stored.start, stored.end) != (self.start, self.end)
        if changed and self.end <= timezone.now():
            # Like a closure: the calendar would show the time as held while away.
            raise ValidationError(
                {"end": _("That time has passed: time off ends later than now.")}
            )
        # Only what is typed now, as above: rows kept from before the rule,
        # or saved beside this one, don't hold up other changes of the page.
        same = (
            TimeOff.objects.filter(
                practitioner_id=self.practitioner_id,
                start__lt=self.end,
                end__gt=self.start,
            )
            .exclude(pk=self.pk)
            # Rows deleted in the same save (TimeOffFormSet): a replacement.
            .exclude(pk__in=getattr(self, "deleted_alongside", ()))
            .order_by("start")
            .first()
            if changed
            else None
        )
        if same is not None:
            from clinic.scheduling.clock import when_text  # see stranded_error

            # One stretch of time off, said once on the calendar.
            raise ValidationError(
                _(
                    "%(name)s already has time off from %(start)s until %(end)s, "
                    "which overlaps this: change that one instead."
                )
                % {
                    "name": self.practitioner,
                    "start": when_text(same.start),
                    "end": when_text(same.end),
                }
            )
        hold_calendars(practitioner_ids=[self.practitioner_id])
        booked = (
            _open_bookings(booked_outside_hours=True)
            .filter(practitioner_id=self.practitioner_id)
            .overlapping(self.start, self.end)
            # What is over took place (or was missed): nothing to move.
            .filter(end__gt=timezone.now())
            .order_by("start")
        )
        if stored is not None and stored.practitioner_id == self.practitioner_id:
            # Only what the change newly covers.
            booked = booked.exclude(start__lt=stored.end, end__gt=stored.start)
        booked = list(booked)
        if booked:
            raise stranded_error(booked, _("This time off"), where=_("during it"))


class Room(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # "Room 1" and "room 1" would be two rooms the front desk can't tell
            # apart in a list.
            models.UniqueConstraint(
                Lower("name"),
                name="room_unique_name_any_case",
                violation_error_message=_("A room with this name exists already."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class OpeningHours(models.Model):
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"), validators=[validate_whole_minute])
    closes = models.TimeField(_("closes"), validators=[validate_whole_minute])

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name = _("block of opening hours")
        verbose_name_plural = _("opening hours")
        constraints = [
            models.CheckConstraint(
                condition=Q(closes__gt=models.F("opens")),
                name="opening_hours_close_after_open",
                violation_error_message=_("Closing time must be after opening time."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class ClosureDay(models.Model):
    date = models.DateField(_("date"), unique=True)
    reason = models.CharField(
        _("reason"), max_length=200, blank=True, validators=[validate_plain_text]
    )

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%d %b %Y} {self.reason}".strip()

    def clean(self) -> None:
        from clinic.scheduling.clock import day_text  # see stranded_error
        from clinic.services import hold_calendars  # services import models

        if self.date is None:
            return
        if self.pk and ClosureDay.objects.filter(pk=self.pk, date=self.date).exists():
            return  # The same day, with another reason.
        if not within_reach(self.date):
            raise ValidationError({"date": OUT_OF_REACH})
        if self.date < timezone.localdate():
            # The calendar would show the day's appointments as held while closed.
            raise ValidationError(
                {"date": _("That day has passed: a closure is for today or later.")}
            )
        hold_calendars()
        booked = list(
            _open_bookings(booked_outside_hours=True)
            .on_day(self.date)
            # Closing today: the morning's appointments that are over stay.
            .filter(end__gt=timezone.now())
            .order_by("start")
        )
        if booked:
            raise stranded_error(
                booked,
                _("Closing on %(day)s") % {"day": day_text(self.date)},
                where=_("on a closed day"),
            )
