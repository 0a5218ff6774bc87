"""What the plan pages share: scoped lookups and error messages."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect

from plans import services
from plans.models import TreatmentPlan, TreatmentSession


def get_plan(pk: int) -> TreatmentPlan:
    return get_object_or_404(
        TreatmentPlan.objects.select_related(
            "patient",
            "protocol",
            "practitioner__user",
            "consultation__appointment",
            "consent_by",
        ),
        pk=pk,
    )


def get_session(pk: int) -> TreatmentSession:
    return get_object_or_404(
        TreatmentSession.objects.select_related(
            "plan__patient",
            "plan__protocol",
            "appointment__practitioner__user",
            "appointment__room",
        ),
        pk=pk,
    )


def show_errors(request: HttpRequest, error: services.PlanError) -> None:
    for message in error.messages:
        messages.error(request, message)


def to_the_ended_plan(
    request: HttpRequest, error: services.PlanEnded, plan: TreatmentPlan
) -> HttpResponse:
    """Completed or cancelled meanwhile (a colleague's page won): the plan's
    page says so, not the form over sessions no longer to change."""
    show_errors(request, error)
    return redirect(plan)


def refused_photo_key(session_pk: int) -> str:
    """Where a refused photo's typed fields wait for the record page (session)."""
    return f"refused-photo-{session_pk}"
