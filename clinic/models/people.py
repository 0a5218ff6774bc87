"""Patients and practitioners, and the checks on people's names."""

import unicodedata
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

phone_validator = RegexValidator(
    # 7 to 24 digits, however separated.
    r"^(?=(?:\D*\d){7,24}\D*$)\+?[0-9(][0-9 ()\-.]{5,28}[0-9]$",
    _(
        "Enter a phone number of 7 to 24 digits, with spaces, dashes, dots or "
        "brackets if you like, optionally starting with +."
    ),
)

# From this age a patient consents to treatment on their own.
ADULT_AGE = 18


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


# What free text may hold of Unicode's control characters: line breaks and tabs.
TEXT_CONTROLS = frozenset("\n\r\t")


def validate_plain_text(value: str) -> None:
    """Free text staff type (notes, reasons, a medication's name): no control
    characters but line breaks and tabs. They can't be seen on a page, and
    would go as typed into patients' emails and calendar files."""
    if any(unicodedata.category(c) == "Cc" and c not in TEXT_CONTROLS for c in value):
        raise ValidationError(
            _(
                "Remove the control characters from the text: they can't be seen, "
                "and would go into emails and calendar files as typed."
            ),
            code="control",
        )


# Markup, in no name of anything the app lists (rooms and protocols too).
MARKUP = frozenset("<>{}[]\\|")
# Besides, in no one's name: stray keys, digits, emoji and other symbols.
NOT_IN_NAMES = MARKUP | frozenset("@#$%^*=+~_;&/!?")
NOT_IN_NAMES_CATEGORIES = ("Nd", "No", "So", "Sm", "Sc")


def validate_readable_name(value: str) -> None:
    """Something staff can read, find and tell apart from another name (a
    room, a protocol): visible characters, a letter, no markup."""
    _visible_with_a_letter(value)
    _refuse_symbols(
        value, lambda c: c in MARKUP, _("Remove %(symbols)s from the name.")
    )


def _visible_with_a_letter(value: str) -> None:
    if any(_hidden(value, index) for index in range(len(value))):
        raise ValidationError(
            _("Remove the control or invisible characters from the name."),
            code="invisible",
        )
    if not any(unicodedata.category(c).startswith("L") for c in value):
        raise ValidationError(_("A name needs at least one letter."), code="letters")


def validate_person_name(value: str) -> None:
    """A person's name: readable, and without what no one's name holds (it
    reaches greetings, letters and calendars as typed). Every symbol to take
    out is named at once, markup with the rest."""
    _visible_with_a_letter(value)
    _refuse_symbols(
        value,
        lambda c: (
            c in NOT_IN_NAMES or unicodedata.category(c) in NOT_IN_NAMES_CATEGORIES
        ),
        _(
            "Remove %(symbols)s from the name: a person's name holds letters, "
            "spaces and marks such as apostrophes, hyphens and full stops, not "
            "digits or symbols."
        ),
    )


def _refuse_symbols(value: str, refused, message: str) -> None:
    if symbols := sorted({c for c in value if refused(c)}):
        raise ValidationError(message % {"symbols": " ".join(symbols)}, code="symbols")


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


def without_marks(name: str) -> str:
    """The name without NAME_MARKS."""
    for mark in NAME_MARKS:
        name = name.replace(mark, "")
    return name


# Letters with a stroke or ligature that Unicode doesn't decompose into a
# plain letter and an accent (Łukasiewicz is typed Lukasiewicz, Søren Soren).
UNDECOMPOSED = str.maketrans(
    {
        "Ł": "L",
        "ł": "l",
        "Ø": "O",
        "ø": "o",
        "Đ": "D",
        "đ": "d",
        "Ð": "D",
        "ð": "d",
        "Ħ": "H",
        "ħ": "h",
        "ı": "i",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Þ": "Th",
        "þ": "th",
    }
)


def letters_of(text: str) -> str:
    """A name as search compares it with what was typed as heard: in any case
    (Ünal is ünal), without accents (Zoë is Zoe, García is Garcia, Łukasiewicz
    is Lukasiewicz) and without NAME_MARKS (O'Brien is OBrien)."""
    # The marks go first too: decomposed, an acute accent typed as an
    # apostrophe (O´Brien) would leave a space.
    decomposed = unicodedata.normalize("NFKD", without_marks(text))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(without_marks(bare.translate(UNDECOMPOSED).casefold()).split())


class PatientQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        # save() is skipped: each patient's search letters are set here.
        objs = list(objs)
        for patient in objs:
            patient.set_search_letters()
        return super().bulk_create(objs, *args, **kwargs)


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
        help_text=_(
            "Booking confirmations and changes, appointment reminders, pre-care "
            "and aftercare emails."
        ),
    )
    # When the patient stopped their emails through the link in one (cleared
    # when they consent again): the front desk sees why they get none.
    unsubscribed_at = models.DateTimeField(
        _("unsubscribed"), null=True, blank=True, editable=False
    )
    skin_type = models.PositiveSmallIntegerField(
        _("skin type (Fitzpatrick)"), choices=SkinType.choices, null=True, blank=True
    )
    notes = models.TextField(
        _("notes"), blank=True, max_length=5000, validators=[validate_plain_text]
    )
    # "first last" as search compares it with what was typed as heard (see
    # letters_of): set on each save, in Python, as no database folds accents.
    search_letters = models.CharField(max_length=201, editable=False, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()

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

    def save(self, *args, **kwargs) -> None:
        self.set_search_letters()
        fields = kwargs.get("update_fields")
        if fields is not None and {"first_name", "last_name"} & set(fields):
            kwargs["update_fields"] = {*fields, "search_letters"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("clinic:patient_detail", args=[self.pk])

    def set_search_letters(self) -> None:
        self.search_letters = letters_of(f"{self.first_name} {self.last_name}")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def age_on(self, day: date) -> int:
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    @property
    def age(self) -> int:
        return self.age_on(timezone.localdate())

    @property
    def is_minor(self) -> bool:
        """Under 18 today: treatment needs a parent's or guardian's consent."""
        return self.age < ADULT_AGE

    @property
    def no_emails_why(self) -> str:
        """Why the patient gets no emails, or "" when they do."""
        if not self.email:
            return str(_("no email address"))
        if not self.email_consent:
            return str(_("no consent to emails"))
        return ""

    @property
    def no_emails_note(self) -> str:
        """What the desk is told after booking, moving or cancelling for a
        patient who gets no emails (no email will tell them), or ""."""
        if not self.no_emails_why:
            return ""
        return _(
            "%(patient)s gets no emails (%(why)s): tell them by phone or in person."
        ) % {"patient": self, "why": self.no_emails_why}


class PatientChange(models.Model):
    """A save of a patient's details by staff: what changed, from what to what,
    who saved it and when, kept in the save's own transaction. The address
    and the consent decide where the patient's emails go: a change of them is
    always traceable."""

    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="changes"
    )
    at = models.DateTimeField(_("when"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    # How it came about, besides a member of staff's edit: "at a consultation",
    # "through the link in an email" (the patient's unsubscribe, with no ``by``).
    how = models.CharField(max_length=200, blank=True)
    # [{"field": "email", "before": "...", "after": "..."}], as the pages show
    # the values (a choice's label, a date as "2 Jul 1992").
    changes = models.JSONField()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("change of a patient's details")
        verbose_name_plural = _("changes of patients' details")

    def __str__(self) -> str:
        return f"{self.patient}: {', '.join(c['field'] for c in self.changes)}"


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
