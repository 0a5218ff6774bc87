"""Patients: their details, the check on their names, and the search."""

import unicodedata
from datetime import date

from django import forms
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinic.forms.fields import DateInput, HiddenErrorsShown, PageVersionField
from clinic.models import (
    Patient,
)
from clinic.models.people import letters_of
from clinic.services.patients import DETAILS
from clinic.services.stale import seen_stamp

FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


# Typographic apostrophes and hyphens as typed on another keyboard.
# Joiners, which only shape letters, are left out.
SAME_SIGN = str.maketrans(
    {
        "\u2019": "'",
        "\u02bc": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u200c": None,
        "\u200d": None,
    }
)


def name_key(name: str) -> str:
    """What two spellings of one name have in common, for finding the same
    person: case, accents, spaces, apostrophes, hyphens and dots aside, as
    search leaves them aside (O'Brien is OBrien, Ji-woo and Ji woo are Jiwoo,
    Chloé is Chloe)."""
    return "".join(letters_of(clean_person_name(name).translate(SAME_SIGN)).split())


def clean_person_name(value: str) -> str:
    """One line with single spaces, in one Unicode spelling: an accent typed as a
    separate mark, or full-width letters from an input method, give the same
    name (other compatibility forms, such as the apostrophe-like accent in
    D´Angelo, stay as typed). The model's validator checks the rest."""
    name = unicodedata.normalize("NFC", value).translate(FULL_WIDTH).translate(UNSEEN)
    return " ".join(name.split())


def _name_or_none_seen(value: str) -> str:
    name = clean_person_name(value)
    if not name:
        # Only invisible marks were sent: nothing a person could see was typed.
        raise forms.ValidationError(
            _("Remove the control or invisible characters from the name.")
        )
    return name


# Invisible marks a name copied from a letter or an email carries, which mean
# nothing in a name and that nobody could find to remove: direction marks, a
# zero-width space, a soft hyphen, a word joiner, a byte order mark. Taken out
# quietly; joiners that shape a script's letters (U+200C, U+200D) are not.
UNSEEN = dict.fromkeys([0x200E, 0x200F, 0x200B, 0x00AD, 0x2060, 0xFEFF], None)


class PatientForm(HiddenErrorsShown, forms.ModelForm):
    # Shown only when a patient with the same name and date of birth exists.
    different_person = forms.BooleanField(
        label=gettext_lazy(
            "This is a different person with the same name and date of birth"
        ),
        required=False,
        widget=forms.HiddenInput,
    )
    # Shown only when another patient has the same email address.
    shared_email = forms.BooleanField(
        label=gettext_lazy(
            "Both use this email address (a family member, say): their emails go "
            "to the same mailbox"
        ),
        required=False,
        widget=forms.HiddenInput,
    )
    # Whether the consent box was ticked when the page was opened ("1" or "0").
    consent_shown = forms.CharField(required=False, widget=forms.HiddenInput)
    # Which version of the details the page showed (clinic.services.stale).
    seen = PageVersionField()
    # Set by clean(): the consent box was sent as the page showed it.
    consent_left_as_shown = False

    class Meta:
        model = Patient
        fields = [
            "first_name",
            "last_name",
            "date_of_birth",
            "email",
            "phone",
            "preferred_contact",
            "email_consent",
            "skin_type",
            "notes",
        ]
        widgets = {
            "date_of_birth": DateInput(),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, booking_query: str = "", **kwargs) -> None:
        """``booking_query``: registering to book a consultation on a day picked
        on a calendar (BookFromCalendarForm.booking_query()): a patient
        registered already is booked from there."""
        super().__init__(*args, **kwargs)
        self.booking_query = booking_query
        if self.instance.pk is not None:
            self.initial["consent_shown"] = "1" if self.instance.email_consent else "0"
            self.initial["seen"] = seen_stamp(self.instance, DETAILS)
            stopped = self.instance.unsubscribed_at
            if stopped is not None and not self.instance.email_consent:
                self.fields["email_consent"].help_text = _(
                    "The patient stopped their emails on %(day)s, through the link "
                    "in one: tick this only with their consent. The emails still "
                    "ahead then go out again."
                ) % {
                    "day": formats.date_format(
                        timezone.localtime(stopped), "j M Y, H:i"
                    )
                }
        else:
            # Nobody else can have saved a patient not registered yet.
            self.fields["seen"].required = False

    def clean_first_name(self) -> str:
        return _name_or_none_seen(self.cleaned_data["first_name"])

    def clean_last_name(self) -> str:
        return _name_or_none_seen(self.cleaned_data["last_name"])

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean_phone(self) -> str:
        return " ".join(self.cleaned_data["phone"].split())

    def clean_date_of_birth(self) -> date:
        born = self.cleaned_data["date_of_birth"]
        today = timezone.localdate()
        if born > today:
            raise forms.ValidationError(_("The date of birth can't be in the future."))
        # As tuples: today.replace(year=...) fails on 29 February.
        if (born.year + 120, born.month, born.day) < (
            today.year,
            today.month,
            today.day,
        ):
            raise forms.ValidationError(
                _("Check the year: that is over 120 years ago.")
            )
        if (born.year + 1, born.month, born.day) > (today.year, today.month, today.day):
            # Today's date, or this year's typed for the year of birth.
            raise forms.ValidationError(
                _("Check the date: that makes the patient less than a year old.")
            )
        return born

    def clean(self) -> dict:
        data = super().clean()
        shown = data.get("consent_shown")
        if (
            self.instance.pk is not None
            and shown in ("0", "1")
            and data.get("email_consent") == (shown == "1")
        ):
            # The box was left as the page showed it: what is stored stands (the
            # patient may have unsubscribed since the page was opened), and the
            # save reads it again under the patient's lock.
            data["email_consent"] = self.instance.email_consent
            self.consent_left_as_shown = True
        email, phone = data.get("email"), data.get("phone")
        contact = data.get("preferred_contact")
        if data.get("email_consent") and not email and "email" not in self.errors:
            self.add_error("email", _("Email reminders need an email address."))
        if (
            contact == Patient.Contact.EMAIL
            and not email
            and "email" not in self.errors
        ):
            self.add_error("email", _("Add an email address, or pick another contact."))
        if contact in (Patient.Contact.PHONE, Patient.Contact.SMS) and not phone:
            if "phone" not in self.errors:
                self.add_error(
                    "phone", _("Add a phone number, or pick another contact.")
                )
        self._check_not_registered_already(data)
        self._check_email_not_anothers(data)
        return data

    def _check_email_not_anothers(self, data: dict) -> None:
        """Another patient's address: their booking emails, with names and
        times, would reach someone else. Asked, as a family may share one."""
        email = data.get("email")
        if not email or data.get("shared_email") or "email" in self.errors:
            return
        if self.instance.pk is not None and "email" not in self.changed_data:
            return
        other = (
            Patient.objects.filter(email__iexact=email)
            .exclude(pk=self.instance.pk)
            .order_by("pk")
            .first()
        )
        if other is None:
            return
        self.fields["shared_email"].widget = forms.CheckboxInput()
        self.add_error(
            "email",
            format_html(
                _(
                    '<a href="{url}">{name}</a> has this email address already. '
                    "Check it, or tick the box below if both use it."
                ),
                url=other.get_absolute_url(),
                name=other.full_name,
            ),
        )

    def _check_not_registered_already(self, data: dict) -> None:
        """A second registration of the same person (or a form sent twice) splits
        their history in two: ask before registering a namesake."""
        first, last, born = (
            data.get("first_name"),
            data.get("last_name"),
            data.get("date_of_birth"),
        )
        if not (first and last and born) or data.get("different_person"):
            return
        if self.instance.pk is not None and not (
            {"first_name", "last_name", "date_of_birth"} & set(self.changed_data)
        ):
            return  # An edit that leaves who they are alone asks nothing again.
        # Either way round: "Park Ji-woo" is Ji-woo Park written family name first.
        key = sorted((name_key(first), name_key(last)))
        # Compared here, not in SQL: SQLite ignores case for a-z only.
        same = next(
            (
                patient
                for patient in Patient.objects.filter(date_of_birth=born)
                .exclude(pk=self.instance.pk)
                .order_by("pk")
                if sorted((name_key(patient.first_name), name_key(patient.last_name)))
                == key
            ),
            None,
        )
        if same is None:
            return
        self.fields["different_person"].widget = forms.CheckboxInput()
        if self.booking_query:
            message = _(
                '<a href="{url}">{name}</a>, born {born}, is registered already: '
                "book the consultation for them from there, or tick the box below "
                "if this is someone else."
            )
            url = reverse("clinic:appointment_book", args=[same.pk])
            url = f"{url}?{self.booking_query}"
        else:
            message = _(
                '<a href="{url}">{name}</a>, born {born}, is registered '
                "already. Open that record, or tick the box below if this "
                "is someone else."
            )
            url = same.get_absolute_url()
        self.add_error(
            None,
            format_html(
                message,
                url=url,
                name=same.full_name,
                born=formats.date_format(born, "j M Y"),
            ),
        )


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Search"),
        required=False,
        max_length=100,
        widget=forms.SearchInput(
            attrs={"placeholder": gettext_lazy("Name, email or phone")}
        ),
    )
