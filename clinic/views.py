from collections import defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Q, QuerySet, Value
from django.db.models.functions import Replace
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from kombu import Connection

from clinic import roles, services
from clinic.forms import (
    BookAppointmentForm,
    CalendarForm,
    CancelForm,
    ConsultationForm,
    PatientForm,
    PatientSearchForm,
    RescheduleForm,
)
from clinic.models import (
    Appointment,
    ClinicalAccess,
    ClosureDay,
    Consultation,
    OpeningHours,
    Patient,
    Practitioner,
    Room,
    local_midnight,
)

PATIENTS_PER_PAGE = 25


def staff_view(permission: str):
    """Sign-in required (anonymous -> login page); without ``permission`` -> 403."""

    def decorator(view):
        return login_required(
            permission_required(permission, raise_exception=True)(view)
        )

    return decorator


def _form_errors_from(error: services.BookingError, form) -> None:
    for message in error.messages:
        form.add_error(None, message)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    # A path on this site only: redirect() would take a bare word ("abc") for a
    # URL name and fail to reverse it (a 500).
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# Dashboard ---------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user_roles = roles.user_roles(request.user)
    if not user_roles and not request.user.is_superuser:
        raise PermissionDenied(
            _("Your account has no clinic role yet. Ask the clinic manager to add one.")
        )
    today = timezone.localdate()
    todays = Appointment.objects.on_day(today).with_people()
    context: dict = {"today": today, "search_form": PatientSearchForm()}

    if roles.FRONT_DESK in user_roles:
        context["arrivals"] = list(todays.exclude(status=Appointment.Status.CANCELLED))
    practitioner = Practitioner.objects.filter(user=request.user).first()
    if practitioner is not None:
        context["my_day"] = list(todays.filter(practitioner=practitioner))
        context["me"] = practitioner
    if roles.has_role(request.user, roles.MANAGER):
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
            "next_week": Appointment.objects.active()
            .filter(start__gte=timezone.now(), start__lt=week_end)
            .count(),
            "patients": Patient.objects.count(),
            "load": Practitioner.objects.filter(is_active=True)
            .select_related("user")
            .annotate(
                today=Count(
                    "appointments",
                    filter=Q(
                        appointments__start__gte=local_midnight(today),
                        appointments__start__lt=local_midnight(
                            today + timedelta(days=1)
                        ),
                        appointments__status__in=Appointment.ACTIVE_STATUSES,
                    ),
                )
            ),
        }
    return render(request, "clinic/dashboard.html", context)


# Patients ----------------------------------------------------------------------


def search_patients(query: str) -> QuerySet[Patient]:
    """Every word must match a name, the email or the phone (spaces ignored)."""
    patients = Patient.objects.all()
    words = query.split()
    if any(w.lstrip("+").isdigit() for w in words):
        patients = patients.annotate(
            phone_digits=Replace("phone", Value(" "), Value(""))
        )
    for word in words:
        match = (
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(email__icontains=word)
        )
        if word.lstrip("+").isdigit():
            match |= Q(phone_digits__contains=word)
        patients = patients.filter(match)
    return patients


@staff_view("clinic.view_patient")
@require_GET
def patient_list(request: HttpRequest) -> HttpResponse:
    form = PatientSearchForm(request.GET)
    query = form.cleaned_data["q"].strip() if form.is_valid() else ""
    patients = search_patients(query) if query else Patient.objects.all()
    page = Paginator(patients, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "clinic/patient_list.html",
        {"form": form, "query": query, "page": page},
    )


@staff_view("clinic.add_patient")
def patient_create(request: HttpRequest) -> HttpResponse:
    form = PatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        patient = form.save()
        messages.success(
            request, _("%(name)s is registered.") % {"name": patient.full_name}
        )
        return redirect(patient)
    return render(request, "clinic/patient_form.html", {"form": form})


@staff_view("clinic.change_patient")
def patient_edit(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Changes saved."))
        return redirect(patient)
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


@staff_view("clinic.view_patient")
@require_GET
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    now = timezone.now()
    appointments = patient.appointments.select_related("practitioner__user", "room")
    return render(
        request,
        "clinic/patient_detail.html",
        {
            "patient": patient,
            "upcoming": appointments.filter(end__gte=now).order_by("start"),
            "past": appointments.filter(end__lt=now).order_by("-start")[:50],
            "consultations": patient.consultations.select_related(
                "appointment__practitioner__user", "decided_by"
            ).order_by("-appointment__start"),
            "panels": _patient_panels(request, patient),
        },
    )


# Appointments ------------------------------------------------------------------


def _get_appointment(pk: int) -> Appointment:
    return get_object_or_404(Appointment.objects.with_people(), pk=pk)


@staff_view("clinic.add_appointment")
def appointment_book(request: HttpRequest, patient_pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=patient_pk)
    can_override = services.can_override_hours(request.user)
    initial = {
        "date": request.GET.get("date") or timezone.localdate() + timedelta(days=1),
        "start_time": request.GET.get("time") or "10:00",
        "practitioner": request.GET.get("practitioner"),
        "room": request.GET.get("room"),
    }
    form = BookAppointmentForm(
        request.POST or None, initial=initial, can_override=can_override
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            appointment = services.book_appointment(
                patient=patient,
                practitioner=data["practitioner"],
                room=data["room"],
                start=data["start"],
                end=data["end"],
                kind=Appointment.Kind.CONSULTATION,
                booked_by=request.user,
                notes=data["notes"],
                override_reason=data.get("override_reason", ""),
            )
        except services.BookingError as error:
            _form_errors_from(error, form)
        else:
            messages.success(
                request,
                _("Consultation booked for %(patient)s, %(when)s.")
                % {"patient": patient, "when": _when(appointment)},
            )
            return redirect(appointment)
    return render(
        request,
        "clinic/appointment_form.html",
        {"form": form, "patient": patient, "can_override": can_override},
    )


def _when(appointment: Appointment) -> str:
    start = timezone.localtime(appointment.start)
    end = timezone.localtime(appointment.end)
    return f"{start:%a %d %b %Y, %H:%M}-{end:%H:%M}"


@staff_view("clinic.view_appointment")
@require_GET
def appointment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = _get_appointment(pk)
    return render(
        request,
        "clinic/appointment_detail.html",
        {
            "appointment": appointment,
            "can_check_in": request.user.has_perm("clinic.check_in_appointment"),
            "can_change": request.user.has_perm("clinic.change_appointment"),
            "is_today": timezone.localdate(appointment.start) == timezone.localdate(),
            "has_started": appointment.start <= timezone.now(),
        },
    )


@staff_view("clinic.change_appointment")
def appointment_reschedule(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = _get_appointment(pk)
    can_override = services.can_override_hours(request.user)
    form = RescheduleForm(
        request.POST or None,
        initial=RescheduleForm.initial_for(appointment),
        can_override=can_override,
    )
    if appointment.status != Appointment.Status.BOOKED:
        messages.error(
            request,
            _("This appointment is %(status)s and can't be moved.")
            % {"status": appointment.get_status_display().lower()},
        )
        return redirect(appointment)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.reschedule_appointment(
                appointment=appointment,
                start=data["start"],
                end=data["end"],
                practitioner=data["practitioner"],
                room=data["room"],
                by=request.user,
                override_reason=data.get("override_reason", ""),
            )
        except services.BookingError as error:
            _form_errors_from(error, form)
        else:
            appointment.refresh_from_db()
            messages.success(
                request, _("Moved to %(when)s.") % {"when": _when(appointment)}
            )
            return redirect(appointment)
    return render(
        request,
        "clinic/appointment_reschedule.html",
        {"form": form, "appointment": appointment, "can_override": can_override},
    )


@staff_view("clinic.change_appointment")
def appointment_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = _get_appointment(pk)
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.cancel_appointment(
                appointment=appointment,
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
        except services.BookingError as error:
            _form_errors_from(error, form)
        else:
            messages.success(request, _("The appointment is cancelled."))
            return redirect(appointment)
    return render(
        request,
        "clinic/appointment_cancel.html",
        {"form": form, "appointment": appointment},
    )


def _status_action(request: HttpRequest, pk: int, action, done: str) -> HttpResponse:
    appointment = _get_appointment(pk)
    try:
        action(appointment=appointment, by=request.user)
    except services.BookingError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, done % {"patient": appointment.patient})
    return redirect(_safe_next(request, appointment.get_absolute_url()))


@staff_view("clinic.check_in_appointment")
@require_POST
def appointment_check_in(request: HttpRequest, pk: int) -> HttpResponse:
    return _status_action(
        request, pk, services.check_in_appointment, _("%(patient)s is checked in.")
    )


@staff_view("clinic.check_in_appointment")
@require_POST
def appointment_no_show(request: HttpRequest, pk: int) -> HttpResponse:
    return _status_action(
        request, pk, services.mark_no_show, _("%(patient)s is marked as a no-show.")
    )


# Consultations ------------------------------------------------------------------


@staff_view("clinic.change_consultation")
def consultation_record(request: HttpRequest, appointment_pk: int) -> HttpResponse:
    appointment = get_object_or_404(
        Appointment.objects.with_people(),
        pk=appointment_pk,
        kind=Appointment.Kind.CONSULTATION,
    )
    consultation = Consultation.objects.filter(appointment=appointment).first()
    if consultation is None:
        consultation = Consultation(
            appointment=appointment,
            patient=appointment.patient,
            skin_type=appointment.patient.skin_type,
        )
    form = ConsultationForm(request.POST or None, instance=consultation)
    if request.method == "POST" and form.is_valid():
        try:
            consultation = services.record_consultation(
                consultation=form.save(commit=False), by=request.user
            )
        except services.BookingError as error:
            _form_errors_from(error, form)
        else:
            if consultation.is_eligible:
                messages.success(
                    request,
                    _("Consultation saved: eligible. Start a treatment plan below."),
                )
                return redirect(consultation.patient)
            messages.success(request, _("Consultation saved."))
            return redirect(consultation)
    return render(
        request,
        "clinic/consultation_form.html",
        {"form": form, "appointment": appointment, "consultation": consultation},
    )


@staff_view("clinic.view_consultation")
@require_GET
def consultation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = get_object_or_404(
        Consultation.objects.select_related(
            "patient", "appointment__practitioner__user", "decided_by"
        ),
        pk=pk,
    )
    return render(
        request,
        "clinic/consultation_detail.html",
        {
            "consultation": consultation,
            # The screening is clinical: the front desk sees the decision only.
            "show_clinical": request.user.has_perm("clinic.change_consultation"),
        },
    )


# Access log -----------------------------------------------------------------------


@staff_view("clinic.view_clinicalaccess")
@require_GET
def access_log(request: HttpRequest) -> HttpResponse:
    """Who opened which patient's clinical record (managers)."""
    entries = ClinicalAccess.objects.select_related("user", "patient")
    patient = None
    patient_id = request.GET.get("patient", "")
    if patient_id.isdecimal():  # Not isdigit(): int("²") fails.
        patient = Patient.objects.filter(pk=int(patient_id)).first()
        if patient is not None:
            entries = entries.filter(patient=patient)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(request, "clinic/access_log.html", {"page": page, "patient": patient})


# Calendar ----------------------------------------------------------------------


def _calendar_params(request: HttpRequest) -> CalendarForm:
    form = CalendarForm(request.GET)
    form.is_valid()  # Bad values are dropped: the page falls back to defaults.
    return form


@staff_view("clinic.view_appointment")
@require_GET
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
    return {
        day: {
            "date": day,
            "closure": closures.get(day),
            "is_closure": day in closures,
            "hours": hours.get(day.weekday(), []),
            "is_today": day == timezone.localdate(),
        }
        for day in days
    }


@staff_view("clinic.view_appointment")
@require_GET
def calendar_day(request: HttpRequest) -> HttpResponse:
    params = _calendar_params(request)
    day = params.cleaned_data.get("date") or timezone.localdate()
    by_room = request.GET.get("by") == "room"
    appointments = Appointment.objects.on_day(day).with_people()
    if by_room:
        resources = list(Room.objects.filter(is_active=True))
        key = "room_id"
    else:
        resources = list(
            Practitioner.objects.filter(is_active=True).select_related("user")
        )
        key = "practitioner_id"
    by_resource = defaultdict(list)
    for appointment in appointments:
        by_resource[getattr(appointment, key)].append(appointment)
    known = {r.pk for r in resources}
    # An appointment for a room or practitioner no longer active still shows.
    columns = [(r, by_resource.get(r.pk, [])) for r in resources] + [
        (_("Other"), items) for pk, items in by_resource.items() if pk not in known
    ]
    return render(
        request,
        "clinic/calendar_day.html",
        {
            "day": _day_info([day])[day],
            "by_room": by_room,
            "show_room": not by_room,
            "columns": columns,
            "previous": day - timedelta(days=1),
            "next": day + timedelta(days=1),
            "today": timezone.localdate(),
            "can_check_in": request.user.has_perm("clinic.check_in_appointment"),
            "now": timezone.now(),
        },
    )


@staff_view("clinic.view_appointment")
@require_GET
def calendar_week(request: HttpRequest) -> HttpResponse:
    params = _calendar_params(request)
    day = params.cleaned_data.get("date") or timezone.localdate()
    monday = day - timedelta(days=day.weekday())
    days = [monday + timedelta(days=i) for i in range(7)]
    room = params.cleaned_data.get("room")
    practitioner = params.cleaned_data.get("practitioner")
    if room is None and practitioner is None:
        practitioner = (
            Practitioner.objects.filter(user=request.user, is_active=True)
            .select_related("user")
            .first()
        )
    appointments = Appointment.objects.filter(
        start__gte=local_midnight(monday),
        start__lt=local_midnight(days[-1] + timedelta(days=1)),
    ).with_people()
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
    week = [{**info[d], "appointments": by_day.get(d, [])} for d in days]
    return render(
        request,
        "clinic/calendar_week.html",
        {
            "week": week,
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


# Health ------------------------------------------------------------------------


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_broker() -> None:
    with Connection(
        settings.CELERY_BROKER_URL,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        connect_timeout=2,
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and monitors: no sign-in, no details beyond ok/error."""
    report, healthy = {}, True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            check()
        except Exception:  # Any failure of the dependency means "not ready".
            report[name] = "error"
            healthy = False
        else:
            report[name] = "ok"
    return JsonResponse(report, status=200 if healthy else 503)


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    # Resolved per request: the static files manifest exists only after collectstatic.
    return redirect(static("img/favicon.svg"), permanent=True)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", status=403)
