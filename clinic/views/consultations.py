"""Consultations and the log of who opened a clinical record."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_safe

from clinic import services
from clinic.forms import ConsultationForm
from clinic.models import Appointment, ClinicalAccess, Consultation, Patient
from clinic.roles import is_practitioner
from clinic.scheduling import day_text
from clinic.services.consultations import (
    WRITTEN_BY_PRACTITIONER,
    medication_last_told,
)
from clinic.views.common import form_errors_from, id_from, staff_view, unsaved_values


@staff_view("clinic.change_consultation")
def consultation_record(request: HttpRequest, appointment_pk: int) -> HttpResponse:
    appointment = get_object_or_404(
        Appointment.objects.with_people(),
        pk=appointment_pk,
        kind=Appointment.Kind.CONSULTATION,
    )
    consultation = Consultation.objects.filter(appointment=appointment).first()
    if appointment.status in Appointment.LOST_STATUSES and request.method == "POST":
        # Cancelled while the practitioner wrote: what they typed is shown,
        # not dropped (the screening and medication matter at the next one).
        def as_saved() -> Consultation:
            # A fresh copy each: a form's check writes what it read onto its own.
            saved = Consultation.objects.filter(appointment=appointment).first()
            return saved or Consultation(appointment=appointment)

        typed = ConsultationForm(request.POST, instance=as_saved())
        typed.is_valid()
        return render(
            request,
            "clinic/not_saved.html",
            {
                "reason": _(
                    "This consultation was %(status)s while your page was open: "
                    "book a new one for the patient."
                )
                % {"status": appointment.status_phrase},
                "unsaved": unsaved_values(typed, ConsultationForm(instance=as_saved())),
                "back": appointment.get_absolute_url(),
                "back_label": _("Back to the appointment"),
            },
        )
    if appointment.status in Appointment.LOST_STATUSES:
        messages.info(
            request,
            _("This consultation was %(status)s: book a new one instead.")
            % {"status": appointment.status_phrase},
        )
        return redirect(consultation or appointment)
    if not is_practitioner(request.user):
        # A manager would type into a form that can't be saved.
        if request.method == "POST":
            raise PermissionDenied(WRITTEN_BY_PRACTITIONER)
        messages.info(request, WRITTEN_BY_PRACTITIONER)
        return redirect(consultation or appointment)
    medication_from = None
    if consultation is None:
        # A follow-up starts from the medication the patient last told of:
        # left out, the pre-care emails (which follow the latest consultation)
        # would stop asking them to pause it.
        medication_from = medication_last_told(appointment.patient, appointment.start)
        consultation = Consultation(
            appointment=appointment,
            patient=appointment.patient,
            skin_type=appointment.patient.skin_type,
            topical_medication=medication_from.topical_medication
            if medication_from
            else "",
        )
    if consultation.pk and request.method != "POST":
        # The form shows the screening and the decision: a clinical record.
        services.log_clinical_access(
            user=request.user,
            patient=appointment.patient,
            what="consultation",
            object_id=consultation.pk,
        )
    form = ConsultationForm(request.POST or None, instance=consultation)
    if request.method == "POST" and form.is_valid():
        try:
            consultation = services.record_consultation(
                consultation=form.save(commit=False),
                by=request.user,
                seen=form.cleaned_data["seen"],
            )
        except services.StalePage as error:
            # Their page showed it as it was: show it as saved now, with what
            # they typed beside it to copy from.
            messages.error(request, " ".join(error.messages))
            typed = form
            form = ConsultationForm(instance=_saved(consultation))
            services.log_clinical_access(
                user=request.user,
                patient=appointment.patient,
                what="consultation",
                object_id=form.instance.pk,
            )
            return render(
                request,
                "clinic/consultation_form.html",
                {
                    "form": form,
                    "appointment": appointment,
                    "consultation": form.instance,
                    "unsaved": unsaved_values(
                        typed, form, request.POST.get("changed_fields")
                    ),
                },
            )
        except services.BookingError as error:
            form_errors_from(error, form)
        else:
            told = getattr(consultation, "medication_told", [])
            no_emails = consultation.patient.no_emails_why
            if told:
                messages.info(
                    request,
                    (
                        _(
                            "%(patient)s gets no emails (%(why)s): tell them by "
                            "phone to stop %(medication)s before %(sessions)s."
                        )
                        if no_emails
                        else _(
                            "%(patient)s is emailed to stop %(medication)s before "
                            "%(sessions)s."
                        )
                    )
                    % {
                        "why": no_emails,
                        "patient": consultation.patient,
                        "medication": consultation.topical_medication,
                        "sessions": ngettext(
                            "the session of %(days)s",
                            "the sessions of %(days)s",
                            len(told),
                        )
                        % {
                            "days": ", ".join(
                                day_text(timezone.localdate(a.start)) for a in told
                            )
                        },
                    },
                )
            if consultation.is_eligible:
                messages.success(
                    request,
                    _(
                        "Consultation saved: eligible. The patient's treatment "
                        "plans are below: start one there if none is open."
                    ),
                )
                return redirect(consultation.patient)
            messages.success(request, _("Consultation saved."))
            if consultation.decision in (
                Consultation.Decision.NOT_ELIGIBLE,
                Consultation.Decision.REFER,
            ):
                _say_booked_sessions_stay(request, consultation)
            return redirect(consultation)
    return render(
        request,
        "clinic/consultation_form.html",
        {
            "form": form,
            "appointment": appointment,
            "consultation": consultation,
            "medication_from": medication_from,
        },
    )


def _say_booked_sessions_stay(request: HttpRequest, consultation: Consultation):
    """Not eligible (or referred) while a course is booked: the course is on
    hold, but its sessions stay booked until someone cancels them."""
    booked = Appointment.objects.filter(
        patient=consultation.patient,
        kind=Appointment.Kind.TREATMENT,
        status=Appointment.Status.BOOKED,
        start__gt=timezone.now(),
    ).count()
    if booked:
        messages.warning(
            request,
            ngettext(
                "%(patient)s still has %(n)s treatment session booked: the plan is "
                "on hold, but the session stays (and its emails go) until the "
                "front desk cancels it. Tell the front desk whether to.",
                "%(patient)s still has %(n)s treatment sessions booked: the plan "
                "is on hold, but the sessions stay (and their emails go) until the "
                "front desk cancels them. Tell the front desk whether to.",
                booked,
            )
            % {"patient": consultation.patient, "n": booked},
        )


def _saved(consultation: Consultation) -> Consultation:
    saved = Consultation.objects.filter(
        appointment_id=consultation.appointment_id
    ).first()
    return saved or consultation


@staff_view("clinic.view_consultation")
@require_safe
def consultation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = get_object_or_404(
        Consultation.objects.select_related(
            "patient", "appointment__practitioner__user", "decided_by"
        ),
        pk=pk,
    )
    # The screening and the reason for a decision are clinical: the front desk
    # sees the decision only, and every opening by a clinician is logged.
    show_clinical = request.user.has_perm("clinic.change_consultation")
    can_edit = show_clinical and is_practitioner(request.user)
    if show_clinical:
        services.log_clinical_access(
            user=request.user,
            patient=consultation.patient,
            what="consultation",
            object_id=consultation.pk,
        )
    return render(
        request,
        "clinic/consultation_detail.html",
        {
            "consultation": consultation,
            "show_clinical": show_clinical,
            "can_edit": can_edit,
            # What it said before each change: clinical too.
            "changes": list(consultation.changes.select_related("changed_by"))
            if show_clinical
            else [],
        },
    )


@staff_view("clinic.view_clinicalaccess")
@require_safe
def access_log(request: HttpRequest) -> HttpResponse:
    """Who opened which patient's clinical record (managers)."""
    entries = ClinicalAccess.objects.select_related("user", "patient")
    patient = None
    asked = request.GET.get("patient")
    patient_id = id_from(asked)
    if patient_id is not None:
        patient = Patient.objects.filter(pk=patient_id).first()
        if patient is not None:
            entries = entries.filter(patient=patient)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "clinic/access_log.html",
        {
            "page": page,
            "patient": patient,
            "unknown_patient": bool(asked) and not patient,
        },
    )
