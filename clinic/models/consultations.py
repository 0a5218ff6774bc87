"""Consultations (is microneedling right for this patient?) and the log of who
opened a clinical record."""

from collections.abc import Iterable

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinic.models.appointments import Appointment
from clinic.models.people import Patient, SkinType, validate_plain_text


class Area(models.TextChoices):
    FACE = "face", _("Face")
    NECK = "neck", _("Neck")
    CHEST = "chest", _("Chest (décolletage)")
    HANDS = "hands", _("Hands")
    BODY = "body", _("Other body area")


class Goal(models.TextChoices):
    LINES = "lines", _("Fine lines and wrinkles")
    ACNE_SCARS = "acne_scars", _("Acne scarring")
    SURGICAL_SCARS = "surgical_scars", _("Surgical scars")
    STRETCH_MARKS = "stretch_marks", _("Stretch marks")
    PIGMENTATION = "pigmentation", _("Pigmentation")
    TEXTURE = "texture", _("Texture and firmness")


# The contraindication screen: field name -> question. Any "yes" needs a note.
CONTRAINDICATIONS = {
    "active_infection": _("Active infection, cold sores or active acne in the area"),
    "isotretinoin": _("Isotretinoin (e.g. Roaccutane) in the last 6 months"),
    "pregnant": _("Pregnant or breastfeeding"),
    "keloid_tendency": _("Tendency to keloid or raised scars"),
    "anticoagulants": _("Takes anticoagulants or has a bleeding disorder"),
    "recent_sunburn": _("Sunburn or a tan in the area in the last 2 weeks"),
}


# Each question is answered yes (True) or no (False), or not asked yet (None):
# an unticked box can't tell "no" from "not asked", so the form asks both ways.
# Every question of the screen answered "no".
SCREENED_CLEAR = Q(**dict.fromkeys(CONTRAINDICATIONS, False))
# Some question answered "yes".
SCREENED_YES = Q(**dict.fromkeys(CONTRAINDICATIONS, True), _connector=Q.OR)
# Every question answered, yes or no.
SCREENED_ALL = Q(**{f"{name}__isnull": False for name in CONTRAINDICATIONS})


def screened(*yes: str) -> dict[str, bool]:
    """A screening with every question asked: yes to those named
    (CONTRAINDICATIONS keys), no to the others, as Consultation's fields."""
    return {name: name in yes for name in CONTRAINDICATIONS}


def answers_in_a_sentence(names: Iterable[str]) -> str:
    """The screening questions answered yes (CONTRAINDICATIONS keys), to
    follow a colon mid-sentence: "isotretinoin (e.g. Roaccutane) ...; pregnant
    or breastfeeding" (a brand keeps its capital)."""
    labels = [str(CONTRAINDICATIONS[name]) for name in names]
    return "; ".join(label[:1].lower() + label[1:] for label in labels)


class ConsultationQuerySet(models.QuerySet):
    def eligible(self) -> "ConsultationQuerySet":
        """Eligible, from a consultation that took place (or will): one whose
        appointment was cancelled or missed starts no plan."""
        return self.filter(decision=Consultation.Decision.ELIGIBLE).exclude(
            appointment__status__in=Appointment.LOST_STATUSES
        )

    def decided(self) -> "ConsultationQuerySet":
        """Decided, at a consultation that took place (or will)."""
        return self.exclude(decision=Consultation.Decision.PENDING).exclude(
            appointment__status__in=Appointment.LOST_STATUSES
        )

    def not_superseded(self) -> "ConsultationQuerySet":
        """Those with no later consultation of the same patient that is decided,
        or not decided yet with a yes in its screening: the later one screened
        the patient last, and says (or will say) what holds now."""
        return self.exclude(
            Exists(
                Consultation.objects.exclude(
                    appointment__status__in=Appointment.LOST_STATUSES
                )
                .filter(
                    patient=OuterRef("patient"),
                    appointment__start__gt=OuterRef("appointment__start"),
                )
                .filter(~Q(decision=Consultation.Decision.PENDING) | SCREENED_YES)
            )
        )


class Consultation(models.Model):
    """A practitioner's assessment: can microneedling help this patient?"""

    class Decision(models.TextChoices):
        PENDING = "pending", _("Not decided yet")
        ELIGIBLE = "eligible", _("Eligible")
        NOT_ELIGIBLE = "not_eligible", _("Not eligible")
        REFER = "refer", _("Refer elsewhere")

    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, related_name="consultation"
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="consultations"
    )
    areas = models.JSONField(_("areas of concern"), default=list)
    goals = models.JSONField(_("goals"), default=list)
    hoped_for_results = models.TextField(
        _("results hoped for"),
        blank=True,
        max_length=2000,
        validators=[validate_plain_text],
    )
    skin_type = models.PositiveSmallIntegerField(
        _("skin type (Fitzpatrick)"), choices=SkinType.choices, null=True, blank=True
    )
    topical_medication = models.CharField(
        _("topical medication for a skin condition"),
        max_length=300,
        blank=True,
        help_text=_(
            "Leave empty if none. It must stop 3 to 5 days before each session."
        ),
        validators=[validate_plain_text],
    )
    active_infection = models.BooleanField(
        CONTRAINDICATIONS["active_infection"], null=True, blank=True, default=None
    )
    isotretinoin = models.BooleanField(
        CONTRAINDICATIONS["isotretinoin"], null=True, blank=True, default=None
    )
    pregnant = models.BooleanField(
        CONTRAINDICATIONS["pregnant"], null=True, blank=True, default=None
    )
    keloid_tendency = models.BooleanField(
        CONTRAINDICATIONS["keloid_tendency"], null=True, blank=True, default=None
    )
    anticoagulants = models.BooleanField(
        CONTRAINDICATIONS["anticoagulants"], null=True, blank=True, default=None
    )
    recent_sunburn = models.BooleanField(
        CONTRAINDICATIONS["recent_sunburn"], null=True, blank=True, default=None
    )
    screening_note = models.TextField(
        _("practitioner's note on the screening"),
        blank=True,
        max_length=2000,
        help_text=_("Required when any screening answer is yes."),
        validators=[validate_plain_text],
    )
    decision = models.CharField(
        _("decision"), max_length=20, choices=Decision.choices, default=Decision.PENDING
    )
    decision_reason = models.TextField(
        _("reason"), blank=True, max_length=2000, validators=[validate_plain_text]
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConsultationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~SCREENED_YES | ~Q(screening_note=""),
                name="consultation_screening_yes_needs_note",
                violation_error_message=_(
                    "A yes in the screening needs the practitioner's note."
                ),
            ),
            models.CheckConstraint(
                condition=Q(decision__in=["pending", "eligible"])
                | ~Q(decision_reason=""),
                name="consultation_refusal_needs_reason",
                violation_error_message=_(
                    "Give a reason when the patient is not eligible or referred."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(decision="eligible") | SCREENED_ALL,
                name="consultation_eligible_needs_whole_screening",
                violation_error_message=_(
                    "Every screening question is answered before deciding eligible."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(decision="eligible")
                | SCREENED_CLEAR
                | ~Q(decision_reason=""),
                name="consultation_eligible_despite_screening_needs_reason",
                violation_error_message=_(
                    "Eligible despite a yes in the screening: give the reason."
                ),
            ),
            models.CheckConstraint(
                condition=Q(decision="pending") | Q(decided_by__isnull=False),
                name="consultation_decision_has_decider",
                violation_error_message=_(
                    "A decision needs the practitioner who made it."
                ),
            ),
        ]

    def __str__(self) -> str:
        day = timezone.localtime(self.appointment.start)
        return f"Consultation - {self.patient} - {day:%d %b %Y}"

    def get_absolute_url(self) -> str:
        return reverse("clinic:consultation_detail", args=[self.pk])

    @property
    def is_eligible(self) -> bool:
        return (
            self.decision == self.Decision.ELIGIBLE
            and self.appointment.status not in Appointment.LOST_STATUSES
        )

    @property
    def flags(self) -> list[str]:
        """The questions answered yes, for a practitioner's day at a glance."""
        return [
            str(label)
            for name, label in CONTRAINDICATIONS.items()
            if getattr(self, name)
        ]

    @property
    def not_asked(self) -> list[str]:
        """The questions not answered yet."""
        return [
            str(label)
            for name, label in CONTRAINDICATIONS.items()
            if getattr(self, name) is None
        ]

    @property
    def nothing_asked(self) -> bool:
        """No question answered yet."""
        return len(self.not_asked) == len(CONTRAINDICATIONS)

    @property
    def flags_in_a_sentence(self) -> str:
        """flags, to follow a colon mid-sentence (answers_in_a_sentence())."""
        return answers_in_a_sentence(
            name for name in CONTRAINDICATIONS if getattr(self, name)
        )

    def get_areas_display(self) -> list[str]:
        return [str(Area(a).label) for a in self.areas if a in Area.values]

    def get_goals_display(self) -> list[str]:
        return [str(Goal(g).label) for g in self.goals if g in Goal.values]


class ConsultationChange(models.Model):
    """A saved consultation changed (by its practitioner or a colleague): who,
    when, and each changed value before and after, so that a later finding
    never silently replaces what a decision and signed sessions rested on."""

    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="changes"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed"))
    # [[label, before, after], ...] as the page shows them.
    values = models.JSONField(default=list)

    class Meta:
        ordering = ["changed_at", "id"]
        verbose_name = _("consultation change")

    def __str__(self) -> str:
        return f"{self.consultation} changed at {self.changed_at}"


class ClinicalAccess(models.Model):
    """Who opened which part of a patient's clinical record, and when."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="clinical_accesses"
    )
    what = models.CharField(_("what"), max_length=40)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("clinical record access")
        verbose_name_plural = _("clinical record accesses")
        indexes = [models.Index(fields=["patient", "-at"])]

    def __str__(self) -> str:
        return f"{self.user} opened {self.what} of {self.patient} at {self.at}"
