"""A treatment plan's life: start it (from an eligible consultation, with consent),
extend it, cancel the rest of it or complete it."""

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from clinic import services as booking
from clinic.models import Appointment, Area, Consultation, Patient, Practitioner
from clinic.roles import is_practitioner
from clinic.scheduling import day_text, when_text
from clinic.services.stale import appointments_seen
from plans.models import (
    MAX_PLANNED_SESSIONS,
    MIN_HEALING_DAYS,
    Protocol,
    TreatmentPlan,
    TreatmentSession,
)
from plans.scheduling import Window


class PlanError(Exception):
    """A plan change was refused; the message says why, in words for staff."""

    def __init__(self, message: str, *, messages: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.messages = [message, *messages]


class PlanEnded(PlanError):
    """The plan was completed or cancelled (by a colleague, meanwhile): its
    page says so, rather than a form over sessions no longer to change."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or _("This plan has ended."))


class StalePlan(PlanError):
    """The plan changed since the page that asked for the change was opened."""


def window_for(plan: TreatmentPlan) -> Window:
    protocol = plan.protocol
    minimum = min(protocol.min_spacing_days, plan.spacing_days)
    maximum = max(protocol.max_spacing_days, plan.spacing_days)
    return Window(target=plan.spacing_days, minimum=minimum, maximum=maximum)


def _can_override(user: AbstractBaseUser | None) -> bool:
    return booking.can_override_hours(user)


def why_no_plan(consultation: Consultation) -> str:
    """Why this consultation can't start a plan ("" when it can)."""
    if consultation.appointment.status in Appointment.LOST_STATUSES:
        return _(
            "This consultation's appointment was %(status)s: book a new "
            "consultation to start a plan."
        ) % {"status": consultation.appointment.status_phrase}
    if not consultation.is_eligible:
        return _(
            "Only an eligible consultation can start a plan; this one says: %(d)s."
        ) % {"d": consultation.get_decision_display().lower()}
    if consultation.treatment_plans.open().exists():
        return _(
            "This consultation's plan is still open: continue it, or end it "
            "before starting another."
        )
    later = (
        Consultation.objects.filter(
            patient_id=consultation.patient_id,
            appointment__start__gt=consultation.appointment.start,
        )
        .exclude(appointment__status__in=Appointment.LOST_STATUSES)
        .select_related("appointment")
        .order_by("-appointment__start")
    )
    newer = next(
        (c for c in later if c.decision != Consultation.Decision.PENDING), None
    )
    if newer is not None:
        return _(
            "A later consultation, on %(day)s, says %(decision)s: it screened "
            "the patient last, so a plan starts from it, not from this one."
        ) % {
            "day": day_text(timezone.localdate(newer.appointment.start)),
            "decision": newer.get_decision_display().lower(),
        }
    screened = next((c for c in later if c.flags), None)
    if screened is not None:
        return _(
            "A later consultation, on %(day)s, has a yes in its screening and is "
            "not decided yet: decide it, then start the plan from it."
        ) % {"day": day_text(timezone.localdate(screened.appointment.start))}
    return ""


REFUSALS = (Consultation.Decision.NOT_ELIGIBLE, Consultation.Decision.REFER)


def later_consultations(plans: Iterable[TreatmentPlan]) -> dict[int, Consultation]:
    """For each plan (by id), a consultation of its patient held after the one
    the plan started from that says to take care (not eligible, refer, a yes in
    its screening, or another topical medication): the latest decided one, or
    one not decided yet after it (one query). An older one's concern that a
    newer decided one no longer raises is not shown.

    A plan keeps its consultation; the patient may have been screened again
    since (a pregnancy, a new medication), and whoever treats must see it.
    """
    return later_consultations_and_refusals(plans)[0]


def later_consultations_and_refusals(
    plans: Iterable[TreatmentPlan],
) -> tuple[dict[int, Consultation], dict[int, Consultation]]:
    """For each plan (by id): the later_consultations() entry, and the later
    consultation that refuses or refers the patient and that no eligible one
    after it overturned (which holds the plan, hold_reason(); the rule of the
    work list's series at risk). One query for both."""
    plans = list(plans)
    if not plans:
        return {}, {}
    held = list(
        Consultation.objects.filter(patient_id__in={plan.patient_id for plan in plans})
        .exclude(appointment__status__in=Appointment.LOST_STATUSES)
        .select_related("appointment")
        .order_by("appointment__start", "pk")
    )
    by_pk = {c.pk: c for c in held}
    take_care, refusals = {}, {}
    for plan in plans:
        started_from = by_pk.get(plan.consultation_id)
        if started_from is None:
            continue
        later = [
            c
            for c in held
            if c.patient_id == plan.patient_id
            and c.appointment.start > started_from.appointment.start
        ]
        # The latest decided one speaks (a newer one that says nothing new
        # clears an older one's concern), and one not decided yet after it
        # that already found something.
        decided = [c for c in later if c.decision != Consultation.Decision.PENDING]
        speaking = [
            c
            for c in later
            if not decided or c.appointment.start >= decided[-1].appointment.start
        ]
        found = next(
            (c for c in reversed(speaking) if says_to_take_care(c, started_from)),
            None,
        )
        if found is not None:
            take_care[plan.pk] = found
        if decided and decided[-1].decision in REFUSALS:
            refusals[plan.pk] = decided[-1]
    return take_care, refusals


NEVER_BOOKED = gettext_lazy(
    "No session of this plan was ever booked: the practitioner discards it, if "
    "it is no longer wanted."
)


def why_on_hold(plan: TreatmentPlan) -> str:
    """Why consent can't be recorded nor sessions booked for this plan now
    ("" when they can): its consultation, or a later one, no longer says
    eligible (two queries). A practitioner reviews it; the sessions already
    booked stay, with the warning on their pages."""
    refusals = later_consultations_and_refusals([plan])[1]
    return hold_reason(plan, refusals.get(plan.pk))


def hold_reason(plan: TreatmentPlan, later: Consultation | None) -> str:
    """why_on_hold(), given the plan's later refusal (the second of
    later_consultations_and_refusals())."""
    consultation = plan.consultation
    if consultation.decision != Consultation.Decision.ELIGIBLE:
        return _(
            "The consultation this plan started from now says %(decision)s: no "
            "consent or sessions until a practitioner has reviewed it. If the "
            "plan no longer applies, the front desk cancels the rest; if it "
            "does, the practitioner marks the consultation eligible again."
        ) % {"decision": consultation.get_decision_display().lower()}
    if later is not None and later.decision in REFUSALS:
        return _(
            "A later consultation, on %(day)s, says %(decision)s: no consent or "
            "sessions for this plan until a practitioner has reviewed it."
        ) % {
            "day": day_text(timezone.localdate(later.appointment.start)),
            "decision": later.get_decision_display().lower(),
        }
    return ""


def says_to_take_care(later: Consultation, earlier: Consultation) -> bool:
    """What a later consultation says that the earlier one didn't."""
    return (
        later.decision
        in (Consultation.Decision.NOT_ELIGIBLE, Consultation.Decision.REFER)
        or bool(later.flags)
        or bool(
            later.topical_medication
            and later.topical_medication != earlier.topical_medication
        )
    )


def too_close_for(protocol: Protocol, spacing_days: int) -> str:
    """Why a plan can't space its sessions this many days apart ("" when it
    can): closer than the protocol's shortest spacing, which no reason allows
    (the skin heals between sessions). Longer than its longest is allowed with
    a practitioner's reason."""
    if spacing_days >= protocol.min_spacing_days:
        return ""
    return ngettext(
        "%(n)s day apart is closer than the %(p)s protocol allows, %(min)s days "
        "at the least: the skin needs that long to heal between sessions.",
        "%(n)s days apart is closer than the %(p)s protocol allows, %(min)s days "
        "at the least: the skin needs that long to heal between sessions.",
        spacing_days,
    ) % {"n": spacing_days, "p": protocol, "min": protocol.min_spacing_days}


def too_soon_to_heal(days: int) -> str:
    """Why a session can't follow the one before by ``days`` whoever asks (""
    when it can): no protocol allows under MIN_HEALING_DAYS, nor any reason."""
    if days >= MIN_HEALING_DAYS:
        return ""
    return _(
        "sessions less than %(days)s days apart leave the skin no time to heal, "
        "and no one can book them that close."
    ) % {"days": MIN_HEALING_DAYS}


@transaction.atomic
def create_plan(
    *,
    consultation: Consultation,
    protocol: Protocol,
    practitioner: Practitioner,
    planned_sessions: int,
    spacing_days: int,
    areas: list[str],
    exception_reason: str = "",
    consent: bool = False,
    by: AbstractBaseUser,
    now: datetime | None = None,
) -> TreatmentPlan:
    consultation = (
        Consultation.objects.select_for_update()
        .select_related("appointment")
        .get(pk=consultation.pk)
    )
    if not is_practitioner(by):
        raise PlanError(
            _("Only a practitioner starts a treatment plan: they pick the protocol.")
        )
    refusal = why_no_plan(consultation)
    if refusal:
        raise PlanError(refusal)
    if not protocol.is_active:
        raise PlanError(_("The %(p)s protocol is no longer offered.") % {"p": protocol})
    too_close = too_close_for(protocol, spacing_days)
    if too_close:
        raise PlanError(too_close)
    unscreened = not_screened(areas, consultation.areas)
    if unscreened:
        raise PlanError(
            unscreened
            + " "
            + _("Add the area to the consultation first, or leave it out of the plan.")
        )
    # One course per area at a time: two would needle the same skin days apart.
    # The patient's row is locked, so two plans started at once are seen.
    Patient.objects.select_for_update().filter(pk=consultation.patient_id).first()
    others = TreatmentPlan.objects.open().filter(patient=consultation.patient_id)
    for other in others.select_related("protocol"):
        shared = [a for a in areas if a in other.areas]
        if shared:
            raise PlanError(
                _(
                    "%(patient)s already has an open plan for %(areas)s (%(plan)s): "
                    "two courses on the same skin would bring sessions too close "
                    "together. Complete or cancel that plan first, or treat other "
                    "areas here."
                )
                % {
                    "patient": consultation.patient,
                    "areas": areas_text(shared),
                    "plan": other.protocol,
                }
            )
    plan = TreatmentPlan(
        patient=consultation.patient,
        consultation=consultation,
        protocol=protocol,
        practitioner=practitioner,
        planned_sessions=planned_sessions,
        spacing_days=spacing_days,
        areas=areas,
        exception_reason=exception_reason.strip(),
        created_by=by,
    )
    departures = plan.outside_protocol()
    if departures and not plan.exception_reason:
        raise PlanError(
            _("Give a reason to go outside the protocol."), messages=departures
        )
    if consent:
        plan.consent_by = by
        plan.consented_at = now or timezone.now()
    plan.save()
    return plan


def areas_text(areas: list[str]) -> str:
    """ "neck and chest (décolletage)": areas in words, inside a sentence."""
    return _(" and ").join(str(Area(a).label).lower() for a in areas)


def not_screened(areas: list[str], screened: list[str]) -> str:
    """What of ``areas`` a consultation that screened ``screened`` did not look
    at, in a sentence ("" when it looked at all of them): its screening
    (infection or acne "in the area", a keloid tendency) was answered for its
    own areas only."""
    others = [a for a in areas if a not in screened]
    if not others:
        return ""
    return _(
        "The consultation did not look at %(areas)s: its screening covers "
        "%(screened)s only."
    ) % {
        "areas": areas_text(others),
        "screened": _(", ").join(
            str(Area(a).label).lower() for a in screened if a in Area.values
        )
        or _("no area"),
    }


@transaction.atomic
def record_consent(
    *,
    plan: TreatmentPlan,
    by: AbstractBaseUser,
    ticked: bool,
    now: datetime | None = None,
) -> TreatmentPlan:
    """Record the patient's consent to the plan. ``ticked``: the box saying so
    was ticked (a button pressed on the way past is no consent); asked of every
    caller."""
    if not is_practitioner(by):
        raise PlanError(_("A practitioner records the patient's consent."))
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    if not plan.is_open:
        raise PlanEnded()
    if plan.has_consent:
        raise PlanError(_("Consent is already recorded for this plan."))
    on_hold = why_on_hold(plan)
    if on_hold:
        raise PlanError(on_hold)
    if not ticked:
        raise PlanError(
            _(
                "Tick “The patient consents to this plan” to record it: "
                "nothing was recorded."
            )
        )
    plan.consent_by = by
    plan.consented_at = now or timezone.now()
    plan.save(update_fields=["consent_by", "consented_at", "updated_at"])
    return plan


def live_sessions(plan: TreatmentPlan) -> list[TreatmentSession]:
    return [
        s
        for s in plan.sessions.select_related("appointment").order_by("number")
        if s.appointment.status in Appointment.ACTIVE_STATUSES
    ]


def place_in_course(session: TreatmentSession) -> int | None:
    """The session's place in its course as the plan page counts, cancelled and
    missed sessions left out (None for one of those)."""
    if session.appointment.status not in Appointment.ACTIVE_STATUSES:
        return None
    return (
        session.plan.sessions.filter(
            appointment__status__in=Appointment.ACTIVE_STATUSES,
            number__lt=session.number,
        ).count()
        + 1
    )


def unbooked_count(plan: TreatmentPlan) -> int:
    live = plan.sessions.filter(
        appointment__status__in=Appointment.ACTIVE_STATUSES
    ).count()
    return max(plan.planned_sessions - live, 0)


def may_not_go_beyond(plan: TreatmentPlan) -> str:
    return _(
        "The %(protocol)s protocol has at most %(max)s sessions: only a "
        "practitioner can plan more, with a reason."
    ) % {"protocol": plan.protocol, "max": plan.protocol.max_sessions}


NO_CONSENT_YET = gettext_lazy(
    "The patient's consent is not recorded yet: the practitioner records it, "
    "then sessions are added and booked."
)


@transaction.atomic
def extend_plan(
    *,
    plan: TreatmentPlan,
    by: AbstractBaseUser,
    reason: str = "",
    seen: int | None = None,
) -> TreatmentPlan:
    """One more session (up to the protocol's maximum; beyond it with a reason).

    ``seen``: how many sessions the plan had when the page was opened; if the
    number changed since (a second click, or a colleague), nothing is added.
    """
    plan = (
        TreatmentPlan.objects.select_for_update()
        .select_related("protocol")
        .get(pk=plan.pk)
    )
    if not plan.is_open:
        raise PlanEnded()
    on_hold = why_on_hold(plan)
    if on_hold:
        raise PlanError(on_hold)
    if seen is not None and plan.planned_sessions != seen:
        raise StalePlan(
            _(
                "The plan was extended while the page was open (perhaps by a "
                "second click): it now has %(n)s sessions planned, and nothing "
                "more was added."
            )
            % {"n": plan.planned_sessions}
        )
    if plan.planned_sessions >= MAX_PLANNED_SESSIONS:
        raise PlanError(
            _("A plan has at most %(n)s sessions: start a new plan for more.")
            % {"n": MAX_PLANNED_SESSIONS}
        )
    if not plan.has_consent and not is_practitioner(by):
        raise PlanError(NO_CONSENT_YET)
    beyond = plan.planned_sessions >= plan.protocol.max_sessions
    if beyond and not is_practitioner(by):
        raise PlanError(may_not_go_beyond(plan))
    if beyond and not reason.strip():
        raise PlanError(
            _(
                "The %(protocol)s protocol has at most %(max)s sessions: give a "
                "reason to plan more."
            )
            % {"protocol": plan.protocol, "max": plan.protocol.max_sessions}
        )
    plan.planned_sessions += 1
    fields = ["planned_sessions", "updated_at"]
    if beyond:
        # Inside the protocol an extension is no exception to record.
        note = _("Extended to %(n)s sessions by %(who)s on %(day)s: %(reason)s") % {
            "n": plan.planned_sessions,
            "who": by.get_full_name() or by.get_username(),
            "day": day_text(timezone.localdate()),
            "reason": reason.strip(),
        }
        plan.exception_reason = "\n".join(filter(None, [plan.exception_reason, note]))
        fields.append("exception_reason")
    plan.save(update_fields=fields)
    return plan


def whose_to_end(plan: TreatmentPlan, user: AbstractBaseUser) -> str:
    """Why this user may not end this plan ("" when they may): the front desk
    cancels what was booked (patients are told of cancelled bookings from its
    page, and a course whose sessions were all cancelled is ended there too);
    a practitioner discards a plan never booked (a clinical decision)."""
    if plan.sessions.exists():
        if user.has_perm("plans.book_series"):
            return ""
        if live_sessions(plan):
            return _(
                "Sessions of this plan are booked: the front desk cancels the rest."
            )
        return _("Sessions of this plan were booked: the front desk cancels the rest.")
    if user.has_perm("plans.change_treatmentplan"):
        return ""
    return str(NEVER_BOOKED)


def open_sessions(plan: TreatmentPlan) -> QuerySet[Appointment]:
    """The plan's sessions not yet done (booked or checked in), in order: what
    cancelling the rest of it cancels."""
    return Appointment.objects.filter(
        treatment_session__plan=plan, status__in=Appointment.OPEN_STATUSES
    ).order_by("start", "pk")


@transaction.atomic
def cancel_plan(
    *,
    plan: TreatmentPlan,
    reason: str,
    by: AbstractBaseUser,
    now: datetime | None = None,
    seen: str | None = None,
) -> int:
    """Cancel the rest of a plan: every session not yet done. Returns how many.

    ``seen`` (appointments_seen() of the open_sessions() the page listed)
    refuses to cancel sessions booked, moved or cancelled since then."""
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise PlanError(_("Give a reason for cancelling the plan."))
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    if not plan.is_open:
        raise PlanEnded(_("This plan has already ended."))
    refusal = whose_to_end(plan, by)
    if refusal:
        raise PlanError(refusal)
    upcoming = list(open_sessions(plan))
    if seen is not None and seen != appointments_seen(upcoming):
        raise StalePlan(
            _(
                "Someone booked, moved or cancelled a session of this plan while "
                "your page was open, so nothing was cancelled. The list now shows "
                "the sessions as they are: cancel again if it is still needed."
            )
        )
    under_way = next(
        (a for a in upcoming if a.status == Appointment.Status.CHECKED_IN), None
    )
    if under_way is not None:
        raise PlanError(
            _(
                "The session of %(when)s is under way (the patient is checked in): "
                "the practitioner records it, or, if the patient left without "
                "being seen, undo the check-in and mark a no-show, before "
                "cancelling the rest."
            )
            % {"when": when_text(under_way.start)}
        )
    missed = next(
        (a for a in upcoming if a.status == Appointment.Status.BOOKED and a.end <= now),
        None,
    )
    if missed is not None:
        # Cancelling it would email the patient about a past visit.
        raise PlanError(
            _(
                "The session of %(when)s is over and still booked: mark it as a "
                "no-show (or have it recorded) before cancelling the rest."
            )
            % {"when": when_text(missed.start)}
        )
    try:
        count = len(
            booking.cancel_appointments(
                appointments=upcoming, by=by, reason=reason, now=now
            )
        )
    except booking.BookingError as error:
        # A session that took place (its record begun) is not cancelled.
        raise PlanError(error.messages[0], messages=error.messages[1:]) from error
    plan.status = TreatmentPlan.Status.CANCELLED
    plan.ended_reason = reason
    plan.ended_at = now
    plan.save(update_fields=["status", "ended_reason", "ended_at", "updated_at"])
    return count


@transaction.atomic
def complete_plan(
    *, plan: TreatmentPlan, by: AbstractBaseUser, now: datetime | None = None
) -> TreatmentPlan:
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    if not plan.is_open:
        raise PlanEnded(_("This plan has already ended."))
    if Appointment.objects.filter(
        treatment_session__plan=plan,
        status__in=Appointment.OPEN_STATUSES,
    ).exists():
        raise PlanError(
            _(
                "Sessions are still booked: cancel them first, or wait until "
                "they are done."
            )
        )
    if not Appointment.objects.filter(
        treatment_session__plan=plan, status=Appointment.Status.COMPLETED
    ).exists():
        raise PlanError(
            _(
                "No session of this plan has been done, so it can't be completed: "
                "cancel it instead, with a reason."
            )
        )
    plan.status = TreatmentPlan.Status.COMPLETED
    plan.ended_at = now or timezone.now()
    plan.save(update_fields=["status", "ended_at", "updated_at"])
    return plan
