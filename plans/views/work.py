"""The work lists of the front desk and the practitioners."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from clinic.roles import is_practitioner
from clinic.views import staff_view
from plans.services import worklists


@staff_view("plans.view_treatmentplan")
@require_safe
def work_lists(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    return render(
        request,
        "plans/work_lists.html",
        {
            "waiting": worklists.eligible_without_plan(),
            "unbooked": worklists.plans_with_unbooked_sessions(),
            "at_risk": worklists.series_at_risk(now),
            "to_decide": worklists.consultations_to_decide(now),
            "writes_consultations": is_practitioner(request.user),
            "today": timezone.localdate(now),
        },
    )
