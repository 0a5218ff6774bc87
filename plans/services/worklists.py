"""The front desk's work lists: what is waiting to be booked or looked at."""

from datetime import datetime, timedelta

from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.models import Appointment, Consultation, local_midnight
from clinic.scheduling import day_text
from plans.models import TreatmentPlan, TreatmentSession


def waiting_for_a_plan(consultations: QuerySet[Consultation]) -> QuerySet[Consultation]:
    """Of these, the eligible consultations (each patient's latest) that no plan
    has started from. A plan discarded before anything was booked (started by
    mistake) doesn't count: the patient still waits for one."""
    discarded = Q(status=TreatmentPlan.Status.CANCELLED) & ~Exists(
        TreatmentSession.objects.filter(plan=OuterRef("pk"))
    )
    return (
        consultations.eligible()
        .not_superseded()
        .filter(
            ~Exists(
                TreatmentPlan.objects.filter(consultation=OuterRef("pk")).exclude(
                    discarded
                )
            ),
        )
    )


def consultations_to_decide(now: datetime) -> QuerySet[Appointment]:
    """Consultations the patient was checked in for, begun by now, with no
    decision yet (a decision completes them), oldest first: a practitioner's
    to write up, or the patient waits for nothing."""
    return (
        Appointment.objects.filter(
            kind=Appointment.Kind.CONSULTATION,
            status=Appointment.Status.CHECKED_IN,
            start__lte=now,
        )
        .select_related("patient", "practitioner__user")
        .order_by("start")
    )


def eligible_without_plan() -> QuerySet[Consultation]:
    """waiting_for_a_plan() across the clinic, oldest first, but for patients
    whose course is under way: a later consultation screened them again for
    it, and the front desk has nothing to chase (a second area's course is the
    practitioner's to start, from the patient's page)."""
    return (
        waiting_for_a_plan(Consultation.objects.all())
        .exclude(
            Exists(TreatmentPlan.objects.open().filter(patient=OuterRef("patient")))
        )
        .select_related("patient", "appointment__practitioner__user")
        .order_by("decided_at")
    )


def _open_plans() -> QuerySet[TreatmentPlan]:
    return (
        TreatmentPlan.objects.open()
        .with_counts()
        .select_related("patient", "protocol", "practitioner__user", "consultation")
    )


def plans_with_unbooked_sessions() -> QuerySet[TreatmentPlan]:
    """Open plans with sessions still to book, oldest first; ``later_refusal``
    marks one held by a later consultation (not to book until reviewed)."""
    return (
        _open_plans()
        .filter(live_count__lt=F("planned_sessions"))
        .annotate(later_refusal=_later_refusal())
        .order_by("created_at")
    )


def _later_refusal() -> Exists:
    """For a plan: a later consultation of its patient refusing or referring
    them, not overturned by an eligible one after it (the rule of
    services.hold_reason, in SQL)."""
    refusals = (Consultation.Decision.NOT_ELIGIBLE, Consultation.Decision.REFER)
    held = Consultation.objects.exclude(
        appointment__status__in=Appointment.LOST_STATUSES
    )
    return Exists(
        held.filter(
            patient=OuterRef("patient"),
            appointment__start__gt=OuterRef("consultation__appointment__start"),
            decision__in=refusals,
        ).exclude(
            Exists(
                held.filter(
                    patient=OuterRef("patient"),
                    appointment__start__gt=OuterRef("appointment__start"),
                    decision=Consultation.Decision.ELIGIBLE,
                )
            )
        )
    )


def series_at_risk(now: datetime) -> list[tuple[TreatmentPlan, list[str]]]:
    """Open plans that need the front desk, each with why: a consultation that no
    longer says eligible (or a later one refusing), a session left checked in
    on a day that is over, a cancelled or missed session with no replacement,
    or a next session overdue (later than the window after the last one) and
    not booked. One query."""
    today = timezone.localdate(now)
    lost = TreatmentSession.objects.filter(
        plan=OuterRef("pk"),
        appointment__status__in=Appointment.LOST_STATUSES,
        replacement__isnull=True,
    )
    latest_lost = lost.order_by("-appointment__start")
    upcoming = Appointment.objects.filter(
        treatment_session__plan=OuterRef("pk"),
        status__in=Appointment.OPEN_STATUSES,
        start__gte=now,
    )
    # Checked in on a day that is over, and never recorded or taken back.
    left_open = Appointment.objects.filter(
        treatment_session__plan=OuterRef("pk"),
        status=Appointment.Status.CHECKED_IN,
        end__lt=local_midnight(today),
    )
    candidates = (
        _open_plans()
        .annotate(
            later_refusal=_later_refusal(),
            left_open=Exists(left_open),
            lost=Exists(lost),
            # The latest of them, named in the reason.
            lost_start=Subquery(latest_lost.values("appointment__start")[:1]),
            lost_status=Subquery(latest_lost.values("appointment__status")[:1]),
            upcoming=Exists(upcoming),
            last_start=Max(
                "sessions__appointment__start",
                filter=Q(
                    sessions__appointment__status__in=Appointment.ACTIVE_STATUSES,
                    sessions__appointment__start__lt=now,
                ),
            ),
            decision=F("consultation__decision"),
        )
        .filter(
            Q(lost=True)
            | Q(upcoming=False, last_start__isnull=False)
            | ~Q(consultation__decision=Consultation.Decision.ELIGIBLE)
            | Q(later_refusal=True)
            | Q(left_open=True)
        )
    )
    at_risk = []
    for plan in candidates.order_by("created_at"):
        reasons = []
        # With sessions booked, they are what to ask about; without, the plan
        # waits for the practitioner.
        ask = (
            _("ask the practitioner before the next session.")
            if plan.upcoming
            else _("the plan waits for the practitioner; nothing is booked.")
        )
        if plan.decision != Consultation.Decision.ELIGIBLE:
            reasons.append(
                _("The consultation behind this plan no longer says eligible: ") + ask
            )
        elif plan.later_refusal:
            reasons.append(_("A later consultation says not eligible or refer: ") + ask)
        if plan.left_open:
            reasons.append(
                _(
                    "A session of a day that is over is still checked in: the "
                    "practitioner records it, or it is taken back and marked a "
                    "no-show."
                )
            )
        if plan.lost and plan.live_count < plan.planned_sessions:
            reasons.append(
                (
                    _("The session of %(day)s was missed and has no replacement.")
                    if plan.lost_status == Appointment.Status.NO_SHOW
                    else _(
                        "The session of %(day)s was cancelled and has no replacement."
                    )
                )
                % {"day": day_text(timezone.localdate(plan.lost_start))}
            )
        if not plan.upcoming and plan.live_count < plan.planned_sessions:
            due = timezone.localdate(plan.last_start) + timedelta(
                days=max(plan.spacing_days, plan.protocol.max_spacing_days)
            )
            if due < today:
                reasons.append(
                    _("The next session was due by %(day)s and is not booked.")
                    % {"day": day_text(due)}
                )
        if reasons:
            at_risk.append((plan, reasons))
    return at_risk
