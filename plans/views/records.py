"""Practitioners' pages: the day and session records (photos: views/photos.py).

Clinical content: only roles with the record permissions get in, and every
opening of a record is written to the access log.
"""

from copy import copy

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_safe

from clinic import roles
from clinic.models import Appointment, Area, ClinicalAccess, Practitioner
from clinic.roles import is_practitioner, staff_name
from clinic.services import (
    attach_consultations_in_force,
    consultation_in_force,
    log_clinical_access,
)
from clinic.views import form_errors_from, id_from, staff_view, unsaved_values
from plans import records
from plans.forms import (
    AmendForm,
    AreaFormSet,
    PhotoForm,
    RecordForm,
)
from plans.models import (
    Photo,
    SessionRecord,
    TreatmentSession,
)
from plans.services import (
    PlanError,
    later_consultations,
    later_consultations_and_refusals,
)
from plans.views.common import refused_photo_key


def _get_session(pk: int) -> TreatmentSession:
    return get_object_or_404(
        TreatmentSession.objects.select_related(
            "plan__patient",
            "plan__protocol",
            "plan__consultation__decided_by",
            "appointment__practitioner__user",
            "appointment__room",
        ),
        pk=pk,
    )


def _day(session: TreatmentSession) -> str:
    """The session's day as the access log names it: "27 Nov 2026"."""
    return f"{timezone.localtime(session.appointment.start):%d %b %Y}"


def _record_for(session: TreatmentSession) -> SessionRecord:
    record = (
        SessionRecord.objects.filter(session=session)
        .select_related(
            "numbing_agent",
            "signed_by__practitioner",
            "last_saved_by__practitioner",
        )
        .prefetch_related("areas", "products_after", "amendments__by__practitioner")
        .first()
    )
    if record is None:
        record = SessionRecord(session=session)
    return record


def _check_signer(user) -> None:
    if not user.has_perm("plans.sign_sessionrecord"):
        raise PlanError(_("Only a practitioner can complete and sign a session."))


# Sent by static/js/forms.js with a draft saved before a photo is added.
DRAFT_BEFORE_PHOTO = "X-Draft-Before-Photo"


def _ended_when_signed(record: SessionRecord, form: RecordForm) -> bool:
    """Signed before the end the page gave (the booking's, or a draft's) and
    left as given: the session ends now, which is set on ``record``. An end
    typed in is kept, to be refused if ahead."""
    now = timezone.now().replace(second=0, microsecond=0)
    if (
        "ended_at" in form.changed_data
        or record.started_at is None
        or record.ended_at is None
        or not record.started_at < now < record.ended_at
    ):
        return False
    record.ended_at = now
    return True


def _record_initial(
    record: SessionRecord, session: TreatmentSession, previous: SessionRecord | None
) -> dict:
    """The record form's first values: a record not saved yet starts at the
    booking's times (or the check-in, when seen early), and with the previous
    session's device and numbing. Signed before that end, it ends when signed
    (see _ended_when_signed)."""
    appointment = session.appointment
    initial = {"seen": records.seen_stamp(record, appointment)}
    if record.pk:
        return initial
    start = appointment.start
    checked_in = appointment.checked_in_at
    if checked_in is not None and checked_in < start:
        # Seen early: the session began about when the patient came.
        start = checked_in.replace(second=0, microsecond=0)
    initial |= {
        "started_at": timezone.localtime(start),
        "ended_at": timezone.localtime(start + (appointment.end - appointment.start)),
    }
    if previous is not None:
        initial |= {
            "device": previous.device,
            "numbing_agent": previous.numbing_agent,
            "numbing_other": previous.numbing_other,
            "numbing_minutes": previous.numbing_minutes,
        }
    return initial


def _areas_initial(record: SessionRecord, session: TreatmentSession) -> list[dict]:
    """The record's areas; on a draft, after them the plan's areas not saved yet
    (a draft keeps only areas with their depth), to fill in."""
    saved = (
        [
            {"area": a.area, "depth_mm": a.depth_mm, "passes": a.passes}
            for a in record.areas.all()
        ]
        if record.pk
        else []
    )
    if record.is_signed:
        return saved
    done = {row["area"] for row in saved}
    return saved + [
        {"area": area, "passes": 2} for area in session.plan.areas if area not in done
    ]


def _unsaved_areas(
    typed: list[records.AreaEntry], saved: SessionRecord
) -> list[tuple[str, str]]:
    """The areas a refused record form held, when they differ from the saved."""

    def described(entries) -> list[str]:
        return [
            _("%(area)s: %(depth)s mm, %(passes)s passes")
            % {
                "area": Area(entry.area).label,
                "depth": f"{entry.depth_mm:.2f}",
                "passes": entry.passes,
            }
            for entry in entries
        ]

    mine = described(typed)
    if mine == described(saved.areas.all() if saved.pk else []):
        return []
    return [(_("Areas treated"), "\n".join(mine) or _("(empty)"))]


@staff_view("plans.view_sessionrecord")
def record(request: HttpRequest, session_pk: int) -> HttpResponse:
    session = _get_session(session_pk)
    record = _record_for(session)
    log_clinical_access(
        user=request.user,
        patient=session.plan.patient,
        what=f"session record, {_day(session)}",
        object_id=session.pk,
    )
    previous = records.previous_record(session)
    # A cancelled or missed session has nothing more to record.
    lost = session.appointment.status in Appointment.LOST_STATUSES
    # Written by the practitioners only: not by a manager's role, nor by a
    # superuser's rights.
    practitioner = is_practitioner(request.user)
    can_edit = (
        request.user.has_perm("plans.change_sessionrecord")
        and practitioner
        and not record.is_signed
        and not lost
    )
    form = areas = None
    unsaved: list[tuple[str, str]] = []
    if request.method == "POST" and lost:
        # Cancelled or missed while the practitioner wrote: what they typed is
        # shown, not dropped.
        typed = RecordForm(request.POST, instance=SessionRecord(session=session))
        typed.is_valid()
        typed_areas = AreaFormSet(request.POST, prefix="areas")
        unsaved = unsaved_values(typed, RecordForm(instance=SessionRecord()))
        if typed_areas.is_valid():
            unsaved += _unsaved_areas(typed_areas.entries(), record)
        return render(
            request,
            "clinic/not_saved.html",
            {
                "reason": _(
                    "This session was %(status)s while your page was open: there "
                    "is nothing to record on it."
                )
                % {"status": session.appointment.status_phrase},
                "unsaved": unsaved,
                "back": session.plan.get_absolute_url(),
                "back_label": _("Back to the plan"),
            },
        )
    if request.method == "POST" and record.is_signed:
        messages.error(
            request,
            _(
                "This record was signed while your page was open, so your changes "
                "were not saved: amend it to change it."
            ),
        )
        return redirect("plans:record", session_pk=session.pk)
    if request.method == "POST" and not can_edit:
        # A manager reads records; the practitioners write them.
        raise PermissionDenied(
            _("Only a practitioner records a session: nothing was saved.")
        )
    treatable = records.treatable_areas(session, record)
    # Times signing questions: the page asks to confirm them (sign_record).
    ask_times = _times_checked(request)
    if can_edit:
        form = RecordForm(
            request.POST or None,
            instance=record,
            initial=_record_initial(record, session, previous),
        )
        areas = AreaFormSet(
            request.POST or None,
            prefix="areas",
            initial=None if request.POST else _areas_initial(record, session),
            # A draft may be saved before the needling: an area without its
            # depth yet is left for later, not refused.
            form_kwargs={
                "draft": request.POST.get("action") != "sign",
                "areas": treatable,
            },
        )
        if request.method == "POST" and form.is_valid() and areas.is_valid():
            entries = areas.entries()
            # Who wrote the draft as the page showed it (a save since is
            # refused as stale): a colleague's draft is signed once read.
            drafted_by, drafted_at = record.last_saved_by, record.updated_at
            signing = request.POST.get("action") == "sign"
            typed_record = form.save(commit=False)
            ended_now = signing and _ended_when_signed(typed_record, form)
            try:
                # Save and sign together: a refused signature saves nothing.
                with transaction.atomic():
                    saved = records.save_record(
                        record=typed_record,
                        entries=entries,
                        products=list(form.cleaned_data["products_after"]),
                        seen=form.cleaned_data["seen"],
                        by=request.user,
                    )
                    if signing:
                        _check_signer(request.user)
                        records.sign_record(
                            record=saved,
                            by=request.user,
                            despite_decision=request.POST.get("despite_decision")
                            == "on",
                            drafted_by=drafted_by,
                            draft_read=request.POST.get("draft_read") == "on",
                            stood_in=request.POST.get("stood_in") == "on",
                            times_checked=_times_checked(request),
                        )
                for warning in records.depth_warnings(entries, previous):
                    messages.warning(request, warning)
                if not _times_checked(request):
                    for warning in records.time_warnings(saved):
                        messages.warning(request, warning)
                waiting = areas.waiting_for_depth()
                if waiting:
                    messages.warning(
                        request,
                        ngettext(
                            "Saved, except %(areas)s, which has no depth yet: "
                            "type its depth and save again.",
                            "Saved, except %(areas)s, which have no depth yet: "
                            "type their depths and save again.",
                            len(waiting),
                        )
                        % {"areas": ", ".join(waiting)},
                    )
                if signing:
                    messages.success(
                        request,
                        _(
                            "Session completed and signed. Later changes are "
                            "amendments, each with its reason; photos can still "
                            "be added, and one removed with a reason."
                        ),
                    )
                    if ended_now:
                        messages.info(
                            request,
                            _(
                                "It is recorded as ending at %(end)s, when it was "
                                "signed: the end the page gave was still ahead. "
                                "Amend it if the session ended earlier."
                            )
                            % {"end": f"{timezone.localtime(saved.ended_at):%H:%M}"},
                        )
                else:
                    messages.success(request, _("Draft saved."))
                if request.headers.get(DRAFT_BEFORE_PHOTO):
                    # The page's script saves the typing before adding a photo:
                    # "saved", said apart from every refusal (those redirect or
                    # show the page again), and from a draft saved without an
                    # area typed in that still waits for its depth (it asks
                    # first; the page's own rows waiting for it are kept).
                    typed = request.POST.get("changed_fields", "").split(",")
                    typed_areas = any(name.startswith("areas-") for name in typed)
                    return HttpResponse(status=409 if waiting and typed_areas else 204)
                return redirect("plans:record", session_pk=session.pk)
            except records.StaleRecord as error:
                # Their form showed the record as it was: show it as saved now,
                # with what they typed beside it to copy from.
                messages.error(request, str(error))
                saved = _record_for(session)
                if saved.is_signed:
                    return redirect("plans:record", session_pk=session.pk)
                typed = form
                record = saved
                form = RecordForm(
                    instance=saved,
                    initial=_record_initial(saved, session, previous),
                )
                areas = AreaFormSet(
                    prefix="areas",
                    initial=_areas_initial(saved, session),
                    form_kwargs={"areas": treatable},
                )
                changed = request.POST.get("changed_fields")
                unsaved = unsaved_values(typed, form, changed)
                if changed is None or "areas-" in changed:
                    unsaved += _unsaved_areas(entries, saved)
            except PlanError as error:
                form_errors_from(error, form)
                ask_times = isinstance(error, records.TimesToCheck)
                # Nothing was saved: the draft is still the writer's, as saved.
                record.last_saved_by, record.updated_at = drafted_by, drafted_at
        elif request.method == "POST" and request.POST.get("action") == "sign":
            # The form's own errors, and what signing asks to read first, at
            # once rather than on the next try.
            _refused, questions = records.to_read_before_signing(
                record,
                by=request.user,
                despite_decision=request.POST.get("despite_decision") == "on",
                drafted_by=record.last_saved_by,
                draft_read=request.POST.get("draft_read") == "on",
                stood_in=request.POST.get("stood_in") == "on",
            )
            for question in questions:
                form.add_error(None, question)
            if not _times_checked(request):
                # And the times' questions, of the times typed.
                typed = copy(record)
                typed.started_at = form.cleaned_data.get("started_at")
                typed.ended_at = form.cleaned_data.get("ended_at")
                for warning in records.time_warnings(typed):
                    form.add_error(None, warning)
                    ask_times = True
    # A photo refused on its way in (plans.views.photos.photo_upload): said
    # beside the photo form, or at the top when the page shows no such form.
    refused_photo = request.session.pop(refused_photo_key(session.pk), None) or {}
    photos_from = (
        session.appointment.start
        if timezone.localdate(session.appointment.start) > timezone.localdate()
        else None
    )
    can_add_photos = (
        request.user.has_perm("plans.add_photo") and practitioner and not lost
    )
    if not can_add_photos or photos_from is not None:
        for reason in refused_photo.pop("refused", []):
            messages.error(request, reason)
    photos = sorted(
        session.photos.select_related("uploaded_by"),
        key=lambda p: (p.area, p.moment != Photo.Moment.BEFORE, p.uploaded_at),
    )
    take_care, refusals = (
        ({}, {})
        if record.is_signed or lost
        else later_consultations_and_refusals([session.plan])
    )
    return render(
        request,
        "plans/record.html",
        {
            "session": session,
            "plan": session.plan,
            "record": record,
            "previous": previous,
            "form": form,
            "areas": areas,
            "photos": photos,
            "photo_removals": list(
                session.photo_removals.select_related("by__practitioner")
            ),
            # The plan's first area first: most photos are of it.
            "photo_form": PhotoForm(
                initial=refused_photo.get("typed")
                or {"area": (session.plan.areas or [None])[0]},
                areas=treatable,
            ),
            "photo_refused": refused_photo.get("refused", []),
            "photo_choose_again": refused_photo.get("choose_again", True),
            "lost": lost,
            "ask_times": ask_times,
            # Ticked for the times as they are still typed.
            "times_checked": _times_checked(request),
            "later": take_care.get(session.plan_id),
            # A later consultation that refuses or refers: signing asks that it
            # was read, as for the plan's own.
            "later_refusal": refusals.get(session.plan_id),
            # Whose medication holds for this session (the pre-care emails'),
            # asked before treating only.
            "in_force": None
            if record.is_signed or lost
            else consultation_in_force(session.appointment),
            "unsaved": unsaved,
            # A signed record changes by practitioners only, photos included.
            "can_add_photos": can_add_photos,
            # Photos are taken on the day (plans.photos.add_photo refuses
            # earlier): the form isn't offered before, only said.
            "photos_from": photos_from,
            "can_amend": record.is_signed and practitioner,
            "can_remove_photos": practitioner,
            "can_sign": request.user.has_perm("plans.sign_sessionrecord"),
            "drafted_by_name": staff_name(record.last_saved_by)
            if record.last_saved_by_id
            else "",
        },
    )


# Amending a signed record is signing its new values: practitioners only.
@staff_view("plans.sign_sessionrecord")
def record_amend(request: HttpRequest, session_pk: int) -> HttpResponse:
    session = _get_session(session_pk)
    record = _record_for(session)
    if not record.is_signed:
        messages.info(request, _("This record is not signed yet: edit it directly."))
        return redirect("plans:record", session_pk=session.pk)
    # The form shows the whole record: an opening like the record page's.
    log_clinical_access(
        user=request.user,
        patient=session.plan.patient,
        what=f"session record (amend), {_day(session)}",
        object_id=session.pk,
    )
    form = RecordForm(request.POST or None, instance=record)
    treatable = records.treatable_areas(session)
    areas = AreaFormSet(
        request.POST or None,
        prefix="areas",
        initial=None if request.POST else _areas_initial(record, session),
        form_kwargs={"areas": treatable},
    )
    reason = AmendForm(
        request.POST or None, initial={"seen": record.amendments.count()}
    )
    unsaved: list[tuple[str, str]] = []
    # Times the amendment questions: the page asks to confirm them.
    ask_times = _times_checked(request)
    if (
        request.method == "POST"
        and form.is_valid()
        and areas.is_valid()
        and reason.is_valid()
    ):
        try:
            records.amend_record(
                record=record,
                changes={f: form.cleaned_data[f] for f in records.AMENDABLE},
                entries=areas.entries(),
                products=list(form.cleaned_data["products_after"]),
                reason=reason.cleaned_data["reason"],
                by=request.user,
                seen=reason.cleaned_data["seen"],
                times_checked=_times_checked(request),
            )
        except records.StaleRecord as error:
            # The form shows the record as amended now, with what they typed
            # (and their reason) beside it to copy from.
            messages.error(request, str(error))
            saved = _record_for(session)
            typed, typed_areas = form, areas.entries()
            form = RecordForm(instance=saved)
            areas = AreaFormSet(
                prefix="areas",
                initial=_areas_initial(saved, session),
                form_kwargs={"areas": treatable},
            )
            # Only what they typed in, not the colleague's amendment that the
            # page sent back as it showed it.
            changed = request.POST.get("changed_fields")
            unsaved = unsaved_values(typed, form, changed)
            if changed is None or "areas-" in changed:
                unsaved += _unsaved_areas(typed_areas, saved)
            unsaved.append((_("Reason"), reason.cleaned_data["reason"]))
            reason = AmendForm(
                initial={
                    "seen": saved.amendments.count(),
                    "reason": reason.cleaned_data["reason"],
                }
            )
        except PlanError as error:
            form_errors_from(error, reason)
            ask_times = ask_times or isinstance(error, records.TimesToCheck)
        else:
            messages.success(
                request, _("Amendment saved; the record keeps its history.")
            )
            return redirect("plans:record", session_pk=session.pk)
    # The form above edits the instance in memory: show the stored record again.
    return render(
        request,
        "plans/record_amend.html",
        {
            "session": session,
            "plan": session.plan,
            "form": form,
            "areas": areas,
            "reason": reason,
            "unsaved": unsaved,
            "ask_times": ask_times,
            "times_checked": _times_checked(request),
        },
    )


@staff_view("plans.view_sessionrecord")
@require_safe
def my_day(request: HttpRequest) -> HttpResponse:
    """A practitioner's sessions today, with what they need to know for each."""
    practitioner = own = Practitioner.objects.filter(user=request.user).first()
    chosen = id_from(request.GET.get("practitioner"))
    if chosen is not None and request.user.has_perm("clinic.view_practitioner"):
        practitioner = Practitioner.objects.filter(pk=chosen).first() or practitioner
    today = timezone.localdate()
    appointments = []
    if practitioner is not None:
        appointments = list(
            Appointment.objects.on_day(today)
            .filter(practitioner=practitioner)
            .exclude(status=Appointment.Status.CANCELLED)
            .select_related(
                "patient",
                "room",
                "treatment_session__plan__protocol",
                "treatment_session__plan__consultation",
                "treatment_session__record",
                "consultation",
            )
        )
    plan_ids = {
        a.treatment_session.plan_id
        for a in appointments
        if hasattr(a, "treatment_session")
    }
    attach_consultations_in_force(appointments)
    later = later_consultations(
        {
            a.treatment_session.plan_id: a.treatment_session.plan
            for a in appointments
            if hasattr(a, "treatment_session")
        }.values()
    )
    signed = (
        SessionRecord.objects.filter(
            session__plan_id__in=plan_ids, signed_at__isnull=False
        )
        .select_related("session__appointment", "numbing_agent")
        .prefetch_related(Prefetch("areas"))
        .order_by("session__appointment__start")
    )
    history: dict[int, list[SessionRecord]] = {}
    for rec in signed:
        history.setdefault(rec.session.plan_id, []).append(rec)
    rows = []
    for appointment in appointments:
        session = getattr(appointment, "treatment_session", None)
        row = {"appointment": appointment, "session": session}
        if session is not None:
            plan = session.plan
            earlier = [
                r
                for r in history.get(plan.pk, [])
                if r.session.appointment.start < appointment.start
            ]
            row |= {
                "plan": plan,
                "number": len(earlier) + 1,
                "previous": earlier[-1] if earlier else None,
                "consultation": plan.consultation,
                "in_force": consultation_in_force(appointment),
                "later": later.get(plan.pk),
                "record": getattr(session, "record", None),
            }
        rows.append(row)
    # The page shows each session's clinical details (medication, screening,
    # the last session's depths): an opening of those, logged as the record
    # page's is, in one insert.
    ClinicalAccess.objects.bulk_create(
        ClinicalAccess(
            user=request.user,
            patient=row["appointment"].patient,
            what=f"My day (session of {_day(row['session'])})",
            object_id=row["session"].pk,
        )
        for row in rows
        if row["session"] is not None
    )
    return render(
        request,
        "plans/my_day.html",
        {
            "practitioner": practitioner,
            # Who writes consultations (no query: their entry is read above).
            "writes_consultations": own is not None and own.is_active,
            # The role without a Practitioner entry: nothing is booked with them.
            "not_set_up": own is None
            and roles.has_role(request.user, roles.PRACTITIONER),
            "today": today,
            "rows": rows,
            "practitioners": Practitioner.objects.filter(is_active=True).select_related(
                "user"
            )
            if request.user.has_perm("clinic.view_practitioner")
            and not hasattr(request.user, "practitioner")
            else [],
        },
    )


def _times_checked(request: HttpRequest) -> bool:
    """The practitioner ticked that the times are right, for the times on the
    page when they ticked it (changed since, they are asked again)."""
    typed = f"{request.POST.get('started_at', '')}|{request.POST.get('ended_at', '')}"
    return (
        request.POST.get("times_checked") == "on"
        and request.POST.get("times_checked_for") == typed
    )
