import unicodedata
from datetime import UTC, date, datetime, timedelta

from django import forms
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinic.models import (
    CONTRAINDICATIONS,
    Appointment,
    Area,
    Consultation,
    Goal,
    Patient,
    Practitioner,
    Room,
)
from clinic.scheduling import local_datetime
from clinic.services.consultations import RECORDED
from clinic.services.patients import DETAILS
from clinic.services.stale import seen_stamp

DURATION_CHOICES = [
    (30, gettext_lazy("30 minutes")),
    (45, gettext_lazy("45 minutes")),
    (60, gettext_lazy("1 hour")),
    (90, gettext_lazy("1 hour 30 minutes")),
    (120, gettext_lazy("2 hours")),
]


# The largest id a database column holds (a 64-bit signed integer).
MAX_ID = 2**63 - 1


class ModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Refuses an id too large for the database, as an invalid choice.

    Django checks each id with an exact lookup (safe), then all of them with
    ``pk__in``, which SQLite answers with an OverflowError (a 500).
    """

    def _check_values(self, value):
        for pk in value:
            try:
                too_large = abs(int(pk)) > MAX_ID
            except (TypeError, ValueError):
                continue  # Django reports these itself.
            if too_large:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": pk},
                )
        return super()._check_values(value)


class CheckboxesField(forms.MultipleChoiceField):
    """Ticked choices, each once and in the order of the choices, however the
    form was sent (a crafted areas=hands&areas=hands would store "Hands, Hands")."""

    widget = forms.CheckboxSelectMultiple

    def clean(self, value):
        ticked = set(super().clean(value))
        return [str(choice) for choice, _label in self.choices if str(choice) in ticked]


def reason_in_words(text: str, *, asked: str) -> str:
    """A reason that a record keeps (a clinical photo deleted, a plan beyond its
    protocol): a few letters at least, not "x" or "....". ``asked`` is the
    question to repeat when it isn't."""
    reason = text.strip()
    if sum(c.isalpha() for c in reason) < 3:
        raise forms.ValidationError(asked)
    return reason


class HiddenErrorsShown:
    """A form whose hidden fields (what the page showed when it was opened)
    report a bad value above the form: a crispy form shows no error of a hidden
    field, so the page would come back unchanged without a word."""

    def clean(self) -> dict:
        data = super().clean()
        for name, field in self.fields.items():
            if field.widget.is_hidden and self._errors.pop(name, None):
                self.add_error(
                    None,
                    _(
                        "This page was changed on its way here: open it again "
                        "and make your change once more."
                    ),
                )
        return data


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs) -> None:
        super().__init__(format="%H:%M", **kwargs)


class MinuteField(forms.TimeField):
    """A time of day to the minute: 10:00:59 would end at 11:00:59 and clash
    with an 11:00 booking that the calendar shows as free."""

    widget = TimeInput

    def validate(self, value) -> None:
        super().validate(value)
        if value is not None and (value.second or value.microsecond):
            raise forms.ValidationError(
                _("Give the time in hours and minutes, like 10:30."), code="seconds"
            )


# The farthest a date typed into a booking or calendar may lie from today.
MAX_DAYS_AWAY = 5 * 366


def combine_local_start(
    form: forms.Form,
    data: dict,
    *,
    key: str,
    future: bool,
    date_field: str = "date",
    time_field: str = "time",
) -> None:
    """Put the aware start of the form's local date and time into ``data[key]``,
    or add a clear error (a past date, a time skipped by the clock change)."""
    day, at = data.get(date_field), data.get(time_field)
    if day is None or at is None:
        return
    if abs((day - timezone.localdate()).days) > MAX_DAYS_AWAY:
        # Series arithmetic on such a date would overflow (year 1 or 9999).
        form.add_error(date_field, _("Pick a date within five years."))
        return
    if future and day < timezone.localdate():
        form.add_error(date_field, _("That date has already passed."))
        return
    try:
        data[key] = local_datetime(day, at)
    except ValueError as exc:
        form.add_error(time_field, str(exc))


# Full-width Latin letters, digits and signs (U+FF01-FF5E), and the full-width
# space, as their everyday forms.
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
    person: case, spacing and apostrophes aside."""
    return " ".join(clean_person_name(name).translate(SAME_SIGN).casefold().split())


def clean_person_name(value: str) -> str:
    """One line with single spaces, in one Unicode spelling: an accent typed as a
    separate mark, or full-width letters from an input method, give the same
    name (other compatibility forms, such as the apostrophe-like accent in
    D´Angelo, stay as typed). The model's validator checks the rest."""
    name = unicodedata.normalize("NFC", value).translate(FULL_WIDTH)
    return " ".join(name.split())


class PatientForm(HiddenErrorsShown, forms.ModelForm):
    # Shown only when a patient with the same name and date of birth exists.
    different_person = forms.BooleanField(
        label=gettext_lazy(
            "This is a different person with the same name and date of birth"
        ),
        required=False,
        widget=forms.HiddenInput,
    )
    # Whether the consent box was ticked when the page was opened ("1" or "0").
    consent_shown = forms.CharField(required=False, widget=forms.HiddenInput)
    # Which version of the details the page showed (clinic.services.stale).
    seen = forms.CharField(required=False, widget=forms.HiddenInput, empty_value=None)
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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["consent_shown"] = "1" if self.instance.email_consent else "0"
            self.initial["seen"] = seen_stamp(self.instance, DETAILS)

    def clean_first_name(self) -> str:
        return clean_person_name(self.cleaned_data["first_name"])

    def clean_last_name(self) -> str:
        return clean_person_name(self.cleaned_data["last_name"])

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
        if data.get("email_consent") and not email:
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
        return data

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
        key = (name_key(first), name_key(last))
        # Compared here, not in SQL: SQLite ignores case for a-z only.
        same = next(
            (
                patient
                for patient in Patient.objects.filter(date_of_birth=born)
                .exclude(pk=self.instance.pk)
                .order_by("pk")
                if (name_key(patient.first_name), name_key(patient.last_name)) == key
            ),
            None,
        )
        if same is None:
            return
        self.fields["different_person"].widget = forms.CheckboxInput()
        self.add_error(
            None,
            format_html(
                _(
                    '<a href="{url}">{name}</a>, born {born}, is registered '
                    "already. Open that record, or tick the box below if this "
                    "is someone else."
                ),
                url=same.get_absolute_url(),
                name=same.full_name,
                born=born.strftime("%d %b %Y"),
            ),
        )


class SlotForm(forms.Form):
    """Date, time, length, practitioner and room of an appointment.

    Cleans to aware ``start`` and ``end`` datetimes in the clinic's time zone.
    Booking rules (hours, clashes) are the booking service's job, not the form's.
    """

    practitioner = forms.ModelChoiceField(
        queryset=Practitioner.objects.filter(is_active=True).select_related("user"),
        label=gettext_lazy("Practitioner"),
    )
    room = forms.ModelChoiceField(
        queryset=Room.objects.filter(is_active=True), label=gettext_lazy("Room")
    )
    date = forms.DateField(label=gettext_lazy("Date"), widget=DateInput())
    start_time = MinuteField(label=gettext_lazy("Start time"))
    duration = forms.TypedChoiceField(
        label=gettext_lazy("Length"), choices=DURATION_CHOICES, coerce=int, initial=60
    )
    override_reason = forms.CharField(
        label=gettext_lazy("Reason to book outside hours"),
        required=False,
        max_length=300,
        help_text=gettext_lazy(
            "Managers only: fill this in to book outside opening or working hours, "
            "on a closure day or during time off."
        ),
    )

    def __init__(self, *args, can_override: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not can_override:
            del self.fields["override_reason"]

    def clean_date(self) -> date:
        day = self.cleaned_data["date"]
        if day < timezone.localdate():
            raise forms.ValidationError(_("That date has already passed."))
        if day > timezone.localdate() + timedelta(days=2 * 366):
            raise forms.ValidationError(_("Book at most two years ahead."))
        return day

    def clean(self) -> dict:
        data = super().clean()
        day, at, minutes = (
            data.get("date"),
            data.get("start_time"),
            data.get("duration"),
        )
        if day is None or at is None or minutes is None:
            return data
        try:
            start = local_datetime(day, at)
        except ValueError as exc:
            self.add_error("start_time", str(exc))
            return data
        data["start"] = start
        data["end"] = _add_elapsed(start, minutes)
        return data


def _add_elapsed(start: datetime, minutes: int) -> datetime:
    # Elapsed time, so an appointment across a clock change still lasts its length.
    return timezone.localtime(start.astimezone(UTC) + timedelta(minutes=minutes))


class BookAppointmentForm(SlotForm):
    notes = forms.CharField(
        label=gettext_lazy("Notes for the practitioner"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RescheduleForm(SlotForm):
    @classmethod
    def initial_for(cls, appointment: Appointment) -> dict:
        local = timezone.localtime(appointment.start)
        return {
            "practitioner": appointment.practitioner_id,
            "room": appointment.room_id,
            "date": local.date(),
            "start_time": local.time(),
            "duration": appointment.duration_minutes,
        }


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason for cancelling"),
        max_length=300,
        help_text=gettext_lazy("For example: patient called to cancel, illness."),
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Give a reason for cancelling."))
        return reason


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Search"),
        required=False,
        max_length=100,
        widget=forms.SearchInput(
            attrs={"placeholder": gettext_lazy("Name, email or phone")}
        ),
    )


class CalendarForm(forms.Form):
    """The query string of the calendar pages; bad values fall back to defaults."""

    date = forms.DateField(required=False, widget=DateInput())
    practitioner = forms.ModelChoiceField(
        queryset=Practitioner.objects.filter(is_active=True).select_related("user"),
        required=False,
        empty_label=gettext_lazy("Practitioner..."),
    )
    room = forms.ModelChoiceField(
        queryset=Room.objects.filter(is_active=True),
        required=False,
        empty_label=gettext_lazy("Room..."),
    )

    def clean_date(self):  # A date or None ("date" is a field's name here).
        day = self.cleaned_data["date"]
        # The pages step a day or a week either side: not past year 1 or 9999.
        if day is not None and abs((day - timezone.localdate()).days) > MAX_DAYS_AWAY:
            raise forms.ValidationError(_("Pick a date within five years."))
        return day


class ConsultationForm(HiddenErrorsShown, forms.ModelForm):
    areas = CheckboxesField(
        label=gettext_lazy("Areas of concern"),
        choices=Area.choices,
        error_messages={"required": gettext_lazy("Tick at least one area.")},
    )
    goals = CheckboxesField(
        label=gettext_lazy("Goals"),
        choices=Goal.choices,
        error_messages={"required": gettext_lazy("Tick at least one goal.")},
    )
    # Which version of the consultation the page showed (clinic.services.stale).
    seen = forms.CharField(required=False, widget=forms.HiddenInput, empty_value=None)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial["seen"] = seen_stamp(self.instance, RECORDED)

    class Meta:
        model = Consultation
        fields = [
            "areas",
            "goals",
            "hoped_for_results",
            "skin_type",
            "topical_medication",
            *CONTRAINDICATIONS,
            "screening_note",
            "decision",
            "decision_reason",
        ]
        widgets = {
            "hoped_for_results": forms.Textarea(attrs={"rows": 2}),
            "screening_note": forms.Textarea(attrs={"rows": 2}),
            "decision_reason": forms.Textarea(attrs={"rows": 2}),
            "decision": forms.RadioSelect,
        }

    def clean(self) -> dict:
        data = super().clean()
        answered_yes = [name for name in CONTRAINDICATIONS if data.get(name)]
        if answered_yes and not data.get("screening_note", "").strip():
            self.add_error(
                "screening_note",
                _(
                    "A yes in the screening needs your note: what it means for "
                    "treatment."
                ),
            )
        decision = data.get("decision")
        needs_reason = (
            Consultation.Decision.NOT_ELIGIBLE,
            Consultation.Decision.REFER,
        )
        reason = data.get("decision_reason", "").strip()
        if decision in needs_reason and not reason:
            self.add_error(
                "decision_reason",
                _("Give the reason when the patient is not eligible or referred."),
            )
        if decision == Consultation.Decision.PENDING and reason:
            self.add_error(
                "decision_reason",
                _(
                    "A reason goes with a decision: pick one, or leave the reason "
                    "empty until then."
                ),
            )
        return data
