"""Changing booked sessions: move, change from here, cancel, no-show."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from clinic import services as booking
from clinic.models import Appointment
from clinic.scheduling import when_text
from clinic.views import (
    form_errors_from,
    posted_as_seen_now,
    staff_view,
    tell_by_phone,
)
from plans import services
from plans.forms import (
    CancelSessionForm,
    ChangeResourcesForm,
    MoveSessionForm,
)
from plans.views.common import get_session, show_errors, to_the_ended_plan


def _moved_message(done: services.MovePreview) -> str:
    first, last = done.moves[0], done.moves[-1]
    values = {
        "first": first.position,
        "last": last.position,
        "when": when_text(first.start),
    }
    if len(done.moves) == 1:
        return _("Session %(first)s moved to %(when)s.") % values
    if len(done.moves) == 2:
        return (
            _(
                "Sessions %(first)s and %(last)s moved: session %(first)s is now "
                "on %(when)s."
            )
            % values
        )
    return (
        _("Sessions %(first)s to %(last)s moved: session %(first)s is now on %(when)s.")
        % values
    )


@staff_view("plans.book_series")
def session_move(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_session(pk)
    appointment = session.appointment
    if appointment.status != Appointment.Status.BOOKED:
        messages.error(
            request,
            _("This session is %(status)s and can't be moved.")
            % {"status": appointment.status_phrase},
        )
        return redirect(session.plan)
    local = timezone.localtime(appointment.start)
    initial = {
        "date": local.date(),
        "time": local.time(),
        "seen": services.sessions_seen(session),
    }
    form = MoveSessionForm(request.POST or None, initial=initial)
    if (
        request.POST.get("action") == "move"
        and form.is_valid()
        and form.changed_since_preview
    ):
        # A tick given for another move: this one is shown to be confirmed.
        data = request.POST.copy()
        data.pop("confirmed", None)
        form = MoveSessionForm(data, initial=initial)
    preview = None
    # A manager's reason in too few words still shows the move, with the
    # reason's field and its error, rather than a page without either.
    previewable = form.is_valid() or set(form.errors) == {"override_reason"}
    if (
        request.method == "POST"
        and previewable
        and request.POST.get("action") != "move"
        and form.cleaned_data["seen"] != services.sessions_seen(session)
    ):
        # Previewed from a page opened before a colleague's change: the preview
        # is of the sessions as they are now, and says so.
        messages.warning(
            request,
            _(
                "Someone moved or changed these sessions while your page was "
                "open: the preview below starts from where they are now."
            ),
        )
        form = MoveSessionForm(
            posted_as_seen_now(request, services.sessions_seen(session)),
            initial=initial,
        )
        previewable = form.is_valid() or set(form.errors) == {"override_reason"}
    if request.method == "POST" and previewable:
        data = form.cleaned_data
        try:
            preview = services.preview_move(
                session=session,
                start=data["start"],
                scope=data["scope"],
                room=data["room"],
            )
            if (
                request.POST.get("action") == "move"
                and preview.needs_confirmation
                and not preview.problems
                and form.changed_since_preview
            ):
                # The spacing was confirmed for another move: show this one.
                messages.warning(
                    request,
                    _("The move changed since its preview: check it, then confirm."),
                )
            elif request.POST.get("action") == "move" and not form.errors:
                done = services.move_sessions(
                    session=session,
                    start=data["start"],
                    scope=data["scope"],
                    room=data["room"],
                    by=request.user,
                    confirmed=data["confirmed"],
                    override_reason=data["override_reason"],
                    seen=data["seen"],
                )
                messages.success(request, _moved_message(done))
                tell_by_phone(request, session.plan.patient)
                return redirect(session.plan)
        except services.StalePlan as error:
            # The page shows where the session is now, with what was typed, to
            # be previewed again.
            messages.error(request, error.messages[0])
            session = get_session(pk)
            if session.appointment.status != Appointment.Status.BOOKED:
                return redirect(session.plan)
            local = timezone.localtime(session.appointment.start)
            initial |= {"date": local.date(), "time": local.time()}
            form = MoveSessionForm(
                posted_as_seen_now(request, services.sessions_seen(session)),
                initial=initial,
            )
            form.is_valid()
            preview = None
        except services.PlanEnded as error:
            return to_the_ended_plan(request, error, session.plan)
        except services.PlanError as error:
            # What the preview below lists already is said there, once.
            listed = (
                set(preview.problems + preview.too_close + preview.too_far)
                if preview
                else set()
            )
            for message in error.messages:
                if message not in listed:
                    form.add_error(None, message)
    if preview and preview.needs_confirmation and not form.errors:
        # The question the preview asks, focused (read out with its label).
        form.fields["confirmed"].widget.attrs["autofocus"] = True
    return render(
        request,
        "plans/session_move.html",
        {
            "session": session,
            "plan": session.plan,
            "form": form,
            "preview": preview,
            "position": services.place_in_course(session),
            "stamp": form.stamp() if preview else "",
            "can_override": request.user.has_perm("clinic.override_hours"),
            # A session moved close to today may leave no time to stop a
            # skin medication (which one is the practitioners' to see).
            "stops_medication_too_late": preview is not None
            and services.stops_medication_too_late(
                session.plan, preview.moves, now=timezone.now()
            ),
        },
    )


@staff_view("plans.book_series")
def session_change(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_session(pk)
    if session.appointment.status != Appointment.Status.BOOKED:
        messages.error(
            request,
            _("This session is %(status)s and can't be changed.")
            % {"status": session.appointment.status_phrase},
        )
        return redirect(session.plan)
    form = ChangeResourcesForm(
        request.POST or None,
        initial={
            "practitioner": session.appointment.practitioner,
            "room": session.appointment.room,
            "seen": services.sessions_seen(session),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.change_resources_from(
                session=session,
                practitioner=form.cleaned_data["practitioner"],
                room=form.cleaned_data["room"],
                by=request.user,
                seen=form.cleaned_data["seen"],
            )
        except services.StalePlan as error:
            # The page shows the course as it is now, with what was picked.
            messages.error(request, error.messages[0])
            session = get_session(pk)
            if session.appointment.status != Appointment.Status.BOOKED:
                return redirect(session.plan)
            form = ChangeResourcesForm(
                posted_as_seen_now(request, services.sessions_seen(session))
            )
            form.is_valid()
        except services.PlanEnded as error:
            return to_the_ended_plan(request, error, session.plan)
        except services.PlanError as error:
            form_errors_from(error, form)
        else:
            messages.success(
                request,
                ngettext(
                    "%(n)s session changed.", "%(n)s sessions changed.", len(changed)
                )
                % {"n": len(changed)},
            )
            tell_by_phone(request, session.plan.patient)
            return redirect(session.plan)
    return render(
        request,
        "plans/session_change.html",
        {
            "session": session,
            "plan": session.plan,
            "form": form,
            "position": services.place_in_course(session),
            # What each of them has now: a later change of hands is seen
            # before this one replaces it.
            "affected": services.booked_sessions_from(session),
        },
    )


@staff_view("plans.book_series")
def session_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_session(pk)
    if session.appointment.status not in Appointment.OPEN_STATUSES:
        messages.error(
            request,
            _("This session is %(status)s and can no longer be cancelled.")
            % {"status": session.appointment.status_phrase},
        )
        return redirect(session.plan)
    refusal = booking.why_not_cancellable(session.appointment, now=timezone.now())
    if refusal:
        messages.error(request, refusal)
        return redirect(session.plan)
    form = CancelSessionForm(
        request.POST or None, initial={"seen": services.session_seen(session)}
    )
    if request.method == "POST" and form.is_valid():
        try:
            replacement = services.cancel_session(
                session=session,
                reason=form.cleaned_data["reason"],
                replace=form.cleaned_data["replace"],
                by=request.user,
                seen=form.cleaned_data["seen"],
            )
        except services.StalePlan as error:
            # The page shows where the session is now, with what was typed.
            messages.error(request, error.messages[0])
            session = get_session(pk)
            if session.appointment.status not in Appointment.OPEN_STATUSES:
                return redirect(session.plan)
            form = CancelSessionForm(
                posted_as_seen_now(request, services.session_seen(session))
            )
            form.is_valid()
        except services.PlanEnded as error:
            return to_the_ended_plan(request, error, session.plan)
        except services.PlanError as error:
            form_errors_from(error, form)
        else:
            if replacement is not None:
                when = timezone.localtime(replacement.appointment.start)
                messages.success(
                    request,
                    _(
                        "Session cancelled; a replacement is booked for %(when)s "
                        "with %(who)s in %(room)s."
                    )
                    % {
                        "when": when_text(when),
                        "who": replacement.appointment.practitioner,
                        "room": replacement.appointment.room,
                    },
                )
            else:
                messages.success(request, _("Session cancelled."))
            tell_by_phone(request, session.plan.patient)
            return redirect(session.plan)
    return render(
        request,
        "plans/session_cancel.html",
        {
            "session": session,
            "plan": session.plan,
            "form": form,
            "gap": services.gap_left_by_cancelling(session),
        },
    )


@staff_view("plans.book_series")
@require_POST
def session_no_show(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_session(pk)
    try:
        services.mark_session_no_show(session=session, by=request.user)
    except services.PlanError as error:
        show_errors(request, error)
    else:
        messages.success(
            request,
            _(
                "Marked as a no-show. If the patient arrives after all, take it "
                "back today on the appointment's page (Undo no-show)."
            ),
        )
    return redirect(session.plan)
