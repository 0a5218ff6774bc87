"""Patient search, registration and the patient page."""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from clinic import services
from clinic.forms import (
    BookFromCalendarForm,
    PatientForm,
    PatientSearchForm,
    booking_from_calendar,
)
from clinic.models import Appointment, Patient
from clinic.views.common import staff_view, unsaved_values

PATIENTS_PER_PAGE = 25


@staff_view("clinic.view_patient")
@require_safe
def patient_list(request: HttpRequest) -> HttpResponse:
    form = PatientSearchForm(request.GET)
    query = form.cleaned_data["q"].strip() if form.is_valid() else ""
    if not services.search_words(query):
        query = ""  # only commas or spaces: as if nothing was typed
    if form.errors:
        # Not every patient, as if nothing had been asked: say what was wrong.
        patients = Patient.objects.none()
    else:
        patients = services.search_patients(query)
    page = Paginator(patients, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "clinic/patient_list.html",
        {
            "form": form,
            "query": query,
            "page": page,
            # A day picked on a calendar: each patient is booked on it.
            "booking": booking_from_calendar(request.GET)
            if request.user.has_perm("clinic.add_appointment")
            else None,
        },
    )


@staff_view("clinic.add_patient")
def patient_create(request: HttpRequest) -> HttpResponse:
    booking = (
        booking_from_calendar(request.GET)
        if request.user.has_perm("clinic.add_appointment")
        else None
    )
    form = PatientForm(
        request.POST or None,
        booking_query=booking.booking_query()
        if booking is not None and booking.is_valid()
        else "",
    )
    if request.method == "POST":
        with transaction.atomic():
            # The form looks for a namesake: no other registration meanwhile.
            services.hold_registration_lock()
            if form.is_valid():
                patient = form.save()
                messages.success(
                    request, _("%(name)s is registered.") % {"name": patient.full_name}
                )
                if booking is not None and booking.is_valid():
                    # Registered to be booked on a day picked on a calendar.
                    return redirect(_booking_url(patient, booking))
                return redirect(patient)
    return render(
        request, "clinic/patient_form.html", {"form": form, "booking": booking}
    )


def _booking_url(patient: Patient, booking: BookFromCalendarForm) -> str:
    path = reverse("clinic:appointment_book", args=[patient.pk])
    return f"{path}?{booking.booking_query()}"


@staff_view("clinic.change_patient")
def patient_edit(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.save_patient_details(
                form.save(commit=False),
                seen=form.cleaned_data["seen"],
                keep_stored_consent=form.consent_left_as_shown,
                by=request.user,
            )
        except services.StalePage as error:
            # Their page showed the details as they were: show today's, with
            # what they typed beside them to copy from.
            messages.error(request, " ".join(error.messages))
            typed = form
            form = PatientForm(instance=get_object_or_404(Patient, pk=pk))
            return render(
                request,
                "clinic/patient_form.html",
                {
                    "form": form,
                    "patient": form.instance,
                    "unsaved": unsaved_values(
                        typed, form, request.POST.get("changed_fields")
                    ),
                },
            )
        messages.success(request, _("Changes saved."))
        if form.cleaned_data.get("consent_shown") == "1" and not patient.email_consent:
            if request.POST.get("email_consent"):
                messages.warning(
                    request,
                    _(
                        "The patient stopped emails while this page was open: "
                        "they stay off until the patient agrees again."
                    ),
                )
        return redirect(patient)
    if form.is_bound:
        # The form's checks wrote the typed values onto ``patient``: the page
        # names the patient as saved.
        patient = get_object_or_404(Patient, pk=pk)
    return render(
        request, "clinic/patient_form.html", {"form": form, "patient": patient}
    )


def _patient_panels(request: HttpRequest, patient: Patient) -> str:
    """Sections other apps add to the patient page (settings.CLINIC_PATIENT_PANELS).

    The core app knows nothing of plans or emails; they render their own part.
    """
    rendered = [
        import_string(path)(request, patient) for path in settings.CLINIC_PATIENT_PANELS
    ]
    return format_html_join("", "{}", ((html,) for html in rendered if html))


# The latest changes of a patient's details the page lists.
CHANGES_SHOWN = 30


def _latest_changes(patient: Patient) -> dict:
    """The latest CHANGES_SHOWN changes of the details, and whether there are
    older ones (the settings list them all): one query."""
    changes = list(patient.changes.select_related("by")[: CHANGES_SHOWN + 1])
    return {
        "changes": changes[:CHANGES_SHOWN],
        "more_changes": len(changes) > CHANGES_SHOWN,
    }


@staff_view("clinic.view_patient")
@require_safe
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    now = timezone.now()
    appointments = patient.appointments.select_related("practitioner__user", "room")
    return render(
        request,
        "clinic/patient_detail.html",
        {
            "patient": patient,
            "upcoming": appointments.filter(
                end__gte=now, status__in=Appointment.OPEN_STATUSES
            ).order_by("start"),
            # Done, missed and cancelled ones, newest first.
            "past": appointments.filter(
                Q(end__lt=now) | ~Q(status__in=Appointment.OPEN_STATUSES)
            ).order_by("-start")[:50],
            "consultations": patient.consultations.select_related(
                "appointment__practitioner__user", "decided_by"
            ).order_by("-appointment__start"),
            "panels": _patient_panels(request, patient),
            # Who changed the details, and from what (the latest first).
            **_latest_changes(patient),
        },
    )
