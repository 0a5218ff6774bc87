"""The start page: today's arrivals, my day and the manager's overview."""

from datetime import date, timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_safe

from clinic import roles
from clinic.forms import PatientSearchForm
from clinic.models import (
    Appointment,
    ClosureDay,
    Patient,
    Practitioner,
    local_midnight,
)
from clinic.scheduling.whereabouts import add_time_off_of_the_day


@login_required
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    user_roles = roles.user_roles(request.user)
    if not user_roles and not request.user.is_superuser:
        raise PermissionDenied(
            _("Your account has no clinic role yet. Ask the clinic manager to add one.")
        )
    today = timezone.localdate()
    todays = Appointment.objects.on_day(today).listed()
    context: dict = {
        "notices": _today_notices(request),
        "today": today,
        # Arrivals whose time has passed offer "No-show".
        "now": timezone.now(),
        "search_form": PatientSearchForm(),
    }

    if roles.FRONT_DESK in user_roles:
        context["arrivals"] = list(todays.exclude(status=Appointment.Status.CANCELLED))
    practitioner = Practitioner.objects.filter(user=request.user).first()
    if practitioner is not None:
        # As My day shows it: what is still on, done or missed, not cancelled.
        context["my_day"] = list(
            todays.filter(practitioner=practitioner).exclude(
                status=Appointment.Status.CANCELLED
            )
        )
        context["me"] = practitioner
    if roles.has_role(request.user, roles.MANAGER):
        closed = ClosureDay.objects.filter(date=today).first()
        by_status = dict(
            todays.order_by()
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        week_end = local_midnight(today + timedelta(days=7))
        context["overview"] = {
            "today": {
                label: by_status.get(value, 0)
                for value, label in Appointment.Status.choices
            },
            # Still to come: one seen early (completed) is no longer booked.
            "next_week": Appointment.objects.filter(
                status__in=Appointment.OPEN_STATUSES,
                start__gte=timezone.now(),
                start__lt=week_end,
            ).count(),
            "patients": Patient.objects.count(),
            # Accounts a manager may be asked to let sign in again: axes
            # counts the failures of a username from one address, over the
            # browsers it keeps apart. A name no account has is nobody's
            # account: anyone could make the count grow with made-up ones.
            "paused": len(
                {
                    row["username"]
                    for row in AccessAttempt.objects.filter(
                        attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME,
                        username__in=get_user_model().objects.values("username"),
                    )
                    .values("username", "ip_address")
                    .annotate(failures=Sum("failures_since_start"))
                    .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
                }
            ),
            "closed": closed,
            "load": _practitioners_today(today, closed=closed is not None),
        }
    return render(request, "clinic/dashboard.html", context)


def _practitioners_today(today: date, *, closed: bool) -> list[Practitioner]:
    """Each practitioner with their number of appointments today, whether they
    work today, their time off, and that in words (``status_today``; three
    queries). One no longer taking bookings still shows on a day they have
    appointments."""
    practitioners = list(
        Practitioner.objects.select_related("user")
        .annotate(
            today=Count(
                "appointments",
                filter=Q(
                    appointments__start__gte=local_midnight(today),
                    appointments__start__lt=local_midnight(today + timedelta(days=1)),
                    appointments__status__in=Appointment.ACTIVE_STATUSES,
                ),
            )
        )
        .filter(Q(is_active=True) | Q(today__gt=0))
    )
    add_time_off_of_the_day(practitioners, today)
    for practitioner in practitioners:
        practitioner.status_today = _status_today(practitioner, closed=closed)
    return practitioners


def _status_today(practitioner: Practitioner, *, closed: bool) -> str:
    """Their appointments, or why they have none: not "0 appointments" for
    someone who isn't in."""
    if practitioner.today:
        return ngettext(
            "%(n)d appointment", "%(n)d appointments", practitioner.today
        ) % {"n": practitioner.today}
    if closed:
        return _("clinic closed")
    if not practitioner.works_today:
        return _("not working today")
    if practitioner.away_all_day:
        return _("away today")
    return _("0 appointments")


def _today_notices(request: HttpRequest) -> str:
    """Notices other apps put at the top of the page (settings.CLINIC_TODAY_NOTICES)."""
    rendered = [import_string(path)(request) for path in settings.CLINIC_TODAY_NOTICES]
    return format_html_join("", "{}", ((html,) for html in rendered if html))
