"""A treatment plan: starting it, its page and timeline, and its lifecycle."""

from datetime import timedelta
from functools import cache

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from clinic import services as clinic_services
from clinic.models import Appointment, Consultation, Patient
from clinic.roles import is_practitioner
from clinic.views import (
    form_errors_from,
    posted_as_seen_now,
    staff_view,
    tell_by_phone,
)
from plans import services
from plans.forms import (
    CancelPlanForm,
    ExtendForm,
    PlanForm,
)
from plans.models import MAX_PLANNED_SESSIONS, Protocol, TreatmentPlan
from plans.services import worklists
from plans.views.common import get_plan, show_errors, to_the_ended_plan


def patient_plans_panel(request: HttpRequest, patient: Patient) -> str:
    """The plans section of the patient page (see CLINIC_PATIENT_PANELS)."""
    if not request.user.has_perm("plans.view_treatmentplan"):
        return ""
    plans = list(
        patient.treatment_plans.select_related(
            "protocol", "practitioner__user", "consultation"
        )
        .with_counts()
        .order_by("-created_at")
    )
    waiting = list(
        worklists.waiting_for_a_plan(patient.consultations.all()).select_related(
            "appointment"
        )
    )
    in_courses = {area for p in plans if p.is_open for area in p.areas}
    for consultation in waiting:
        # A second course treats other skin only (create_plan refuses overlap).
        consultation.areas_free = [a for a in consultation.areas if a not in in_courses]
    return render_to_string(
        "plans/_patient_panel.html",
        {
            "plans": plans,
            "waiting": waiting,
            "patient": patient,
            # A plan from a later consultation is then for other areas only.
            "under_way": [p for p in plans if p.is_open],
        },
        request=request,
    )


# Plans ---------------------------------------------------------------------------


@staff_view("plans.add_treatmentplan")
def plan_create(request: HttpRequest, consultation_pk: int) -> HttpResponse:
    consultation = get_object_or_404(
        Consultation.objects.select_related(
            "patient", "appointment__practitioner__user"
        ),
        pk=consultation_pk,
    )
    refusal = services.why_no_plan(consultation)
    if refusal:
        messages.error(request, refusal)
        return redirect(consultation)
    protocols = list(Protocol.objects.filter(is_active=True).order_by("pk"))
    # The first that suits what the consultation hopes for (stretch marks: the
    # Surgical protocol), else the first.
    standard = next(
        (p for p in protocols if not p.not_for(consultation.goals)),
        protocols[0] if protocols else None,
    )
    initial = {
        "areas": consultation.areas,
        "practitioner": getattr(request.user, "practitioner", None)
        or consultation.appointment.practitioner,
        "protocol": standard,
        "planned_sessions": standard
        and min(max(6, standard.min_sessions), standard.max_sessions),
        "spacing_days": standard and standard.target_spacing_days,
    }
    form = PlanForm(
        request.POST or None,
        initial=initial,
        screened=consultation.areas,
        goals=consultation.goals,
    )
    screening = _shows_screening(consultation)
    if screening and request.method != "POST":
        _log_screening(request, consultation, "consultation (new plan)")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            plan = services.create_plan(
                consultation=consultation,
                protocol=data["protocol"],
                practitioner=data["practitioner"],
                planned_sessions=data["planned_sessions"],
                spacing_days=data["spacing_days"],
                areas=data["areas"],
                exception_reason=data["exception_reason"],
                consent=data["consent"],
                by=request.user,
            )
        except services.PlanError as error:
            form_errors_from(error, form)
        else:
            messages.success(request, _("Treatment plan created."))
            return redirect(plan)
    return render(
        request,
        "plans/plan_form.html",
        {
            "form": form,
            "consultation": consultation,
            "screening": screening,
            "protocols": protocols,
            # What picking a protocol fills in (static/js/plan_form.js): its
            # usual number of sessions and its target spacing.
            "protocol_defaults": {
                str(p.pk): {
                    "sessions": min(max(6, p.min_sessions), p.max_sessions),
                    "spacing": p.target_spacing_days,
                }
                for p in protocols
            },
        },
    )


def _shows_screening(consultation: Consultation) -> bool:
    """The consultation has what a course rests on: a "yes" in the screening
    or a medication stopped before each session (plans/_screening.html)."""
    return bool(consultation.flags or consultation.topical_medication)


def _log_screening(request: HttpRequest, consultation: Consultation, what: str):
    clinic_services.log_clinical_access(
        user=request.user,
        patient=consultation.patient,
        what=what,
        object_id=consultation.pk,
    )


def timeline(plan: TreatmentPlan) -> list[dict]:
    """Every session of the plan, in order, with its spacing from the one before."""
    window = services.window_for(plan)
    sessions = plan.sessions.select_related(
        "appointment__practitioner__user",
        "appointment__room",
        "replaces__appointment",
        "replacement__appointment",
    ).order_by("appointment__start", "number")
    rows, previous, live_number = [], None, 0
    today = timezone.localdate()
    for session in sessions:
        appointment = session.appointment
        live = appointment.status in Appointment.ACTIVE_STATUSES
        row = {"session": session, "appointment": appointment, "live": live}
        if live:
            live_number += 1
            row["position"] = live_number
            day = timezone.localdate(appointment.start)
            if previous is not None:
                days = (day - previous).days
                row["spacing_days"] = days
                row["spacing_flag"] = (
                    "short"
                    if days < window.minimum
                    else "long"
                    if days > window.maximum
                    else ""
                )
            previous = day
            row["phase"] = (
                "done"
                if appointment.status == Appointment.Status.COMPLETED
                else "past"
                if day < today
                else "upcoming"
            )
        rows.append(row)
    upcoming = [r for r in rows if r.get("phase") == "upcoming"]
    if upcoming:
        upcoming[0]["phase"] = "next"
    return rows


@staff_view("plans.view_treatmentplan")
@require_safe
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_plan(pk)
    rows = timeline(plan)
    done = sum(
        1
        for r in rows
        if r["live"] and r["appointment"].status == Appointment.Status.COMPLETED
    )
    live = sum(1 for r in rows if r["live"])
    # Completing waits for these (services.complete_plan).
    still_booked = sum(
        1
        for r in rows
        if r["live"] and r["appointment"].status in Appointment.OPEN_STATUSES
    )
    next_row = next((r for r in rows if r.get("phase") == "next"), None)
    last_done = max(
        (
            r["appointment"].start
            for r in rows
            if r["live"] and r["appointment"].status == Appointment.Status.COMPLETED
        ),
        default=None,
    )
    # A later consultation that says to take care, and one that holds the plan.
    take_care, refusals = (
        services.later_consultations_and_refusals([plan]) if plan.is_open else ({}, {})
    )
    later = take_care.get(plan.pk)
    on_hold = services.hold_reason(plan, refusals.get(plan.pk)) if plan.is_open else ""
    next_due = (
        timezone.localdate(next_row["appointment"].start)
        if next_row
        else timezone.localdate(last_done) + timedelta(days=plan.spacing_days)
        if last_done and plan.is_open
        else None
    )
    # What the course rests on (a "yes" in the screening and why it was
    # eligible all the same, a medication stopped before each session), for
    # the practitioner planning it: clinical, so the opening is logged.
    # One query, asked only where it matters (the front desk's page reads none).
    practitioner = cache(lambda: is_practitioner(request.user))
    # A later consultation's medication holds for the sessions after it (the
    # pre-care emails name it): the next session's, read for clinicians only.
    in_force = (
        clinic_services.consultation_in_force(next_row["appointment"])
        if next_row and request.user.has_perm("clinic.change_consultation")
        else None
    )
    medication_since = (
        in_force is not None
        and in_force.pk != plan.consultation_id
        and in_force.topical_medication != plan.consultation.topical_medication
    )
    screening = (
        _shows_screening(plan.consultation) or medication_since
    ) and practitioner()
    if screening:
        _log_screening(request, plan.consultation, "consultation (plan page)")
    return render(
        request,
        "plans/plan_detail.html",
        {
            "plan": plan,
            "rows": rows,
            "screening": screening,
            "in_force": in_force,
            "done": done,
            "current": min(done + 1, plan.planned_sessions),
            "still_booked": still_booked,
            "unbooked": max(plan.planned_sessions - live, 0),
            "next_due": next_due,
            "window": services.window_for(plan),
            # A manager's spacing exceptions warn while a session is that close.
            "too_close_now": [r for r in rows if r.get("spacing_flag") == "short"],
            "later": _later_consultation(request, later),
            "on_hold": on_hold,
            "clinician": request.user.has_perm("clinic.change_consultation"),
            "can_book": request.user.has_perm("plans.book_series"),
            # Not offered at the most sessions any plan may have; to the front
            # desk, not beyond the protocol's most (a practitioner's decision).
            "can_extend": plan.planned_sessions < MAX_PLANNED_SESSIONS
            and not on_hold
            # Sessions are planned with the patient's consent recorded.
            and (plan.has_consent or practitioner())
            and (
                (
                    request.user.has_perm("plans.book_series")
                    or request.user.has_perm("plans.change_treatmentplan")
                )
                and plan.planned_sessions < plan.protocol.max_sessions
                # Beyond the protocol's most: a practitioner's decision.
                or practitioner()
            ),
            "can_change_plan": request.user.has_perm("plans.change_treatmentplan"),
            # The front desk cancels what was booked; a practitioner discards a
            # plan nothing was ever booked for (plan_cancel).
            "ever_booked": bool(rows),
            # Consent is given to the practitioner who explains the treatment.
            "can_record_consent": plan.is_open
            and not plan.has_consent
            and request.user.has_perm("plans.change_treatmentplan")
            and practitioner(),
            "now": timezone.now(),
        },
    )


@staff_view("plans.change_treatmentplan")
@require_POST
def plan_consent(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_plan(pk)
    try:
        services.record_consent(
            plan=plan, by=request.user, ticked=request.POST.get("consents") == "on"
        )
    except services.PlanEnded as error:
        return to_the_ended_plan(request, error, plan)
    except services.PlanError as error:
        show_errors(request, error)
    else:
        messages.success(request, _("Consent recorded."))
    return redirect(plan)


# The front desk and managers add a session within the protocol; practitioners,
# who fix a plan's length, beyond it too.
@staff_view("plans.view_treatmentplan")
def plan_extend(request: HttpRequest, pk: int) -> HttpResponse:
    if not (
        request.user.has_perm("plans.book_series")
        or request.user.has_perm("plans.change_treatmentplan")
    ):
        raise PermissionDenied
    plan = get_plan(pk)
    if not plan.is_open:
        messages.error(request, _("This plan has ended; no session can be added."))
        return redirect(plan)
    form = ExtendForm(request.POST or None, initial={"seen": plan.planned_sessions})
    beyond = plan.planned_sessions >= plan.protocol.max_sessions
    if not beyond:
        # Within the protocol no reason is asked for: no box to wonder about.
        del form.fields["reason"]
    if request.method == "POST" and form.is_valid():
        try:
            services.extend_plan(
                plan=plan,
                by=request.user,
                reason=form.cleaned_data.get("reason", ""),
                seen=form.cleaned_data["seen"],
            )
        except services.StalePlan as error:
            # Their page shows the old count: the plan's page shows today's.
            messages.error(request, str(error))
            return redirect(plan)
        except services.PlanEnded as error:
            return to_the_ended_plan(request, error, plan)
        except services.PlanError as error:
            form_errors_from(error, form)
        else:
            messages.success(
                request, _("One more session planned: book it below when ready.")
            )
            return redirect(plan)
    return render(
        request,
        "plans/plan_extend.html",
        {
            "plan": plan,
            "form": form,
            # Beyond the protocol is a clinical decision: the front desk is told
            # whom to ask instead of being shown a form it can't use.
            "refusal": ""
            if is_practitioner(request.user)
            else str(services.NO_CONSENT_YET)
            if not plan.has_consent
            else services.may_not_go_beyond(plan)
            if beyond
            else "",
        },
    )


# The front desk cancels the rest of a plan; a practitioner discards one of
# theirs that nothing was ever booked for (started by mistake).
@staff_view("plans.view_treatmentplan")
def plan_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_plan(pk)
    may_cancel = request.user.has_perm("plans.book_series")
    may_discard = request.user.has_perm("plans.change_treatmentplan")
    if not may_cancel and not may_discard:
        raise PermissionDenied
    if not plan.is_open:
        messages.error(request, _("This plan has already ended."))
        return redirect(plan)
    # Said on the plan's page: the page that led here may be older than a
    # colleague's booking.
    refusal = services.whose_to_end(plan, request.user)
    if refusal:
        messages.error(request, refusal)
        return redirect(plan)
    # Nothing ever booked: the plan is discarded, not a course cut short.
    untouched = not plan.sessions.exists()
    to_cancel = _to_cancel(plan)
    form = CancelPlanForm(
        request.POST or None,
        initial={"seen": clinic_services.appointments_seen(to_cancel)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            count = services.cancel_plan(
                plan=plan,
                reason=form.cleaned_data["reason"],
                by=request.user,
                seen=form.cleaned_data["seen"],
            )
        except services.StalePlan as error:
            # The list shows the sessions as they are now, with the reason typed.
            messages.error(request, error.messages[0])
            to_cancel = _to_cancel(plan)
            form = CancelPlanForm(
                posted_as_seen_now(
                    request, clinic_services.appointments_seen(to_cancel)
                )
            )
            form.is_valid()
        except services.PlanEnded as error:
            return to_the_ended_plan(request, error, plan)
        except services.PlanError as error:
            form_errors_from(error, form)
        else:
            messages.success(
                request,
                _("Plan discarded: it had no session booked.")
                if untouched and not count
                else ngettext(
                    "Plan cancelled; %(n)s booked session cancelled.",
                    "Plan cancelled; %(n)s booked sessions cancelled.",
                    count,
                )
                % {"n": count},
            )
            if count:
                tell_by_phone(request, plan.patient)
            return redirect(plan)
    return render(
        request,
        "plans/plan_cancel.html",
        {
            "plan": plan,
            "form": form,
            "untouched": untouched,
            # What "Cancel the plan" cancels, said before it is done.
            "to_cancel": to_cancel,
        },
    )


def _to_cancel(plan: TreatmentPlan) -> list[Appointment]:
    return list(
        services.open_sessions(plan).select_related("practitioner__user", "room")
    )


@staff_view("plans.change_treatmentplan")
@require_POST
def plan_complete(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_plan(pk)
    try:
        services.complete_plan(plan=plan, by=request.user)
    except services.PlanEnded as error:
        return to_the_ended_plan(request, error, plan)
    except services.PlanError as error:
        show_errors(request, error)
    else:
        messages.success(request, _("Plan completed."))
    return redirect(plan)


def _later_consultation(
    request: HttpRequest, later: Consultation | None
) -> Consultation | None:
    """The later consultation the plan page warns of (later_consultations()
    of an open plan). The front desk sees decisions, not screenings: only a
    refusal or referral is said to them."""
    if later is None or request.user.has_perm("clinic.change_consultation"):
        return later
    refusals = (Consultation.Decision.NOT_ELIGIBLE, Consultation.Decision.REFER)
    return later if later.decision in refusals else None
