"""What happened in a session: the signed record, its areas and products,
amendments after signing, and the before/after photos."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinic.models import Area, Consultation, validate_plain_text
from plans.models.courses import TreatmentSession
from plans.storage import get_private_storage


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
        # As the manager's Today page lists them.
        verbose_name_plural = _("numbing agents and products")
        constraints = [
            # One spelling per product: "lidocaine 4% CREAM" is "Lidocaine 4% cream".
            models.UniqueConstraint(
                Lower("name"),
                "category",
                name="product_unique_name_in_category_any_case",
                violation_error_message=_(
                    "This category has a product of this name already."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.pk is None or not self.is_on_a_record():
            return
        before = Product.objects.filter(pk=self.pk).values("name", "category").first()
        if before and before != {"name": self.name, "category": self.category}:
            # Records show the product's name: renaming it would change what
            # signed records say, with no amendment.
            renamed = before["name"] != self.name
            raise ValidationError(
                _(
                    "%(name)s is on session records, which must keep saying what "
                    "was used: take it out of use and add %(instead)s as a new "
                    "product."
                )
                % {
                    "name": before["name"],
                    "instead": _("the new name")
                    if renamed
                    else _("it, in its other category,"),
                }
            )

    def is_on_a_record(self) -> bool:
        return (
            SessionRecord.objects.filter(numbing_agent=self).exists()
            or ProductAfter.objects.filter(product=self).exists()
        )


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
    device = models.CharField(
        _("device"), max_length=120, blank=True, validators=[validate_plain_text]
    )
    cartridge_lot = models.CharField(
        _("cartridge lot"), max_length=60, blank=True, validators=[validate_plain_text]
    )
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
        _("other numbing agent"),
        max_length=120,
        blank=True,
        validators=[validate_plain_text],
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
    # Chosen by the practitioner, never assumed: blank until then, and a record
    # is signed only with it.
    redness = models.CharField(
        _("redness"), max_length=10, choices=Redness.choices, blank=True, default=""
    )
    pinpoint_bleeding = models.BooleanField(_("pinpoint bleeding"), default=False)
    adverse_events = models.TextField(
        _("adverse events"),
        blank=True,
        max_length=5000,
        validators=[validate_plain_text],
    )
    notes = models.TextField(
        _("notes"), blank=True, max_length=10000, validators=[validate_plain_text]
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    # Who saved the draft last: one who signs a colleague's draft says they
    # have read it (sign_record).
    last_saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    # What the consultation said when the practitioner signed although it no
    # longer said eligible, having ticked that the session took place.
    signed_despite = models.CharField(
        _("signed although the consultation said"),
        max_length=20,
        blank=True,
        choices=[
            (value, label)
            for value, label in Consultation.Decision.choices
            if value != Consultation.Decision.ELIGIBLE
        ],
    )
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
                    & ~Q(redness="")
                ),
                name="record_signed_is_complete",
                violation_error_message=_(
                    "A signed record has its practitioner, start, end and the "
                    "redness seen."
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
    reason = models.TextField(_("reason"), validators=[validate_plain_text])
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
    note = models.CharField(
        _("note"), max_length=300, blank=True, validators=[validate_plain_text]
    )
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
    # SHA-256 of the file as uploaded: the same file twice on one session is a
    # slip (added before this was kept: empty).
    digest = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["session", "area", "moment", "uploaded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "digest"],
                condition=~models.Q(digest=""),
                name="photo_once_per_session",
            )
        ]

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
    reason = models.TextField(_("reason"), validators=[validate_plain_text])
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
