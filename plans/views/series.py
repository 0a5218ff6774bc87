"""Booking a whole series of sessions: propose, adjust, confirm."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinic.views import staff_view, tell_by_phone
from plans import services
from plans.forms import (
    OverrideForm,
    SeriesStartForm,
    SessionRowForm,
    SessionRowFormSet,
    default_first_date,
)
from plans.scheduling import Proposal, State
from plans.views.common import get_plan, show_errors, to_the_ended_plan


def _rows_initial(
    proposals: list[Proposal], by_hand: set[int] | None = None
) -> list[dict]:
    """The rows as the page shows them. ``by_hand``: after a refused *Book all*
    (which takes every row as shown), the rows really changed by hand; the
    others stay proposals, to follow a row changed before *Check again*."""
    return [
        {
            "date": timezone.localdate(p.start),
            "time": timezone.localtime(p.start).time(),
            "room": p.room,
            # A row the front desk chose stays chosen when another row changes.
            "proposed": ""
            if (p.index in by_hand if by_hand is not None else p.state == State.CHOSEN)
            else SessionRowForm.stamp(p.start, p.room),
        }
        for p in proposals
    ]


def _too_close_unallowed(proposals: list[Proposal], override_form, user) -> bool:
    if not any(p.spacing_below_minimum for p in proposals):
        return False
    return not (
        user.has_perm("clinic.override_hours")
        and override_form.is_valid()
        and override_form.cleaned_data["override_reason"].strip()
    )


@staff_view("plans.book_series")
def plan_book(request: HttpRequest, pk: int) -> HttpResponse:
    """Propose every unbooked session; the front desk may change any, then books."""
    plan = get_plan(pk)
    if not plan.is_open:
        messages.error(request, _("This plan has ended; no sessions can be booked."))
        return redirect(plan)
    if not plan.has_consent:
        messages.error(
            request, _("Record the patient's consent before booking sessions.")
        )
        return redirect(plan)
    on_hold = services.why_on_hold(plan)
    if on_hold:
        messages.error(request, on_hold)
        return redirect(plan)
    unbooked = services.unbooked_count(plan)
    if unbooked == 0:
        if request.POST.get("action") == "confirm":
            # Their Book all came after another desk's.
            messages.error(
                request,
                _(
                    "Nothing was booked: every session of this plan was booked "
                    "meanwhile (from another page or desk). The plan shows them."
                ),
            )
        else:
            messages.info(request, _("Every session of this plan is booked."))
        return redirect(plan)

    live = services.live_appointments(plan)
    latest = live[-1] if live else None
    previous = latest.start if latest else None
    first_day = default_first_date(previous, plan.spacing_days)
    if previous is None and request.method != "POST":
        # A first session on a day the practitioner works, not one the proposal
        # would move at once (the form as sent has its own date).
        first_day = services.next_working_day(plan.practitioner, first_day)
    course = services.course_seen(plan, live)
    posted = request.POST.copy() if request.method == "POST" else None
    changed_meanwhile = bool(
        posted and posted.get("course") and posted.get("course") != course
    )
    if changed_meanwhile:
        # Proposed after sessions that have moved, been booked or cancelled
        # since: the rows no longer fit the course.
        posted["course"] = course
    start_form = SeriesStartForm(
        posted,
        initial={
            "date": first_day,
            "time": timezone.localtime(previous).time() if previous else "10:00",
            "practitioner": services.practitioner_to_follow(plan, latest),
            "course": course,
        },
        after=timezone.localdate(previous) if previous else None,
    )
    booked = plan.planned_sessions - unbooked
    if booked:
        # The first of these is not the course's first session.
        start_form.fields["date"].label = _("Session %(n)s") % {"n": booked + 1}
    context = {
        "plan": plan,
        "window": services.window_for(plan),
        "unbooked": unbooked,
        # Sessions already in the course: the rows below come after them.
        "booked": booked,
        "start_form": start_form,
    }
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
    by_hand: set[int] = set()
    if action in ("recheck", "confirm") and changed_meanwhile:
        messages.error(
            request,
            _(
                "The plan's sessions changed while this page was open (a "
                "colleague booked, moved or cancelled one, or a manager changed "
                "the protocol's session length or spacing): nothing was booked. "
                "Here is a fresh proposal."
            ),
        )
        action = "propose"
    elif action in ("recheck", "confirm"):
        rows = SessionRowFormSet(request.POST, prefix="s")
        if rows.is_valid() and len(rows.forms) == unbooked:
            by_hand = {i for i, f in enumerate(rows.forms) if f.was_changed_by_hand}
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
        show_errors(request, error)
        return render(request, "plans/plan_book.html", context)

    override_form = OverrideForm(request.POST if action == "confirm" else None)
    # Out of date order only ever follows from dates typed by hand.
    typed_wrong = any(
        not p.is_bookable and (p.index in by_hand or p.out_of_order) for p in proposals
    )
    if action == "confirm" and typed_wrong:
        # A row changed by hand since the last check can't be booked: keep the
        # rows as typed, each with what is wrong, rather than a fresh proposal
        # (which is for a slot someone else took meanwhile, below).
        messages.error(
            request,
            _(
                "Nothing was booked: the sessions marked below can't be booked as "
                "they are. Change them, then check again."
            ),
        )
    elif action == "confirm" and _too_close_unallowed(
        proposals, override_form, request.user
    ):
        # Spacing typed closer than the minimum: the rows stay as typed, the
        # session marked "too close"; only a manager's reason books it.
        messages.error(
            request,
            _(
                "Nothing was booked: a session marked below is closer to the one "
                "before it than the minimum spacing. Change its date, or have a "
                "manager book it with a reason."
            ),
        )
    elif action == "confirm" and override_form.is_valid():
        try:
            services.book_series(
                plan=plan,
                proposals=proposals,
                practitioner=series.practitioner,
                by=request.user,
                override_reason=override_form.cleaned_data["override_reason"],
            )
        except services.PlanEnded as error:
            return to_the_ended_plan(request, error, plan)
        except services.PlanError as error:
            show_errors(request, error)
            left = services.unbooked_count(plan)
            if left != unbooked:
                # Another desk booked (some of) these meanwhile: the rows are
                # for sessions that are booked now.
                return redirect("plans:book", pk=plan.pk) if left else redirect(plan)
            # Someone may have taken a slot: offer a fresh proposal.
            series.chosen = {}
            proposals = services.propose_for_plan(
                plan=plan, request=series, count=unbooked
            )
        else:
            messages.success(
                request,
                ngettext(
                    "%(n)s session booked for %(patient)s.",
                    "%(n)s sessions booked for %(patient)s.",
                    len(proposals),
                )
                % {"n": len(proposals), "patient": plan.patient},
            )
            tell_by_phone(request, plan.patient)
            return redirect(plan)

    if action == "confirm" and not override_form.is_valid() and not typed_wrong:
        messages.error(request, _("Check the manager's reason below."))
    elif action != "confirm":
        override_form = OverrideForm()
    context.update(
        stops_medication_too_late=services.stops_medication_too_late(
            plan, proposals, now=timezone.now()
        ),
        proposals=proposals,
        rows=bad_rows
        or SessionRowFormSet(
            initial=_rows_initial(proposals, by_hand if action == "confirm" else None),
            prefix="s",
        ),
        override_form=override_form,
        can_override=request.user.has_perm("clinic.override_hours"),
        # Closer than the minimum: only a manager books it (with a reason).
        bookable=bad_rows is None
        and all(p.is_bookable for p in proposals)
        and (
            request.user.has_perm("clinic.override_hours")
            or not any(p.spacing_below_minimum for p in proposals)
        ),
        states=State,
    )
    context["pairs"] = list(zip(proposals, context["rows"].forms, strict=True))
    for number, row in enumerate(context["rows"].forms, start=booked + 1):
        row.name_fields(number)
    return render(request, "plans/plan_book.html", context)
