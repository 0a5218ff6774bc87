"""Fields, widgets and checks the clinic's forms share (plans' too)."""

import unicodedata
from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from clinic.models.hours import MAX_DAYS_AWAY
from clinic.scheduling import local_datetime
from clinic.scheduling.rules import BOOKING_HORIZON

MAX_ID = 2**63 - 1


CLOCK_CHANGE = _lazy(
    "The clocks change that night, so this time doesn't exist or happens twice: "
    "give a time outside the hour they change."
)


class LocalDateTimeField(forms.DateTimeField):
    """A date and time in the clinic's zone, refused in words on the night the
    clocks change (Django's own message quotes the zone's database name)."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except forms.ValidationError as error:
            if error.code != "ambiguous_timezone":
                raise
            raise forms.ValidationError(CLOCK_CHANGE, code="clock_change") from None


class LocalSplitDateTimeField(forms.SplitDateTimeField):
    """The admin's date and time pair, refused in the same words on the night
    the clocks change."""

    def compress(self, data_list):
        try:
            return super().compress(data_list)
        except forms.ValidationError as error:
            if error.code != "ambiguous_timezone":
                raise
            raise forms.ValidationError(CLOCK_CHANGE, code="clock_change") from None


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


def optional_reason_in_words(text: str, *, asked: str) -> str:
    """An optional reason (a manager's, to go outside hours): empty, or in words."""
    reason = text.strip()
    return reason_in_words(reason, asked=asked) if reason else reason


def reason_in_words(text: str, *, asked: str) -> str:
    """A reason that a record keeps (a clinical photo deleted, a plan beyond its
    protocol): a few letters at least, not "x", "ok" or "....", nor invisible
    characters. ``asked`` is the question to repeat when it isn't."""
    reason = text.strip()
    if _letter_weight(reason) < 3:
        if any(not unicodedata.category(c).startswith(("Z", "C")) for c in reason):
            # Something was typed: say why it isn't taken, not only ask again.
            raise forms.ValidationError(
                _("%(asked)s What is typed is too short to say why.") % {"asked": asked}
            )
        raise forms.ValidationError(asked)
    return reason


def _letter_weight(text: str) -> int:
    """Letters, counting a wide one (a Chinese or Japanese character, a Korean
    syllable: a word or most of one) as two, and a letter's combining marks
    (the vowel signs of Devanagari, say) as letters."""
    weight = 0
    for char in text:
        category = unicodedata.category(char)
        if category.startswith("L"):
            weight += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        elif category in ("Mn", "Mc"):
            weight += 1
    return weight


# A hidden field the page always sends came back missing or altered.
CHANGED_ON_ITS_WAY = (
    "This page was changed on its way here: open it again and make your change "
    "once more."
)


class PageVersionField(forms.CharField):
    """What the page showed when it was opened (clinic.services.stale), sent
    back in a hidden field. Every page sends it, so a post without it is refused
    like a tampered one, never saved without the check. Forms using it also
    inherit HiddenErrorsShown, so the refusal is shown in words."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs) -> None:
        super().__init__(empty_value=None, **kwargs)


class HiddenErrorsShown:
    """A form whose hidden fields (what the page showed when it was opened)
    report a bad value above the form: a crispy form shows no error of a hidden
    field, so the page would come back unchanged without a word."""

    def clean(self) -> dict:
        data = super().clean()
        for name, field in self.fields.items():
            if field.widget.is_hidden and self._errors.pop(name, None):
                self.add_error(None, _(CHANGED_ON_ITS_WAY))
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


# How far ahead anything may be booked (the booking rules say the same).
BOOKING_HORIZON_DAYS = BOOKING_HORIZON.days
TOO_FAR_AHEAD = _lazy("Book at most three years ahead.")


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
    today = timezone.localdate()
    if future and day < today:
        form.add_error(date_field, _("That date has already passed."))
        return
    if future and day > today + timedelta(days=BOOKING_HORIZON_DAYS):
        # Also far beyond: one limit, in the same words, whatever the date.
        form.add_error(date_field, TOO_FAR_AHEAD)
        return
    if abs((day - today).days) > MAX_DAYS_AWAY:
        # Series arithmetic on such a date would overflow (year 1 or 9999).
        form.add_error(date_field, _("Pick a date within five years."))
        return
    try:
        data[key] = local_datetime(day, at)
    except ValueError as exc:
        form.add_error(time_field, str(exc))


# Full-width Latin letters, digits and signs (U+FF01-FF5E), and the full-width
# space, as their everyday forms.


class InUseChoiceField(forms.ModelChoiceField):
    """A practitioner or room from those in use (the queryset). One taken out
    of use while the page was open is named, with what to do, rather than
    "not among the choices" beside a list that no longer shows it."""

    not_in_use = {
        "practitioner": _lazy(
            "%(name)s no longer takes bookings: pick another practitioner."
        ),
        "room": _lazy("%(name)s is no longer in use: pick another room."),
    }

    def to_python(self, value):
        try:
            return super().to_python(value)
        except forms.ValidationError as error:
            if error.code != "invalid_choice":
                raise
            model = self.queryset.model
            try:
                gone = model._default_manager.get(pk=value)
            except (model.DoesNotExist, ValueError, TypeError, OverflowError):
                raise error from None
            raise forms.ValidationError(
                self.not_in_use[model._meta.model_name] % {"name": gone},
                code="not_in_use",
            ) from None
