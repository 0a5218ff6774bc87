"""Booking, rescheduling and cancelling appointments, and the calendar's address."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinic.forms.fields import (
    BOOKING_HORIZON_DAYS,
    MAX_DAYS_AWAY,
    TOO_FAR_AHEAD,
    DateInput,
    HiddenErrorsShown,
    InUseChoiceField,
    MinuteField,
    PageVersionField,
    optional_reason_in_words,
    reason_in_words,
)
from clinic.models import (
    Appointment,
    Practitioner,
    Room,
)
from clinic.scheduling import local_datetime, when_text
from clinic.services.booking import has_a_consultation, why_not_a_day_to_book
from clinic.services.stale import appointments_seen

DURATION_CHOICES = [
    (30, gettext_lazy("30 minutes")),
    (45, gettext_lazy("45 minutes")),
    (60, gettext_lazy("1 hour")),
    (90, gettext_lazy("1 hour 30 minutes")),
    (120, gettext_lazy("2 hours")),
]


# The largest id a database column holds (a 64-bit signed integer).


class SlotForm(forms.Form):
    """Date, time, length, practitioner and room of an appointment.

    Cleans to aware ``start`` and ``end`` datetimes in the clinic's time zone.
    Booking rules (hours, clashes) are the booking service's job, not the form's.
    """

    practitioner = InUseChoiceField(
        queryset=Practitioner.objects.filter(is_active=True).select_related("user"),
        label=gettext_lazy("Practitioner"),
    )
    room = InUseChoiceField(
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

    def clean_override_reason(self) -> str:
        return optional_reason_in_words(
            self.cleaned_data["override_reason"],
            asked=_("Say in a few words why it is booked outside hours."),
        )

    def clean_date(self) -> date:
        day = self.cleaned_data["date"]
        if day < timezone.localdate():
            raise forms.ValidationError(_("That date has already passed."))
        if day > timezone.localdate() + timedelta(days=BOOKING_HORIZON_DAYS):
            raise forms.ValidationError(TOO_FAR_AHEAD)
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


class BookAppointmentForm(HiddenErrorsShown, SlotForm):
    notes = forms.CharField(
        label=gettext_lazy("Notes for the practitioner"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    # The patient's consultations ahead as the page showed them
    # (clinic.services.appointments_seen): one booked since is asked about.
    ahead = PageVersionField()
    # Shown only when the patient has a consultation ahead (offer_another()).
    another = forms.BooleanField(
        label=gettext_lazy("Book another consultation all the same"),
        required=False,
        widget=forms.HiddenInput,
    )

    def offer_another(self) -> None:
        """The patient has a consultation ahead: a second is booked only with
        the tick (usually it is a slip, or the page sent again after Back)."""
        self.fields["another"].widget = forms.CheckboxInput()

    def ask_about_another(self, ahead: list, *, since: bool) -> None:
        """Refuse a second consultation without the tick, naming those ahead;
        ``since``: they were booked while the page was open (at another desk,
        or this form sent twice)."""
        self.offer_another()
        patient = ahead[0].patient
        if not since:
            self.add_error(None, has_a_consultation(patient, ahead))
            return
        self.add_error(
            None,
            _(
                "%(patient)s was booked for a consultation while this page was "
                "open (%(when)s): tick the box below only if another is really "
                "wanted."
            )
            % {
                "patient": patient,
                "when": ", ".join(when_text(a.start) for a in ahead),
            },
        )


class RescheduleForm(HiddenErrorsShown, SlotForm):
    # The appointment as the page showed it (clinic.services.appointments_seen).
    seen = PageVersionField()

    @classmethod
    def initial_for(cls, appointment: Appointment) -> dict:
        local = timezone.localtime(appointment.start)
        return {
            "practitioner": appointment.practitioner_id,
            "room": appointment.room_id,
            "date": local.date(),
            "start_time": local.time(),
            "duration": appointment.duration_minutes,
            "seen": appointments_seen([appointment]),
        }


class CancelForm(HiddenErrorsShown, forms.Form):
    # The appointment as the page showed it.
    seen = PageVersionField()
    reason = forms.CharField(
        label=gettext_lazy("Reason for cancelling"),
        max_length=300,
        help_text=gettext_lazy("For example: patient called to cancel, illness."),
        error_messages={
            "required": gettext_lazy("Give a reason for cancelling, in a few words.")
        },
    )

    def clean_reason(self) -> str:
        return reason_in_words(
            self.cleaned_data["reason"],
            asked=self.fields["reason"].error_messages["required"],
        )


class CalendarForm(forms.Form):
    """The query string of the calendar pages; bad values fall back to defaults."""

    date = forms.DateField(required=False, widget=DateInput())
    # Those taken out of use too: their weeks before stay to be read.
    practitioner = forms.ModelChoiceField(
        queryset=Practitioner.objects.select_related("user").order_by(
            "-is_active", *Practitioner._meta.ordering
        ),
        required=False,
        empty_label=gettext_lazy("Practitioner..."),
    )
    room = forms.ModelChoiceField(
        queryset=Room.objects.order_by("-is_active", *Room._meta.ordering),
        required=False,
        empty_label=gettext_lazy("Room..."),
    )

    def clean_date(self):  # A date or None ("date" is a field's name here).
        day = self.cleaned_data["date"]
        # The pages step a day or a week either side: not past year 1 or 9999.
        if day is not None and abs((day - timezone.localdate()).days) > MAX_DAYS_AWAY:
            raise forms.ValidationError(_("Pick a date within five years."))
        return day

    def clean(self):
        data = super().clean()
        if data.get("practitioner") and data.get("room"):
            # A week is one or the other (the page's script clears the other
            # when one is picked): the practitioner's, said so.
            data["room"] = None
            raise forms.ValidationError(
                _(
                    "Pick a practitioner or a room, not both: showing the "
                    "practitioner's week."
                )
            )
        return data


class BookFromCalendarForm(forms.Form):
    """A day picked on a calendar to book a consultation on, with whom or
    where (``?book=2026-12-01&practitioner=3``): the patient list and the
    registration page carry it to the patient's booking page."""

    book = forms.DateField(
        error_messages={
            "invalid": gettext_lazy("The day to book on is not a date."),
            "required": gettext_lazy("The day to book on is missing."),
        }
    )
    practitioner = forms.ModelChoiceField(
        queryset=Practitioner.objects.filter(is_active=True).select_related("user"),
        required=False,
        error_messages={
            "invalid_choice": gettext_lazy("That practitioner takes no bookings.")
        },
    )
    room = forms.ModelChoiceField(
        queryset=Room.objects.filter(is_active=True),
        required=False,
        error_messages={"invalid_choice": gettext_lazy("That room is not in use.")},
    )

    def clean_book(self):
        day = self.cleaned_data["book"]
        if day < timezone.localdate():
            raise forms.ValidationError(_("That day is over."))
        if (day - timezone.localdate()).days > BOOKING_HORIZON_DAYS:
            raise forms.ValidationError(TOO_FAR_AHEAD)
        return day

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors:
            # A calendar left open while the day was closed or taken off.
            why = why_not_a_day_to_book(
                data["book"], practitioner=data.get("practitioner")
            )
            if why:
                raise forms.ValidationError(why)
        return data

    def problem(self) -> str:
        """Why the link can't be followed, in words."""
        errors = [e for field in self.errors.values() for e in field]
        return " ".join(
            [
                *errors,
                _(
                    "Pick the day on the calendar again, or book from the "
                    "patient's page."
                ),
            ]
        )

    def carried_items(self) -> list[tuple[str, str]]:
        """What carries the day on (patient list, registration), as
        (name, value): the search form's hidden inputs."""
        return [
            (name, self.data[name])
            for name in ("book", "practitioner", "room")
            if self.data.get(name)
        ]

    def carried(self) -> str:
        """The same as a query string."""
        return urlencode(self.carried_items())

    def booking_query(self) -> str:
        """The booking page's query string: the day, and with whom or where."""
        data = self.cleaned_data
        return urlencode(
            {
                "date": data["book"].isoformat(),
                **(
                    {"practitioner": data["practitioner"].pk}
                    if data["practitioner"]
                    else {}
                ),
                **({"room": data["room"].pk} if data["room"] else {}),
            }
        )


def booking_from_calendar(query: QueryDict) -> BookFromCalendarForm | None:
    """The calendar's day to book on, when the address carries one."""
    if "book" not in query:
        return None
    form = BookFromCalendarForm(query)
    form.is_valid()
    return form
