"""Booking an appointment and changing it: move, cancel, check in, no-show."""

from datetime import date, timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from clinic import services
from clinic.forms import BookAppointmentForm, CancelForm, RescheduleForm
from clinic.models import Appointment, Patient
from clinic.roles import is_practitioner
from clinic.scheduling import span_text
from clinic.views.common import (
    form_errors_from,
    posted_as_seen_now,
    safe_next,
    staff_view,
    tell_by_phone,
)


def _get_appointment(pk: int) -> Appointment:
    return get_object_or_404(
        Appointment.objects.with_people().select_related(
            "treatment_session__plan__protocol"
        ),
        pk=pk,
    )


def _day_from_address(text: str) -> date | None:
    """A day given in the address (2026-12-01) from today on, or None for
    anything else: a link from a calendar is the only way one comes, and a
    bad or past one is dropped for the usual first day."""
    try:
        day = parse_date(text)
    except ValueError:
        return None
    return day if day is not None and day >= timezone.localdate() else None


@staff_view("clinic.add_appointment")
def appointment_book(request: HttpRequest, patient_pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=patient_pk)
    can_override = services.can_override_hours(request.user)
    initial = {
        # The day picked on a calendar, if it is one; else tomorrow, or the
        # next day the clinic opens.
        "date": _day_from_address(request.GET.get("date", ""))
        or services.next_open_day(timezone.localdate() + timedelta(days=1)),
        "start_time": request.GET.get("time") or "10:00",
        # A consultation usually takes half an hour.
        "duration": 30,
        "practitioner": request.GET.get("practitioner"),
        "room": request.GET.get("room"),
    }
    # Booking another is allowed (a second opinion), but usually a slip.
    # Still to be held (one under way, checked in, can't be moved instead).
    ahead = list(
        patient.appointments.filter(
            status=Appointment.Status.BOOKED,
            kind=Appointment.Kind.CONSULTATION,
            start__gte=timezone.now(),
        )
        .select_related("patient", "practitioner__user")
        .order_by("start")
    )
    # What the page shows of them, and which they are: the question names only
    # those booked since.
    seen = services.appointments_seen(ahead)
    shown_ids = ",".join(str(a.pk) for a in ahead)
    form = BookAppointmentForm(
        request.POST or None,
        initial=initial | {"ahead": f"{seen}|{shown_ids}"},
        can_override=can_override,
    )
    shown_seen, _bar, shown = (
        (form.cleaned_data.get("ahead") or "").partition("|")
        if form.is_bound and form.is_valid()
        else ("", "", "")
    )
    if ahead:
        form.offer_another()
    if (
        request.method == "POST"
        and form.is_valid()
        and ahead
        and not form.cleaned_data["another"]
    ):
        # What a tick can't answer is said at once, with the question.
        data = form.cleaned_data
        try:
            services.check_booking(
                patient=patient,
                slot=services.Slot(
                    start=data["start"],
                    end=data["end"],
                    practitioner=data["practitioner"],
                    room=data["room"],
                ),
                booked_by=request.user,
                override_reason=data.get("override_reason", ""),
            )
        except services.BookingError as error:
            form_errors_from(error, form)
        # Booked since the page was opened (it showed none, or others), or
        # shown above the form and booked all the same: asked either way.
        since = shown_seen != seen
        booked_since = [a for a in ahead if str(a.pk) not in shown.split(",")]
        form.ask_about_another(
            booked_since if since and booked_since else ahead, since=since
        )
        # The question names them: the note above the form would say it twice.
        ahead = []
    elif request.method == "POST" and form.is_valid():
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
                # Booked at another desk at the same moment: asked, not doubled.
                another=data["another"],
            )
        except services.BookingError as error:
            form_errors_from(error, form)
            if any(p.code == services.ANOTHER_CONSULTATION for p in error.problems):
                form.offer_another()
        else:
            messages.success(
                request,
                _("Consultation booked for %(patient)s, %(when)s.")
                % {
                    "patient": patient,
                    "when": span_text(appointment.start, appointment.end),
                },
            )
            tell_by_phone(request, patient)
            return redirect(appointment)
    return render(
        request,
        "clinic/appointment_form.html",
        {
            "form": form,
            "patient": patient,
            "can_override": can_override,
            "consultations_ahead": list(ahead[:3]),
        },
    )


@staff_view("clinic.view_appointment")
@require_safe
def appointment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = _get_appointment(pk)
    now = timezone.now()
    took_place = services.took_place(appointment, now=now)
    cancel_refused = took_place or services.time_is_over(appointment, now=now)
    return render(
        request,
        "clinic/appointment_detail.html",
        {
            "appointment": appointment,
            "can_check_in": request.user.has_perm("clinic.check_in_appointment"),
            "can_change": request.user.has_perm("clinic.change_appointment"),
            # A practitioner writes the consultation; a manager reads it.
            "can_record_consultation": is_practitioner(request.user),
            "now": now,
            "is_today": timezone.localdate(appointment.start)
            == timezone.localdate(now),
            "has_started": appointment.start <= now,
            # Over and still booked: a no-show to mark, not a time to move.
            "is_over": appointment.end <= now,
            # Then it can no longer be moved, cancelled or marked as missed.
            "took_place": took_place,
            "cancel_refused": cancel_refused,
            "history": services.history_of(appointment),
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
            % {"status": appointment.status_phrase},
        )
        return redirect(appointment)
    if appointment.plan_session is not None:
        messages.error(request, services.TREATMENTS_MOVE_WITH_THEIR_PLAN)
        return redirect(appointment.plan_session.plan)
    refusal = services.took_place(appointment, now=timezone.now())
    if refusal:
        messages.error(request, refusal)
        return redirect(appointment)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        was = (appointment.start, appointment.end)
        try:
            services.reschedule_appointment(
                appointment=appointment,
                start=data["start"],
                end=data["end"],
                practitioner=data["practitioner"],
                room=data["room"],
                by=request.user,
                override_reason=data.get("override_reason", ""),
                seen=data["seen"],
            )
        except services.StalePage as error:
            # The page shows the appointment as it is now, with what was typed
            # kept, to be sent again (or not).
            messages.error(request, error.messages[0])
            appointment = _get_appointment(pk)
            if appointment.status != Appointment.Status.BOOKED:
                return redirect(appointment)
            initial = RescheduleForm.initial_for(appointment)
            form = RescheduleForm(
                posted_as_seen_now(request, initial["seen"]),
                initial=initial,
                can_override=can_override,
            )
            form.is_valid()
        except services.BookingError as error:
            form_errors_from(error, form)
        else:
            appointment.refresh_from_db()
            if (appointment.start, appointment.end) == was:
                done = _("Changed: %(when)s with %(who)s in %(room)s.") % {
                    "when": span_text(appointment.start, appointment.end),
                    "who": appointment.practitioner,
                    "room": appointment.room,
                }
            elif appointment.start == was[0]:
                done = _("Now %(when)s (the length changed).") % {
                    "when": span_text(appointment.start, appointment.end)
                }
            else:
                done = _("Moved to %(when)s.") % {
                    "when": span_text(appointment.start, appointment.end)
                }
            messages.success(request, done)
            tell_by_phone(request, appointment.patient)
            return redirect(appointment)
    return render(
        request,
        "clinic/appointment_reschedule.html",
        {"form": form, "appointment": appointment, "can_override": can_override},
    )


def _why_not_cancelled(appointment: Appointment) -> str:
    """Why the page's form would be refused anyway ("" when it may be used)."""
    if appointment.status not in Appointment.OPEN_STATUSES:
        return _("This appointment is %(status)s and can no longer be cancelled.") % {
            "status": appointment.status_phrase
        }
    return services.why_not_cancellable(appointment, now=timezone.now()) or ""


@staff_view("clinic.change_appointment")
def appointment_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = _get_appointment(pk)
    refusal = _why_not_cancelled(appointment)
    if refusal:
        messages.error(request, refusal)
        return redirect(appointment)
    session = appointment.plan_session
    if (
        request.method != "POST"
        and session is not None
        and appointment.status == Appointment.Status.BOOKED
    ):
        # The plan's page offers a replacement at the end of the course.
        return redirect(session.get_cancel_url())
    form = CancelForm(
        request.POST or None,
        initial={"seen": services.appointments_seen([appointment])},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.cancel_appointment(
                appointment=appointment,
                by=request.user,
                reason=form.cleaned_data["reason"],
                seen=form.cleaned_data["seen"],
            )
        except services.StalePage as error:
            # The reason is said back: to copy, if it is still to be cancelled.
            messages.error(
                request,
                _("%(refusal)s The reason you typed: “%(reason)s”.")
                % {
                    "refusal": error.messages[0],
                    "reason": form.cleaned_data["reason"],
                },
            )
            return redirect(appointment)
        except services.BookingError as error:
            form_errors_from(error, form)
        else:
            messages.success(request, _("The appointment is cancelled."))
            tell_by_phone(request, appointment.patient)
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
    return redirect(safe_next(request, appointment.get_absolute_url()))


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


@staff_view("clinic.check_in_appointment")
@require_POST
def appointment_undo_check_in(request: HttpRequest, pk: int) -> HttpResponse:
    return _status_action(
        request,
        pk,
        services.undo_check_in,
        _("%(patient)s is no longer checked in: the appointment is booked."),
    )


@staff_view("clinic.check_in_appointment")
@require_POST
def appointment_undo_no_show(request: HttpRequest, pk: int) -> HttpResponse:
    return _status_action(
        request,
        pk,
        services.undo_no_show,
        _("%(patient)s is no longer a no-show: the appointment is booked again."),
    )
