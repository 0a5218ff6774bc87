"""Protocols, treatment plans and their sessions."""

from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from clinic.models import (
    Appointment,
    Area,
    Consultation,
    Goal,
    Patient,
    Practitioner,
    choice_label,
    validate_plain_text,
)

# The most sessions one plan holds (and one series booking page shows).
MAX_PLANNED_SESSIONS = 30
# The most days between two sessions of a plan or a protocol.
MAX_SPACING_DAYS = 120
# The fewest days between two sessions any protocol may allow: the skin heals
# between them (protocols space them about 4 to 6 weeks apart).
MIN_HEALING_DAYS = 14


class Protocol(models.Model):
    """A course of microneedling: how many sessions, how far apart."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(
        _("for"), blank=True, max_length=2000, validators=[validate_plain_text]
    )
    min_sessions = models.PositiveSmallIntegerField(
        _("fewest sessions"), validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    max_sessions = models.PositiveSmallIntegerField(
        _("most sessions"), validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    target_spacing_days = models.PositiveSmallIntegerField(
        _("target spacing (days)"),
        # As far apart as a plan's sessions may be.
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SPACING_DAYS)],
    )
    min_spacing_days = models.PositiveSmallIntegerField(
        _("shortest spacing (days)"),
        # As far apart as a plan's sessions may be.
        validators=[
            MinValueValidator(
                MIN_HEALING_DAYS,
                message=_(
                    "Sessions closer than %(limit_value)s days apart leave the skin "
                    "no time to heal: at least %(limit_value)s."
                ),
            ),
            MaxValueValidator(MAX_SPACING_DAYS),
        ],
        help_text=_(
            "Sessions of this protocol closer than this need a manager's reason; "
            "none are ever booked under 14 days apart, the least the skin needs "
            "to heal."
        ),
    )
    max_spacing_days = models.PositiveSmallIntegerField(
        _("longest spacing (days)"),
        # As far apart as a plan's sessions may be.
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SPACING_DAYS)],
    )
    session_minutes = models.PositiveSmallIntegerField(
        _("session length (minutes)"),
        default=60,
        validators=[MinValueValidator(15), MaxValueValidator(240)],
    )
    is_active = models.BooleanField(_("offered"), default=True)
    # Consultation goals (Goal values) the protocol suits; empty: any goal.
    goals = models.JSONField(
        _("suits the goals"),
        default=list,
        blank=True,
        help_text=_(
            "What a consultation hopes for that this protocol is for. A plan for "
            "other goals needs the practitioner's reason. None ticked: any goal."
        ),
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            # "Standard" and "standard" would be two protocols nobody could
            # tell apart in a list.
            models.UniqueConstraint(
                Lower("name"),
                name="protocol_unique_name_any_case",
                violation_error_message=_("A protocol with this name exists already."),
            ),
            models.CheckConstraint(
                condition=Q(min_sessions__gte=1)
                & Q(max_sessions__gte=F("min_sessions")),
                name="protocol_session_range",
                violation_error_message=_(
                    "The most sessions must be at least the fewest sessions."
                ),
            ),
            models.CheckConstraint(
                condition=Q(min_spacing_days__gte=MIN_HEALING_DAYS)
                & Q(target_spacing_days__gte=F("min_spacing_days"))
                & Q(max_spacing_days__gte=F("target_spacing_days")),
                name="protocol_spacing_window",
                violation_error_message=_(
                    "The target spacing must lie between the shortest and longest."
                ),
            ),
            models.CheckConstraint(
                condition=Q(session_minutes__gte=15),
                name="protocol_session_minutes",
                violation_error_message=_("A session lasts at least 15 minutes."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def not_for(self, goals: list[str]) -> str:
        """Why the protocol suits none of these consultation goals ("" if it
        suits one, or says nothing of goals): a plan on it then needs the
        practitioner's reason. A consultation may hope for several things in
        several areas (lines on the face, stretch marks on the body), each
        treated by a plan of its own protocol."""
        if not self.goals or not goals or any(g in self.goals for g in goals):
            return ""
        unsuited = goals
        return _("The %(p)s protocol is not for %(goals)s.") % {
            "p": self.name,
            "goals": " or ".join(choice_label(Goal, g).lower() for g in unsuited),
        }

    def clean(self) -> None:
        super().clean()
        shortest, longest = self.min_spacing_days, self.max_spacing_days
        if shortest is not None and longest is not None and longest < shortest:
            # Said of the two typed the wrong way round, not of the target.
            raise ValidationError(
                {
                    "max_spacing_days": _(
                        "The longest spacing must be at least the shortest."
                    )
                }
            )
        if self.pk is None:
            return
        before = Protocol.objects.filter(pk=self.pk).values_list("name", flat=True)
        if before and before[0] != self.name and self.plans().exists():
            # Plans, consented to by name, would read another protocol's.
            raise ValidationError(
                {
                    "name": _(
                        "Treatment plans follow %(name)s by this name, and "
                        "patients consented to it: to offer it under another "
                        "name, add it as a new protocol and stop offering this one."
                    )
                    % {"name": before[0]}
                }
            )

    def plans(self) -> models.QuerySet:
        return TreatmentPlan.objects.filter(protocol=self)

    @property
    def sessions_text(self) -> str:
        return f"{self.min_sessions}-{self.max_sessions}"

    @property
    def spacing_text(self) -> str:
        return f"{self.min_spacing_days}-{self.max_spacing_days}"


class TreatmentPlanQuerySet(models.QuerySet):
    def open(self) -> "TreatmentPlanQuerySet":
        return self.filter(
            status__in=[TreatmentPlan.Status.DRAFT, TreatmentPlan.Status.ACTIVE]
        )

    def with_counts(self) -> "TreatmentPlanQuerySet":
        """Annotate live (booked or done) and completed session counts."""
        live = Q(sessions__appointment__status__in=Appointment.ACTIVE_STATUSES)
        done = Q(sessions__appointment__status=Appointment.Status.COMPLETED)
        return self.annotate(
            live_count=models.Count("sessions", filter=live),
            done_count=models.Count("sessions", filter=done),
        )


class TreatmentPlan(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="treatment_plans"
    )
    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="treatment_plans"
    )
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="+")
    areas = models.JSONField(_("areas"), default=list)
    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, related_name="treatment_plans"
    )
    planned_sessions = models.PositiveSmallIntegerField(
        _("planned sessions"),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_PLANNED_SESSIONS)],
    )
    spacing_days = models.PositiveSmallIntegerField(
        _("spacing (days)"),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SPACING_DAYS)],
    )
    exception_reason = models.TextField(
        _("reason to go outside the protocol"),
        blank=True,
        max_length=2000,
        help_text=_(
            "Needed when the sessions or spacing are outside the protocol, or the "
            "protocol is not for what the consultation hopes for."
        ),
        validators=[validate_plain_text],
    )
    # A manager's reasons for sessions booked closer than the minimum: booking
    # matters the front desk sees, unlike the practitioner's clinical reason above.
    spacing_notes = models.TextField(
        _("spacing allowed by a manager"),
        blank=True,
        max_length=4000,
        validators=[validate_plain_text],
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    consent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("consent recorded by"),
    )
    consented_at = models.DateTimeField(_("consent given"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    ended_reason = models.CharField(
        _("reason"), max_length=300, blank=True, validators=[validate_plain_text]
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TreatmentPlanQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_sessions__gte=1),
                name="plan_has_sessions",
                violation_error_message=_("A plan has at least one session."),
            ),
            # A second open course from one consultation would book the patient
            # twice over, its sessions spaced from nothing.
            models.UniqueConstraint(
                fields=["consultation"],
                condition=Q(status__in=["draft", "active"]),
                name="one_open_plan_per_consultation",
                violation_error_message=_(
                    "This consultation has a plan that is still open."
                ),
            ),
            models.CheckConstraint(
                condition=Q(status="draft")
                | Q(status="cancelled")
                | Q(consented_at__isnull=False),
                name="plan_active_needs_consent",
                violation_error_message=_(
                    "Record the patient's consent before the plan starts."
                ),
            ),
        ]
        permissions = [
            ("book_series", "Can book and change session series"),
        ]

    def __str__(self) -> str:
        return f"{self.protocol} - {self.patient}"

    def get_absolute_url(self) -> str:
        return reverse("plans:detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.ACTIVE)

    @property
    def has_consent(self) -> bool:
        return self.consented_at is not None

    def get_areas_display(self) -> list[str]:
        return [str(Area(a).label) for a in self.areas if a in Area.values]

    @property
    def spacing(self) -> timedelta:
        return timedelta(days=self.spacing_days)

    def outside_protocol(self) -> list[str]:
        """Ways this plan departs from its protocol (each needs the reason)."""
        problems = []
        p = self.protocol
        if not p.min_sessions <= self.planned_sessions <= p.max_sessions:
            problems.append(
                ngettext(
                    "%(n)s session is outside the protocol's %(range)s.",
                    "%(n)s sessions is outside the protocol's %(range)s.",
                    self.planned_sessions,
                )
                % {"n": self.planned_sessions, "range": p.sessions_text}
            )
        if not p.min_spacing_days <= self.spacing_days <= p.max_spacing_days:
            problems.append(
                ngettext(
                    "%(n)s day apart is outside the protocol's %(range)s days.",
                    "%(n)s days apart is outside the protocol's %(range)s days.",
                    self.spacing_days,
                )
                % {"n": self.spacing_days, "range": p.spacing_text}
            )
        not_for = p.not_for(self.consultation.goals)
        if not_for:
            problems.append(not_for)
        return problems


class TreatmentSession(models.Model):
    """One session of a plan; its appointment says when and whether it happened.

    A session always has an appointment: a plan's unbooked sessions are simply
    ``planned_sessions`` minus the live ones. A cancelled or missed session keeps
    its row (history); a replacement points back to it through ``replaces``.
    """

    plan = models.ForeignKey(
        TreatmentPlan, on_delete=models.PROTECT, related_name="sessions"
    )
    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, related_name="treatment_session"
    )
    number = models.PositiveSmallIntegerField(_("number"))
    replaces = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replacement",
    )

    class Meta:
        ordering = ["plan", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "number"], name="session_number_unique_in_plan"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} - session {self.number}"

    def get_cancel_url(self) -> str:
        """Where the appointment page sends a session's cancellation: the plan's
        own, which offers a replacement at the end of the course."""
        return reverse("plans:session_cancel", args=[self.pk])

    @property
    def is_live(self) -> bool:
        return self.appointment.status in Appointment.ACTIVE_STATUSES

    @property
    def local_date(self) -> date:
        return timezone.localdate(self.appointment.start)
