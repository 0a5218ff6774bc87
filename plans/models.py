import uuid
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from clinic.models import Appointment, Area, Consultation, Patient, Practitioner
from plans.storage import get_private_storage

# The most sessions one plan holds (and one series booking page shows).
MAX_PLANNED_SESSIONS = 30


class Protocol(models.Model):
    """A course of microneedling: how many sessions, how far apart."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("for"), blank=True)
    min_sessions = models.PositiveSmallIntegerField(
        _("fewest sessions"), validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    max_sessions = models.PositiveSmallIntegerField(
        _("most sessions"), validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    target_spacing_days = models.PositiveSmallIntegerField(
        _("target spacing (days)"), validators=[MinValueValidator(1)]
    )
    min_spacing_days = models.PositiveSmallIntegerField(
        _("shortest spacing (days)"), validators=[MinValueValidator(1)]
    )
    max_spacing_days = models.PositiveSmallIntegerField(
        _("longest spacing (days)"), validators=[MinValueValidator(1)]
    )
    session_minutes = models.PositiveSmallIntegerField(
        _("session length (minutes)"),
        default=60,
        validators=[MinValueValidator(15), MaxValueValidator(240)],
    )
    is_active = models.BooleanField(_("offered"), default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_sessions__gte=1)
                & Q(max_sessions__gte=F("min_sessions")),
                name="protocol_session_range",
                violation_error_message=_(
                    "The most sessions must be at least the fewest sessions."
                ),
            ),
            models.CheckConstraint(
                condition=Q(min_spacing_days__gte=1)
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
        _("spacing (days)"), validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    exception_reason = models.TextField(
        _("reason to go outside the protocol"),
        blank=True,
        help_text=_("Needed when the sessions or spacing are outside the protocol."),
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
    ended_reason = models.CharField(_("reason"), max_length=300, blank=True)
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

    @property
    def is_live(self) -> bool:
        return self.appointment.status in Appointment.ACTIVE_STATUSES

    @property
    def local_date(self) -> date:
        return timezone.localdate(self.appointment.start)


class Product(models.Model):
    """The managed lists of numbing agents and products applied after needling."""

    class Category(models.TextChoices):
        NUMBING = "numbing", _("Numbing agent")
        SERUM = "serum", _("Serum")
        RECOVERY = "recovery", _("Recovery gel or balm")

    name = models.CharField(_("name"), max_length=120)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        ordering = ["category", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "name"], name="product_unique_name_in_category"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Redness(models.TextChoices):
    NONE = "none", _("None")
    MILD = "mild", _("Mild")
    MODERATE = "moderate", _("Moderate")
    MARKED = "marked", _("Marked")


MIN_DEPTH_MM = Decimal("0.25")
MAX_DEPTH_MM = Decimal("2.50")


class SessionRecord(models.Model):
    """What the practitioner did in one treatment session; locked once signed."""

    session = models.OneToOneField(
        TreatmentSession, on_delete=models.PROTECT, related_name="record"
    )
    device = models.CharField(_("device"), max_length=120, blank=True)
    cartridge_lot = models.CharField(_("cartridge lot"), max_length=60, blank=True)
    numbing_agent = models.ForeignKey(
        Product,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"category": Product.Category.NUMBING},
        verbose_name=_("numbing agent"),
    )
    numbing_other = models.CharField(
        _("other numbing agent"), max_length=120, blank=True
    )
    numbing_minutes = models.PositiveSmallIntegerField(
        _("numbing time (minutes)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(120)],
    )
    products_after = models.ManyToManyField(
        Product,
        blank=True,
        related_name="+",
        through="ProductAfter",
        verbose_name=_("products applied after"),
    )
    redness = models.CharField(
        _("redness"), max_length=10, choices=Redness.choices, default=Redness.NONE
    )
    pinpoint_bleeding = models.BooleanField(_("pinpoint bleeding"), default=False)
    adverse_events = models.TextField(_("adverse events"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(ended_at__gt=F("started_at")),
                name="record_end_after_start",
                violation_error_message=_("The end must be after the start."),
            ),
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True)
                | (
                    Q(signed_by__isnull=False)
                    & Q(started_at__isnull=False)
                    & Q(ended_at__isnull=False)
                ),
                name="record_signed_is_complete",
                violation_error_message=_(
                    "A signed record has its practitioner, start and end."
                ),
            ),
        ]
        permissions = [("sign_sessionrecord", "Can complete and sign session records")]

    def __str__(self) -> str:
        return f"Record of {self.session}"

    def get_absolute_url(self) -> str:
        return reverse("plans:record", args=[self.session_id])

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class ProductAfter(models.Model):
    """A product applied after needling, on a session's record: a product on a
    record can't be deleted (a signed record would change silently); it is
    taken out of use instead."""

    sessionrecord = models.ForeignKey(SessionRecord, on_delete=models.CASCADE)
    product = models.ForeignKey(Product, on_delete=models.PROTECT)

    class Meta:
        # The table Django made for the many-to-many field before this model.
        db_table = "plans_sessionrecord_products_after"
        unique_together = [("sessionrecord", "product")]

    def __str__(self) -> str:
        return str(self.product)


class TreatedArea(models.Model):
    record = models.ForeignKey(
        SessionRecord, on_delete=models.CASCADE, related_name="areas"
    )
    area = models.CharField(_("area"), max_length=20, choices=Area.choices)
    depth_mm = models.DecimalField(
        _("needle depth (mm)"),
        max_digits=3,
        decimal_places=2,
        validators=[MinValueValidator(MIN_DEPTH_MM), MaxValueValidator(MAX_DEPTH_MM)],
    )
    passes = models.PositiveSmallIntegerField(
        _("passes"), default=1, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )

    class Meta:
        ordering = ["record", "area"]
        constraints = [
            models.UniqueConstraint(
                fields=["record", "area"], name="treated_area_once_per_record"
            ),
            models.CheckConstraint(
                condition=Q(depth_mm__gte=MIN_DEPTH_MM) & Q(depth_mm__lte=MAX_DEPTH_MM),
                name="treated_area_depth_range",
                violation_error_message=_("Needle depth must be 0.25 to 2.5 mm."),
            ),
            models.CheckConstraint(
                condition=Q(passes__gte=1) & Q(passes__lte=10),
                name="treated_area_passes_range",
                violation_error_message=_("Passes must be 1 to 10."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_area_display()}: {self.depth_mm} mm x {self.passes}"


class Amendment(models.Model):
    """A change to a signed record: who, when, why, and each value before and after."""

    record = models.ForeignKey(
        SessionRecord, on_delete=models.PROTECT, related_name="amendments"
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    reason = models.TextField(_("reason"))
    changes = models.JSONField(default=list)  # [{"field", "label", "before", "after"}]

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="amendment_has_reason",
                violation_error_message=_("An amendment needs a reason."),
            ),
        ]

    def __str__(self) -> str:
        return f"Amendment of {self.record} at {self.at:%Y-%m-%d %H:%M}"


def _photo_path(photo: "Photo", filename: str) -> str:
    # Random names: nothing about the patient in a path or a URL.
    return f"photos/{uuid.uuid4().hex}.jpg"


def _thumbnail_path(photo: "Photo", filename: str) -> str:
    return f"photos/thumbs/{uuid.uuid4().hex}.jpg"


class Photo(models.Model):
    class Moment(models.TextChoices):
        BEFORE = "before", _("Before")
        AFTER = "after", _("After")

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="photos"
    )
    moment = models.CharField(
        _("before or after"), max_length=10, choices=Moment.choices
    )
    area = models.CharField(_("area"), max_length=20, choices=Area.choices)
    note = models.CharField(_("note"), max_length=300, blank=True)
    image = models.ImageField(storage=get_private_storage, upload_to=_photo_path)
    thumbnail = models.ImageField(
        storage=get_private_storage, upload_to=_thumbnail_path
    )
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "area", "moment", "uploaded_at"]

    def __str__(self) -> str:
        return (
            f"{self.get_moment_display()} - {self.get_area_display()} - {self.session}"
        )


class PhotoRemoval(models.Model):
    """A photo taken off a session (its files are deleted): what it was, who
    removed it, when and why. Kept whether or not the record was signed."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="photo_removals"
    )
    photo = models.CharField(_("photo"), max_length=200)
    # The removed Photo's id, to answer a second removal of it in words.
    photo_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    reason = models.TextField(_("reason"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""), name="photo_removal_has_reason"
            )
        ]

    def __str__(self) -> str:
        return f"{self.photo} removed from {self.session}"
