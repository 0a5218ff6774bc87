from datetime import timedelta

from django.contrib import messages
from django.db.models import Exists, F, Max, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from clinic.models import Appointment, Consultation, Patient
from clinic.views import staff_view
from plans import services
from plans.forms import (
    CancelSessionForm,
    ChangeResourcesForm,
    ExtendForm,
    MoveSessionForm,
    OverrideForm,
    PlanForm,
    ReasonForm,
    SeriesStartForm,
    SessionRowForm,
    SessionRowFormSet,
    default_first_date,
)
from plans.models import Protocol, TreatmentPlan, TreatmentSession
from plans.scheduling import Proposal, State, describe_day


def _get_plan(pk: int) -> TreatmentPlan:
    return get_object_or_404(
        TreatmentPlan.objects.select_related(
            "patient", "protocol", "practitioner__user", "consultation", "consent_by"
        ),
        pk=pk,
    )


def _get_session(pk: int) -> TreatmentSession:
    return get_object_or_404(
        TreatmentSession.objects.select_related(
            "plan__patient",
            "plan__protocol",
            "appointment__practitioner__user",
            "appointment__room",
        ),
        pk=pk,
    )


def _errors(request: HttpRequest, error: services.PlanError) -> None:
    for message in error.messages:
        messages.error(request, message)


# The patient page --------------------------------------------------------------


def patient_plans_panel(request: HttpRequest, patient: Patient) -> str:
    """The plans section of the patient page (see CLINIC_PATIENT_PANELS)."""
    if not request.user.has_perm("plans.view_treatmentplan"):
        return ""
    plans = list(
        patient.treatment_plans.select_related("protocol", "practitioner__user")
        .with_counts()
        .order_by("-created_at")
    )
    waiting = patient.consultations.filter(
        decision=Consultation.Decision.ELIGIBLE, treatment_plans__isnull=True
    ).select_related("appointment")
    return render_to_string(
        "plans/_patient_panel.html",
        {"plans": plans, "waiting": waiting, "patient": patient},
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
    if not consultation.is_eligible:
        messages.error(
            request,
            _("Only an eligible consultation can start a plan; this one is %(d)s.")
            % {"d": consultation.get_decision_display().lower()},
        )
        return redirect(consultation)
    standard = Protocol.objects.filter(is_active=True).order_by("pk").first()
    initial = {
        "areas": consultation.areas,
        "practitioner": getattr(request.user, "practitioner", None)
        or consultation.appointment.practitioner,
        "protocol": standard,
        "planned_sessions": standard
        and min(max(6, standard.min_sessions), standard.max_sessions),
        "spacing_days": standard and standard.target_spacing_days,
    }
    form = PlanForm(request.POST or None, initial=initial)
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
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(request, _("Treatment plan created."))
            return redirect(plan)
    return render(
        request,
        "plans/plan_form.html",
        {
            "form": form,
            "consultation": consultation,
            "protocols": Protocol.objects.filter(is_active=True),
        },
    )


def timeline(plan: TreatmentPlan) -> list[dict]:
    """Every session of the plan, in order, with its spacing from the one before."""
    window = services.window_for(plan)
    sessions = plan.sessions.select_related(
        "appointment__practitioner__user",
        "appointment__room",
        "replaces",
        "replacement",
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
@require_GET
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    plan = _get_plan(pk)
    rows = timeline(plan)
    done = sum(
        1
        for r in rows
        if r["live"] and r["appointment"].status == Appointment.Status.COMPLETED
    )
    live = sum(1 for r in rows if r["live"])
    next_row = next((r for r in rows if r.get("phase") == "next"), None)
    last_done = max(
        (
            r["appointment"].start
            for r in rows
            if r["live"] and r["appointment"].status == Appointment.Status.COMPLETED
        ),
        default=None,
    )
    next_due = (
        timezone.localdate(next_row["appointment"].start)
        if next_row
        else timezone.localdate(last_done) + timedelta(days=plan.spacing_days)
        if last_done and plan.is_open
        else None
    )
    return render(
        request,
        "plans/plan_detail.html",
        {
            "plan": plan,
            "rows": rows,
            "done": done,
            "current": min(done + 1, plan.planned_sessions),
            "unbooked": max(plan.planned_sessions - live, 0),
            "next_due": next_due,
            "window": services.window_for(plan),
            "can_book": request.user.has_perm("plans.book_series"),
            "can_change_plan": request.user.has_perm("plans.change_treatmentplan"),
            "now": timezone.now(),
        },
    )


@staff_view("plans.change_treatmentplan")
@require_POST
def plan_consent(request: HttpRequest, pk: int) -> HttpResponse:
    plan = _get_plan(pk)
    try:
        services.record_consent(plan=plan, by=request.user)
    except services.PlanError as error:
        _errors(request, error)
    else:
        messages.success(request, _("Consent recorded."))
    return redirect(plan)


@staff_view("plans.book_series")
def plan_extend(request: HttpRequest, pk: int) -> HttpResponse:
    plan = _get_plan(pk)
    form = ExtendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.extend_plan(
                plan=plan, by=request.user, reason=form.cleaned_data["reason"]
            )
        except services.PlanError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(
                request, _("One more session planned: book it below when ready.")
            )
            return redirect(plan)
    return render(request, "plans/plan_extend.html", {"plan": plan, "form": form})


@staff_view("plans.book_series")
def plan_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    plan = _get_plan(pk)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            count = services.cancel_plan(
                plan=plan, reason=form.cleaned_data["reason"], by=request.user
            )
        except services.PlanError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(
                request,
                _("Plan cancelled; %(n)s booked session(s) cancelled.") % {"n": count},
            )
            return redirect(plan)
    return render(request, "plans/plan_cancel.html", {"plan": plan, "form": form})


@staff_view("plans.change_treatmentplan")
@require_POST
def plan_complete(request: HttpRequest, pk: int) -> HttpResponse:
    plan = _get_plan(pk)
    try:
        services.complete_plan(plan=plan, by=request.user)
    except services.PlanError as error:
        _errors(request, error)
    else:
        messages.success(request, _("Plan completed."))
    return redirect(plan)


# Booking a series -----------------------------------------------------------------


def _rows_initial(proposals: list[Proposal]) -> list[dict]:
    return [
        {
            "date": timezone.localdate(p.start),
            "time": timezone.localtime(p.start).time(),
            "room": p.room,
            # A row the front desk chose stays chosen when another row changes.
            "proposed": ""
            if p.state == State.CHOSEN
            else SessionRowForm.stamp(p.start, p.room),
        }
        for p in proposals
    ]


@staff_view("plans.book_series")
def plan_book(request: HttpRequest, pk: int) -> HttpResponse:
    """Propose every unbooked session; the front desk may change any, then books."""
    plan = _get_plan(pk)
    if not plan.is_open:
        messages.error(request, _("This plan has ended; no sessions can be booked."))
        return redirect(plan)
    if not plan.has_consent:
        messages.error(
            request, _("Record the patient's consent before booking sessions.")
        )
        return redirect(plan)
    unbooked = services.unbooked_count(plan)
    if unbooked == 0:
        messages.info(request, _("Every session of this plan is booked."))
        return redirect(plan)

    previous = services.last_live_start(plan)
    start_form = SeriesStartForm(
        request.POST or None,
        initial={
            "date": default_first_date(previous, plan.spacing_days),
            "time": timezone.localtime(previous).time() if previous else "10:00",
            "practitioner": plan.practitioner,
        },
    )
    context = {"plan": plan, "unbooked": unbooked, "start_form": start_form}
    action = request.POST.get("action")
    if request.method != "POST" or not start_form.is_valid():
        return render(request, "plans/plan_book.html", context)

    data = start_form.cleaned_data
    series = services.SeriesRequest(
        first_start=data["first_start"],
        practitioner=data["practitioner"],
        room=data["room"],
        chosen={},
    )
    rows = bad_rows = None
    if action in ("recheck", "confirm"):
        rows = SessionRowFormSet(request.POST, prefix="s")
        if rows.is_valid() and len(rows.forms) == unbooked:
            if action == "confirm":
                chosen = range(len(rows.forms))
            else:
                chosen = [i for i, f in enumerate(rows.forms) if f.was_changed_by_hand]
            series.chosen = {
                i: (
                    rows.forms[i].cleaned_data["start"],
                    rows.forms[i].cleaned_data["room"],
                )
                for i in chosen
            }
        elif len(rows.forms) != unbooked:
            messages.error(
                request,
                _("The plan changed meanwhile: here is a fresh proposal."),
            )
            rows, action = None, "propose"
        else:
            # Show the rows as typed, with their errors, beside a fresh check.
            messages.error(request, _("Check the sessions marked below."))
            bad_rows, action = rows, "recheck"
            series.chosen = {
                i: (f.cleaned_data["start"], f.cleaned_data["room"])
                for i, f in enumerate(rows.forms)
                if f.was_changed_by_hand
            }

    try:
        proposals = services.propose_for_plan(plan=plan, request=series, count=unbooked)
    except services.PlanError as error:
        _errors(request, error)
        return render(request, "plans/plan_book.html", context)

    override_form = OverrideForm(request.POST if action == "confirm" else None)
    if action == "confirm" and override_form.is_valid():
        try:
            services.book_series(
                plan=plan,
                proposals=proposals,
                practitioner=series.practitioner,
                by=request.user,
                override_reason=override_form.cleaned_data["override_reason"],
            )
        except services.PlanError as error:
            _errors(request, error)
            # Someone may have taken a slot: offer a fresh proposal.
            series.chosen = {}
            proposals = services.propose_for_plan(
                plan=plan, request=series, count=unbooked
            )
        else:
            messages.success(
                request,
                _("%(n)s sessions booked for %(patient)s.")
                % {"n": len(proposals), "patient": plan.patient},
            )
            return redirect(plan)

    context.update(
        proposals=proposals,
        rows=bad_rows
        or SessionRowFormSet(initial=_rows_initial(proposals), prefix="s"),
        override_form=OverrideForm(),
        can_override=request.user.has_perm("clinic.override_hours"),
        bookable=bad_rows is None and all(p.is_bookable for p in proposals),
        states=State,
    )
    context["pairs"] = list(zip(proposals, context["rows"].forms, strict=True))
    return render(request, "plans/plan_book.html", context)


# Changing sessions ------------------------------------------------------------------


def _moved_message(done: services.MovePreview) -> str:
    first, last = done.moves[0], done.moves[-1]
    values = {
        "first": first.session.number,
        "last": last.session.number,
        "when": describe_day(first.start),
    }
    if len(done.moves) == 1:
        return _("Session %(first)s moved to %(when)s.") % values
    return (
        _("Sessions %(first)s to %(last)s moved: session %(first)s is now on %(when)s.")
        % values
    )


@staff_view("plans.book_series")
def session_move(request: HttpRequest, pk: int) -> HttpResponse:
    session = _get_session(pk)
    appointment = session.appointment
    local = timezone.localtime(appointment.start)
    form = MoveSessionForm(
        request.POST or None, initial={"date": local.date(), "time": local.time()}
    )
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            preview = services.preview_move(
                session=session,
                start=data["start"],
                scope=data["scope"],
                room=data["room"],
            )
            if request.POST.get("action") == "move":
                done = services.move_sessions(
                    session=session,
                    start=data["start"],
                    scope=data["scope"],
                    room=data["room"],
                    by=request.user,
                    confirmed=data["confirmed"],
                    override_reason=data["override_reason"],
                )
                messages.success(request, _moved_message(done))
                return redirect(session.plan)
        except services.PlanError as error:
            for message in error.messages:
                form.add_error(None, message)
    return render(
        request,
        "plans/session_move.html",
        {
            "session": session,
            "plan": session.plan,
            "form": form,
            "preview": preview,
            "can_override": request.user.has_perm("clinic.override_hours"),
        },
    )


@staff_view("plans.book_series")
def session_change(request: HttpRequest, pk: int) -> HttpResponse:
    session = _get_session(pk)
    form = ChangeResourcesForm(
        request.POST or None,
        initial={
            "practitioner": session.appointment.practitioner,
            "room": session.appointment.room,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.change_resources_from(
                session=session,
                practitioner=form.cleaned_data["practitioner"],
                room=form.cleaned_data["room"],
                by=request.user,
            )
        except services.PlanError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(
                request, _("%(n)s session(s) changed.") % {"n": len(changed)}
            )
            return redirect(session.plan)
    return render(
        request,
        "plans/session_change.html",
        {"session": session, "plan": session.plan, "form": form},
    )


@staff_view("plans.book_series")
def session_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    session = _get_session(pk)
    form = CancelSessionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            replacement = services.cancel_session(
                session=session,
                reason=form.cleaned_data["reason"],
                replace=form.cleaned_data["replace"],
                by=request.user,
            )
        except services.PlanError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            if replacement is not None:
                when = timezone.localtime(replacement.appointment.start)
                messages.success(
                    request,
                    _("Session cancelled; a replacement is booked for %(when)s.")
                    % {"when": f"{when:%a %d %b %Y, %H:%M}"},
                )
            else:
                messages.success(request, _("Session cancelled."))
            return redirect(session.plan)
    return render(
        request,
        "plans/session_cancel.html",
        {"session": session, "plan": session.plan, "form": form},
    )


@staff_view("plans.book_series")
@require_POST
def session_no_show(request: HttpRequest, pk: int) -> HttpResponse:
    session = _get_session(pk)
    try:
        services.mark_session_no_show(session=session, by=request.user)
    except services.PlanError as error:
        _errors(request, error)
    else:
        messages.success(request, _("Marked as a no-show."))
    return redirect(session.plan)


# Work lists --------------------------------------------------------------------------


@staff_view("plans.view_treatmentplan")
@require_GET
def work_lists(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    now = timezone.now()
    waiting = (
        Consultation.objects.filter(decision=Consultation.Decision.ELIGIBLE)
        .filter(~Exists(TreatmentPlan.objects.filter(consultation=OuterRef("pk"))))
        .select_related("patient", "appointment__practitioner__user")
        .order_by("decided_at")
    )
    open_plans = (
        TreatmentPlan.objects.open()
        .with_counts()
        .select_related("patient", "protocol", "practitioner__user")
    )
    unbooked = open_plans.filter(live_count__lt=F("planned_sessions")).order_by(
        "created_at"
    )
    lost = TreatmentSession.objects.filter(
        plan=OuterRef("pk"),
        appointment__status__in=[
            Appointment.Status.CANCELLED,
            Appointment.Status.NO_SHOW,
        ],
        replacement__isnull=True,
    )
    upcoming = Appointment.objects.filter(
        treatment_session__plan=OuterRef("pk"),
        status__in=[Appointment.Status.BOOKED, Appointment.Status.CHECKED_IN],
        start__gte=now,
    )
    candidates = open_plans.annotate(
        lost=Exists(lost),
        upcoming=Exists(upcoming),
        last_start=Max(
            "sessions__appointment__start",
            filter=Q(
                sessions__appointment__status__in=Appointment.ACTIVE_STATUSES,
                sessions__appointment__start__lt=now,
            ),
        ),
    ).filter(Q(lost=True) | Q(upcoming=False, last_start__isnull=False))
    at_risk = []
    for plan in candidates.order_by("created_at"):
        reasons = []
        if plan.lost and plan.live_count < plan.planned_sessions:
            reasons.append(_("A cancelled or missed session has no replacement."))
        if not plan.upcoming and plan.live_count < plan.planned_sessions:
            due = timezone.localdate(plan.last_start) + timedelta(
                days=max(plan.spacing_days, plan.protocol.max_spacing_days)
            )
            if due < today:
                reasons.append(
                    _("The next session was due by %(day)s and is not booked.")
                    % {"day": due.strftime("%a %d %b %Y")}
                )
        if reasons:
            at_risk.append((plan, reasons))
    return render(
        request,
        "plans/work_lists.html",
        {
            "waiting": waiting,
            "unbooked": unbooked,
            "at_risk": at_risk,
            "today": today,
        },
    )
