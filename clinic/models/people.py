"""Patients and practitioners, and the checks on people's names."""

import unicodedata
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Replace
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

phone_validator = RegexValidator(
    # 7 to 24 digits, however separated.
    r"^(?=(?:\D*\d){7,24}\D*$)\+?[0-9(][0-9 ()\-.]{5,28}[0-9]$",
    _(
        "Enter a phone number of 7 to 24 digits, with spaces, dashes, dots or "
        "brackets if you like, optionally starting with +."
    ),
)


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


class SkinType(models.IntegerChoices):
    """Fitzpatrick skin phototype."""

    I = 1, _("Type I - always burns, never tans")  # noqa: E741
    II = 2, _("Type II - usually burns, tans minimally")
    III = 3, _("Type III - sometimes burns, tans gradually")
    IV = 4, _("Type IV - rarely burns, tans easily")
    V = 5, _("Type V - very rarely burns, tans darkly")
    VI = 6, _("Type VI - never burns, deeply pigmented")


# Marks inside names a name typed as heard leaves out: O'Brien, Ji-woo, St. John,
# with the apostrophes, accents used as one, hyphens and dashes other keyboards
# and phones type.
NAME_MARKS = (
    "'",
    "\u2018",
    "\u2019",
    "\u02bc",
    "`",
    "\u00b4",
    "-",
    "\u2010",
    "\u2011",
    "\u2013",
    ".",
)


def without_marks(name):
    """The name without NAME_MARKS: typed text, or a column (an expression)."""
    for mark in NAME_MARKS:
        if isinstance(name, str):
            name = name.replace(mark, "")
        else:
            name = Replace(name, Value(mark), Value(""))
    return name


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
    notes = models.TextField(_("notes"), blank=True, max_length=5000)
    # The names as search compares them with what was typed as heard (see
    # without_marks), kept by the database so that a search reads them.
    first_letters = models.GeneratedField(
        expression=without_marks(F("first_name")),
        output_field=models.CharField(max_length=100),
        db_persist=True,
    )
    last_letters = models.GeneratedField(
        expression=without_marks(F("last_name")),
        output_field=models.CharField(max_length=100),
        db_persist=True,
    )
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
