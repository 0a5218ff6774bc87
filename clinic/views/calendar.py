"""The day and week calendars."""

from collections import defaultdict
from datetime import date, timedelta

from django.db.models import Case, Q, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from clinic.forms import CalendarForm
from clinic.models import (
    Appointment,
    ClosureDay,
    OpeningHours,
    Practitioner,
    Room,
    TimeOff,
    WorkingHours,
    local_midnight,
)
from clinic.scheduling import away_all_working_hours
from clinic.scheduling.whereabouts import add_time_off_of_the_day, hours_on_the_day
from clinic.views.common import staff_view


def _calendar_params(request: HttpRequest) -> CalendarForm:
    form = CalendarForm(request.GET)
    # Bad values are dropped: the page falls back to its defaults, and says so
    # (see _address_errors).
    form.is_valid()
    return form


def _address_errors(params: CalendarForm, *, today: str) -> list[str]:
    """What in the address was not understood, and what the page shows instead."""
    instead = {"date": today}
    # A practitioner or room not in the list: said in the page's words.
    unknown = {
        "practitioner": _(
            "The address names no practitioner of the list: pick one from it."
        ),
        "room": _("The address names no room of the list: pick one from it."),
    }
    return [
        unknown.get(field) or f"{' '.join(errors)} {instead.get(field, '')}".strip()
        for field, errors in params.errors.items()
    ]


@staff_view("clinic.view_appointment")
@require_safe
def calendar(request: HttpRequest) -> HttpResponse:
    practitioner = Practitioner.objects.filter(
        user=request.user, is_active=True
    ).first()
    if practitioner is not None:
        return redirect(
            reverse("clinic:calendar_week") + f"?practitioner={practitioner.pk}"
        )
    return redirect("clinic:calendar_day")


def _day_info(days: list[date]) -> dict[date, dict]:
    """Opening hours and closures for each day (two queries)."""
    closures = dict(
        ClosureDay.objects.filter(date__in=days).values_list("date", "reason")
    )
    hours = defaultdict(list)
    for opening in OpeningHours.objects.all():
        hours[opening.weekday].append(opening)
    today = timezone.localdate()
    return {
        day: {
            "date": day,
            "closure": closures.get(day),
            "is_closure": day in closures,
            "hours": hours.get(day.weekday(), []),
            "is_today": day == today,
            "is_past": day < today,
        }
        for day in days
    }


def _add_practitioners_days(week: list[dict], practitioner: Practitioner) -> None:
    """Each day's working hours and time off of the practitioner whose week it
    is (two queries): a day with nothing booked is free only when they work."""
    working = defaultdict(list)
    for block in WorkingHours.objects.filter(practitioner=practitioner).order_by(
        "start"
    ):
        working[block.weekday].append(block)
    first, last = week[0]["date"], week[-1]["date"]
    away = list(
        TimeOff.objects.filter(
            practitioner=practitioner,
            start__lt=local_midnight(last + timedelta(days=1)),
            end__gt=local_midnight(first),
        )
    )
    tz = timezone.get_current_timezone()
    for day in week:
        blocks = working.get(day["date"].weekday(), [])
        opens, closes = (
            local_midnight(day["date"]),
            local_midnight(day["date"] + timedelta(days=1)),
        )
        today_off = [t for t in away if t.start < closes and t.end > opens]
        day["working"] = blocks
        # Each stretch of time off as the day sees it: its hours, or all day.
        day["time_off"] = [
            {"reason": t.reason, "hours": hours_on_the_day(t, opens, closes)}
            for t in today_off
        ]
        # Away for all the hours they work that day: not free.
        day["away"] = away_all_working_hours(
            day["date"],
            [(block.start, block.end) for block in blocks],
            [(t.start, t.end) for t in today_off],
            tz,
        )


def _bookable(day: dict, subject, *, works: bool, away: bool) -> bool:
    """Whether a calendar offers to book a consultation on the day with the
    practitioner (or in the room): not over, the clinic open, they in use,
    working and not away all day; today, not after closing. The booking page
    checks the time itself."""
    closed_for_today = day["is_today"] and all(
        timezone.localtime().time() >= hours.closes for hours in day["hours"]
    )
    return (
        not day["is_past"]
        and not day["is_closure"]
        and bool(day["hours"])
        and not closed_for_today
        and subject is not None
        and subject.is_active
        and works
        and not away
    )


def _nothing_on(appointments: list[Appointment]) -> bool:
    """None, or only cancelled or missed ones: the column still says why it
    is empty (free, not working, away, closed)."""
    return not any(a.status in Appointment.ACTIVE_STATUSES for a in appointments)


@staff_view("clinic.view_appointment")
@require_safe
def calendar_day(request: HttpRequest) -> HttpResponse:
    params = _calendar_params(request)
    day = params.cleaned_data.get("date") or timezone.localdate()
    by_room = request.GET.get("by") == "room"
    appointments = Appointment.objects.on_day(day).listed()
    key = "room_id" if by_room else "practitioner_id"
    by_resource = defaultdict(list)
    for appointment in appointments:
        by_resource[getattr(appointment, key)].append(appointment)
    # Those in use, and one taken out of use with appointments on the day
    # (those of the days before they stopped), under their own name.
    shown = Q(is_active=True) | Q(pk__in=list(by_resource))
    if by_room:
        resources = list(Room.objects.filter(shown))
    else:
        resources = list(Practitioner.objects.filter(shown).select_related("user"))
        add_time_off_of_the_day(resources, day)
    columns = [(r, by_resource.get(r.pk, [])) for r in resources]
    info = _day_info([day])[day]
    for resource, items in columns:
        resource.nothing_on = _nothing_on(items)
        resource.bookable = _bookable(
            info,
            resource,
            works=by_room or resource.works_today,
            away=not by_room and resource.away_all_day,
        )
    return render(
        request,
        "clinic/calendar_day.html",
        {
            "day": info,
            "by_room": by_room,
            "show_room": not by_room,
            "columns": columns,
            "previous": day - timedelta(days=1),
            "next": day + timedelta(days=1),
            "today": timezone.localdate(),
            "can_check_in": request.user.has_perm("clinic.check_in_appointment"),
            "now": timezone.now(),
            "address_errors": _address_errors(params, today=_("Showing today.")),
        },
    )


@staff_view("clinic.view_appointment")
@require_safe
def calendar_week(request: HttpRequest) -> HttpResponse:
    params = _calendar_params(request)
    day = params.cleaned_data.get("date") or timezone.localdate()
    monday = day - timedelta(days=day.weekday())
    days = [monday + timedelta(days=i) for i in range(7)]
    room = params.cleaned_data.get("room")
    practitioner = params.cleaned_data.get("practitioner")
    if room is None and practitioner is None:
        # A practitioner's own week; anyone else's first look is at the first
        # practitioner's, with the others a pick away (one query either way).
        practitioner = (
            Practitioner.objects.filter(is_active=True)
            .select_related("user")
            .order_by(
                Case(When(user=request.user, then=0), default=1),
                *Practitioner._meta.ordering,
            )
            .first()
        )
    appointments = Appointment.objects.filter(
        start__gte=local_midnight(monday),
        start__lt=local_midnight(days[-1] + timedelta(days=1)),
    ).listed()
    if room is not None:
        appointments = appointments.filter(room=room)
        subject = room
    elif practitioner is not None:
        appointments = appointments.filter(practitioner=practitioner)
        subject = practitioner
    else:
        appointments = appointments.none()
        subject = None
    by_day = defaultdict(list)
    for appointment in appointments:
        by_day[timezone.localdate(appointment.start)].append(appointment)
    info = _day_info(days)
    week = [
        {
            **info[d],
            "appointments": by_day.get(d, []),
            "nothing_on": _nothing_on(by_day.get(d, [])),
        }
        for d in days
    ]
    if room is None and practitioner is not None:
        _add_practitioners_days(week, practitioner)
    for day in week:
        # A consultation may be booked from the calendar on this day.
        day["bookable"] = _bookable(
            day,
            subject,
            works=room is not None or bool(day.get("working")),
            away=room is None and day.get("away", False),
        )
    return render(
        request,
        "clinic/calendar_week.html",
        {
            "week": week,
            "address_errors": _address_errors(params, today=_("Showing this week.")),
            "subject": subject,
            "room": room,
            "practitioner": practitioner,
            "params": CalendarForm(
                initial={"date": day, "room": room, "practitioner": practitioner}
            ),
            "previous": monday - timedelta(days=7),
            "next": monday + timedelta(days=7),
            "monday": monday,
            "sunday": days[-1],
        },
    )
