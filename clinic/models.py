import unicodedata
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 ()\-.]{5,22}[0-9]$",
    _(
        "Enter a phone number of 7 to 24 digits, spaces and dashes, optionally "
        "starting with +."
    ),
)


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


# Joiners shape letters in several scripts, between two letters; other format
# characters (zero-width spaces, direction overrides, soft hyphens) only hide
# what a name is.
NAME_JOINERS = {"\u200c", "\u200d"}
# Characters that print as nothing although Unicode calls some of them letters.
BLANK_LOOKING = {
    "\u034f",  # combining grapheme joiner
    "\u115f",
    "\u1160",
    "\u3164",
    "\uffa0",  # Hangul fillers
    "\u17b4",
    "\u17b5",  # Khmer inherent vowels
    "\u180e",  # Mongolian vowel separator
    "\u2800",  # Braille blank
}


def _hidden(value: str, index: int) -> bool:
    char = value[index]
    if char in BLANK_LOOKING or unicodedata.category(char) == "Cc":
        return True
    if unicodedata.category(char) != "Cf":
        return False
    if char not in NAME_JOINERS:
        return True
    around = value[index - 1 : index] + value[index + 1 : index + 2]
    return len(around) != 2 or not all(
        unicodedata.category(c)[0] in "LM" for c in around
    )


def validate_person_name(value: str) -> None:
    """Something a person can read, find and tell apart from another name."""
    if any(_hidden(value, index) for index in range(len(value))):
        raise ValidationError(
            _("Remove the control or invisible characters from the name."),
            code="invisible",
        )
    if not any(unicodedata.category(c).startswith("L") for c in value):
        raise ValidationError(_("A name needs at least one letter."), code="letters")


def validate_whole_minute(value) -> None:
    """Hours are kept to the minute: the series engine proposes times from them,
    and bookings are made to the minute."""
    if value.second or value.microsecond:
        raise ValidationError(
            _("Give the time in hours and minutes, like 09:00."), code="seconds"
        )


class SkinType(models.IntegerChoices):
    """Fitzpatrick skin phototype."""

    I = 1, _("Type I - always burns, never tans")  # noqa: E741
    II = 2, _("Type II - usually burns, tans minimally")
    III = 3, _("Type III - sometimes burns, tans gradually")
    IV = 4, _("Type IV - rarely burns, tans easily")
    V = 5, _("Type V - very rarely burns, tans darkly")
    VI = 6, _("Type VI - never burns, deeply pigmented")


class Patient(models.Model):
    class Contact(models.TextChoices):
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone call")
        SMS = "sms", _("Text message")

    first_name = models.CharField(
        _("first name"), max_length=100, validators=[validate_person_name]
    )
    last_name = models.CharField(
        _("last name"), max_length=100, validators=[validate_person_name]
    )
    date_of_birth = models.DateField(_("date of birth"))
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(
        _("phone"), max_length=30, blank=True, validators=[phone_validator]
    )
    preferred_contact = models.CharField(
        _("preferred contact"),
        max_length=10,
        choices=Contact.choices,
        default=Contact.EMAIL,
    )
    email_consent = models.BooleanField(
        _("consents to email reminders"),
        default=False,
        help_text=_("Booking confirmations, pre-care and aftercare emails."),
    )
    skin_type = models.PositiveSmallIntegerField(
        _("skin type (Fitzpatrick)"), choices=SkinType.choices, null=True, blank=True
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(fields=["last_name", "first_name"]),
            models.Index(fields=["email"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(email_consent=False) | ~Q(email=""),
                name="patient_email_consent_needs_email",
                violation_error_message=_("Email reminders need an email address."),
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    def get_absolute_url(self) -> str:
        return reverse("clinic:patient_detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def age_on(self, day: date) -> int:
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class Practitioner(models.Model):
    class Title(models.TextChoices):
        AESTHETICIAN = "aesthetician", _("Aesthetician")
        PHYSICIAN = "physician", _("Physician")
        NURSE = "nurse", _("Nurse")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="practitioner"
    )
    title = models.CharField(_("title"), max_length=20, choices=Title.choices)
    is_active = models.BooleanField(_("takes bookings"), default=True)

    class Meta:
        ordering = ["user__last_name", "user__first_name", "id"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        name = self.user.get_full_name() or self.user.get_username()
        if self.title == self.Title.PHYSICIAN:
            return f"Dr {name}"
        return name


# Calendar settings that would strand bookings ------------------------------------
#
# A closure, time off or new hours over appointments already booked would leave
# them where no one can come: the change is refused, naming them, until they are
# moved or cancelled (and their patients told).


def stranded_error(
    appointments: list["Appointment"], what: str, *, where: str = "outside it"
) -> ValidationError:
    from clinic.scheduling.clock import when_text  # clock's package imports models

    shown = "; ".join(
        f"{when_text(a.start)} {a.patient} with {a.practitioner}"
        for a in appointments[:3]
    )
    more = len(appointments) - 3
    return ValidationError(
        ngettext(
            "%(what)s would leave %(n)s booked appointment %(where)s: "
            "%(shown)s%(more)s. Move or cancel it first.",
            "%(what)s would leave %(n)s booked appointments %(where)s: "
            "%(shown)s%(more)s. Move or cancel them first.",
            len(appointments),
        )
        % {
            "what": what,
            "where": where,
            "n": len(appointments),
            "shown": shown,
            "more": f" and {more} more" if more > 0 else "",
        }
    )


def _open_bookings() -> "AppointmentQuerySet":
    """Booked or checked-in appointments, but those a manager booked outside
    hours on purpose (with a reason): a change of hours doesn't strand them."""
    return (
        Appointment.objects.filter(status__in=Appointment.OPEN_STATUSES)
        .filter(override_reason="")
        .select_related("patient", "practitioner__user")
    )


def bookings_outside_blocks(
    weekday: int,
    blocks: list[tuple["time", "time"]],
    *,
    practitioner_id: int | None = None,
) -> list["Appointment"]:
    """Upcoming open appointments on ``weekday`` (of one practitioner, or all)
    that no block of the day holds whole."""
    booked = _open_bookings().filter(
        start__gte=timezone.now(),
        # Django counts weekdays from Sunday = 1; ours from Monday = 0.
        start__week_day=(weekday + 1) % 7 + 1,
    )
    if practitioner_id is not None:
        booked = booked.filter(practitioner_id=practitioner_id)
    stranded = []
    for appointment in booked.order_by("start"):
        start = timezone.localtime(appointment.start)
        end = timezone.localtime(appointment.end)
        if not any(
            opens <= start.time()
            and end.date() == start.date()
            and end.time() <= closes
            for opens, closes in blocks
        ):
            stranded.append(appointment)
    return stranded


def bookings_newly_outside(
    weekday: int,
    before: list[tuple["time", "time"]],
    after: list[tuple["time", "time"]],
    *,
    practitioner_id: int | None = None,
) -> list["Appointment"]:
    """The upcoming bookings on ``weekday`` that the blocks ``before`` held and
    the blocks ``after`` no longer do (one booked outside on purpose, with a
    manager's reason, is not held up by any change)."""
    if sorted(before) == sorted(after):
        return []
    outside_before = {
        a.pk
        for a in bookings_outside_blocks(
            weekday, before, practitioner_id=practitioner_id
        )
    }
    return [
        a
        for a in bookings_outside_blocks(
            weekday, after, practitioner_id=practitioner_id
        )
        if a.pk not in outside_before
    ]


class WorkingHours(models.Model):
    """One block of a practitioner's regular week (several blocks a day allowed)."""

    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("from"), validators=[validate_whole_minute])
    end = models.TimeField(_("until"), validators=[validate_whole_minute])

    class Meta:
        ordering = ["practitioner", "weekday", "start"]
        verbose_name_plural = _("working hours")
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")),
                name="working_hours_end_after_start",
                violation_error_message=_("The end must be after the start."),
            ),
        ]

    def __str__(self) -> str:
        hours = f"{self.start:%H:%M}-{self.end:%H:%M}"
        return f"{self.practitioner}: {self.get_weekday_display()} {hours}"


class TimeOff(models.Model):
    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.CASCADE, related_name="time_off"
    )
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        ordering = ["start"]
        verbose_name_plural = _("time off")
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")),
                name="time_off_end_after_start",
                violation_error_message=_("The end must be after the start."),
            ),
        ]

    def __str__(self) -> str:
        start, end = timezone.localtime(self.start), timezone.localtime(self.end)
        return f"{self.practitioner}: {start:%d %b %Y %H:%M} - {end:%d %b %Y %H:%M}"

    def clean(self) -> None:
        from clinic.services import hold_calendars  # services import models

        if self.practitioner_id is None or self.start is None or self.end is None:
            return
        hold_calendars(practitioner_ids=[self.practitioner_id])
        booked = (
            _open_bookings()
            .filter(practitioner_id=self.practitioner_id)
            .overlapping(self.start, self.end)
            .order_by("start")
        )
        stored = TimeOff.objects.filter(pk=self.pk).first() if self.pk else None
        if stored is not None and stored.practitioner_id == self.practitioner_id:
            # Only what the change newly covers.
            booked = booked.exclude(start__lt=stored.end, end__gt=stored.start)
        booked = list(booked)
        if booked:
            raise stranded_error(booked, _("This time off"), where=_("during it"))


class Room(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # "Room 1" and "room 1" would be two rooms the front desk can't tell
            # apart in a list.
            models.UniqueConstraint(
                Lower("name"),
                name="room_unique_name_any_case",
                violation_error_message=_("A room with this name exists already."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class OpeningHours(models.Model):
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"), validators=[validate_whole_minute])
    closes = models.TimeField(_("closes"), validators=[validate_whole_minute])

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name_plural = _("opening hours")
        constraints = [
            models.CheckConstraint(
                condition=Q(closes__gt=models.F("opens")),
                name="opening_hours_close_after_open",
                violation_error_message=_("Closing time must be after opening time."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class ClosureDay(models.Model):
    date = models.DateField(_("date"), unique=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%d %b %Y} {self.reason}".strip()

    def clean(self) -> None:
        from clinic.scheduling.clock import day_text  # see stranded_error
        from clinic.services import hold_calendars  # services import models

        if self.date is None:
            return
        if self.pk and ClosureDay.objects.filter(pk=self.pk, date=self.date).exists():
            return  # The same day, with another reason.
        hold_calendars()
        booked = list(_open_bookings().on_day(self.date).order_by("start"))
        if booked:
            raise stranded_error(
                booked,
                _("Closing on %(day)s") % {"day": day_text(self.date)},
                where=_("on a closed day"),
            )


class AppointmentQuerySet(models.QuerySet):
    def active(self) -> "AppointmentQuerySet":
        """Appointments that hold their time slot."""
        return self.filter(status__in=Appointment.ACTIVE_STATUSES)

    def overlapping(self, start: datetime, end: datetime) -> "AppointmentQuerySet":
        return self.filter(start__lt=end, end__gt=start)

    def on_day(self, day: date) -> "AppointmentQuerySet":
        return self.filter(
            start__gte=local_midnight(day),
            start__lt=local_midnight(day + timedelta(days=1)),
        )

    def with_people(self) -> "AppointmentQuerySet":
        return self.select_related("patient", "practitioner__user", "room")


# (choices, value, language): label, filled by choice_label().
_LABELS: dict[tuple, str] = {}


def choice_label(choices: type[models.Choices], value) -> str:
    """The label of ``value`` among ``choices``, or the value itself when it is
    none of them: what ``get_FOO_display()`` gives, without rebuilding,
    hashing and translating every choice's label on each call, which on a busy
    day's page cost more than the rest of each row."""
    key = (choices, value, translation.get_language())
    label = _LABELS.get(key)
    if label is None:
        try:
            label = _LABELS[key] = str(choices(value).label)
        except ValueError:
            return value
    return label


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in the clinic's time zone, as an aware datetime."""
    return datetime.combine(day, datetime.min.time(), timezone.get_current_timezone())


class Appointment(models.Model):
    class Kind(models.TextChoices):
        CONSULTATION = "consultation", _("Consultation")
        TREATMENT = "treatment", _("Treatment session")

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CHECKED_IN = "checked_in", _("Checked in")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("No-show")

    # Statuses that occupy the practitioner and the room. An allow-list, so a
    # status added later does not silently start or stop blocking the calendar.
    # Holding its slot.
    ACTIVE_STATUSES = (Status.BOOKED, Status.CHECKED_IN, Status.COMPLETED)
    # Still to happen: it can be cancelled or completed.
    OPEN_STATUSES = (Status.BOOKED, Status.CHECKED_IN)
    # It did not take place.
    LOST_STATUSES = (Status.CANCELLED, Status.NO_SHOW)

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="appointments"
    )
    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, related_name="appointments"
    )
    room = models.ForeignKey(
        Room, on_delete=models.PROTECT, related_name="appointments"
    )
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.BOOKED
    )
    notes = models.TextField(_("notes"), blank=True)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    override_reason = models.CharField(
        _("reason for booking outside hours"), max_length=300, blank=True
    )
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    cancel_reason = models.CharField(
        _("reason for cancelling"), max_length=300, blank=True
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["start", "id"]
        indexes = [
            models.Index(fields=["practitioner", "start"]),
            models.Index(fields=["room", "start"]),
            models.Index(fields=["start"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")),
                name="appointment_end_after_start",
                violation_error_message=_("The end must be after the start."),
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | ~Q(cancel_reason=""),
                name="appointment_cancel_has_reason",
                violation_error_message=_("A cancellation needs a reason."),
            ),
        ]
        # The no-overlap exclusion constraints live in migration
        # 0002_no_double_booking: they exist on PostgreSQL only.
        permissions = [
            ("override_hours", "Can book outside opening or working hours"),
            ("check_in_appointment", "Can check patients in and mark no-shows"),
        ]

    def __str__(self) -> str:
        local = timezone.localtime(self.start)
        return f"{self.get_kind_display()} - {self.patient} - {local:%a %d %b %Y %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("clinic:appointment_detail", args=[self.pk])

    def get_kind_display(self) -> str:
        return choice_label(self.Kind, self.kind)

    def get_status_display(self) -> str:
        return choice_label(self.Status, self.status)

    @property
    def status_phrase(self) -> str:
        """The status inside a sentence: "this one is cancelled", "this session
        was a no-show"."""
        if self.status == self.Status.NO_SHOW:
            return str(_("a no-show"))
        return self.get_status_display().lower()

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def plan_session(self):
        """The treatment plan's session this appointment books (the plans app's
        TreatmentSession), or None: a session moves with its plan."""
        return getattr(self, "treatment_session", None)

    @property
    def duration_minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


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


class ConsultationQuerySet(models.QuerySet):
    def eligible(self) -> "ConsultationQuerySet":
        """Eligible, from a consultation that took place (or will): one whose
        appointment was cancelled or missed starts no plan."""
        return self.filter(decision=Consultation.Decision.ELIGIBLE).exclude(
            appointment__status__in=Appointment.LOST_STATUSES
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
    hoped_for_results = models.TextField(_("results hoped for"), blank=True)
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
    )
    active_infection = models.BooleanField(
        CONTRAINDICATIONS["active_infection"], default=False
    )
    isotretinoin = models.BooleanField(CONTRAINDICATIONS["isotretinoin"], default=False)
    pregnant = models.BooleanField(CONTRAINDICATIONS["pregnant"], default=False)
    keloid_tendency = models.BooleanField(
        CONTRAINDICATIONS["keloid_tendency"], default=False
    )
    anticoagulants = models.BooleanField(
        CONTRAINDICATIONS["anticoagulants"], default=False
    )
    recent_sunburn = models.BooleanField(
        CONTRAINDICATIONS["recent_sunburn"], default=False
    )
    screening_note = models.TextField(
        _("practitioner's note on the screening"),
        blank=True,
        help_text=_("Required when any screening answer is yes."),
    )
    decision = models.CharField(
        _("decision"), max_length=20, choices=Decision.choices, default=Decision.PENDING
    )
    decision_reason = models.TextField(_("reason"), blank=True)
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
                condition=(
                    Q(active_infection=False)
                    & Q(isotretinoin=False)
                    & Q(pregnant=False)
                    & Q(keloid_tendency=False)
                    & Q(anticoagulants=False)
                    & Q(recent_sunburn=False)
                )
                | ~Q(screening_note=""),
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

    def get_areas_display(self) -> list[str]:
        return [str(Area(a).label) for a in self.areas if a in Area.values]

    def get_goals_display(self) -> list[str]:
        return [str(Goal(g).label) for g in self.goals if g in Goal.values]


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
