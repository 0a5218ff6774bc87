from datetime import date, datetime, timedelta

from django import forms
from django.forms import formset_factory
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinic.forms import DateInput, TimeInput
from clinic.models import Area, Practitioner, Room
from clinic.scheduling import local_datetime
from plans.models import Protocol, TreatmentPlan
from plans.services import Scope


class PlanForm(forms.ModelForm):
    areas = forms.MultipleChoiceField(
        label=gettext_lazy("Areas to treat"),
        choices=Area.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    consent = forms.BooleanField(
        label=gettext_lazy("The patient consents to this plan"),
        required=False,
        help_text=gettext_lazy(
            "Tick once the patient has agreed to the course. Sessions can be booked "
            "only with consent; it can also be recorded later."
        ),
    )

    class Meta:
        model = TreatmentPlan
        fields = [
            "protocol",
            "practitioner",
            "areas",
            "planned_sessions",
            "spacing_days",
            "exception_reason",
        ]
        widgets = {"exception_reason": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["protocol"].queryset = Protocol.objects.filter(is_active=True)
        self.fields["practitioner"].queryset = Practitioner.objects.filter(
            is_active=True
        ).select_related("user")

    def clean(self) -> dict:
        data = super().clean()
        protocol = data.get("protocol")
        sessions, spacing = data.get("planned_sessions"), data.get("spacing_days")
        if protocol is None or sessions is None or spacing is None:
            return data
        outside = []
        if not protocol.min_sessions <= sessions <= protocol.max_sessions:
            outside.append(
                _("%(n)s sessions is outside the %(p)s protocol's %(range)s.")
                % {"n": sessions, "p": protocol, "range": protocol.sessions_text}
            )
        if not protocol.min_spacing_days <= spacing <= protocol.max_spacing_days:
            outside.append(
                _("%(n)s days apart is outside the %(p)s protocol's %(range)s days.")
                % {"n": spacing, "p": protocol, "range": protocol.spacing_text}
            )
        if outside and not data.get("exception_reason", "").strip():
            for message in outside:
                self.add_error("exception_reason", message)
            self.add_error(
                "exception_reason", _("Give a reason to go outside the protocol.")
            )
        return data


class SeriesStartForm(forms.Form):
    """Where the series starts: the first session's date and time, who and where."""

    date = forms.DateField(label=gettext_lazy("First session"), widget=DateInput())
    time = forms.TimeField(label=gettext_lazy("Time"), widget=TimeInput())
    practitioner = forms.ModelChoiceField(
        label=gettext_lazy("Practitioner"),
        queryset=Practitioner.objects.filter(is_active=True).select_related("user"),
    )
    room = forms.ModelChoiceField(
        label=gettext_lazy("Room"),
        queryset=Room.objects.filter(is_active=True),
        required=False,
        empty_label=gettext_lazy("Any free room"),
    )

    def clean(self) -> dict:
        data = super().clean()
        day, at = data.get("date"), data.get("time")
        if day is None or at is None:
            return data
        if day < timezone.localdate():
            self.add_error("date", _("That date has already passed."))
            return data
        if day > timezone.localdate() + timedelta(days=366):
            self.add_error("date", _("Start the series within a year."))
            return data
        try:
            data["first_start"] = local_datetime(day, at)
        except ValueError as exc:
            self.add_error("time", str(exc))
        return data


class SessionRowForm(forms.Form):
    """One proposed session, which the front desk may change before booking."""

    date = forms.DateField(widget=DateInput(attrs={"class": "form-control-sm"}))
    time = forms.TimeField(widget=TimeInput(attrs={"class": "form-control-sm"}))
    room = forms.ModelChoiceField(
        queryset=Room.objects.filter(is_active=True),
        widget=forms.Select(attrs={"class": "form-select-sm"}),
    )
    proposed = forms.CharField(widget=forms.HiddenInput, required=False)

    def clean(self) -> dict:
        data = super().clean()
        day, at = data.get("date"), data.get("time")
        if day is None or at is None:
            return data
        try:
            data["start"] = local_datetime(day, at)
        except ValueError as exc:
            self.add_error("time", str(exc))
        return data

    @staticmethod
    def stamp(start: datetime, room: Room) -> str:
        local = timezone.localtime(start)
        return f"{local:%Y-%m-%dT%H:%M}|{room.pk}"

    @property
    def was_changed_by_hand(self) -> bool:
        if "start" not in self.cleaned_data or "room" not in self.cleaned_data:
            return False
        current = self.stamp(self.cleaned_data["start"], self.cleaned_data["room"])
        return current != self.cleaned_data.get("proposed")


class BaseSessionRowFormSet(forms.BaseFormSet):
    """The rows share one list of rooms: one query for the table, not one per row."""

    @cached_property
    def room_choices(self) -> list:
        return list(self.form.base_fields["room"].choices)

    def _construct_form(self, i: int, **kwargs) -> forms.Form:
        form = super()._construct_form(i, **kwargs)
        form.fields["room"].choices = self.room_choices
        return form


SessionRowFormSet = formset_factory(
    SessionRowForm,
    formset=BaseSessionRowFormSet,
    extra=0,
    max_num=30,
    validate_max=True,
    min_num=1,
)


class OverrideForm(forms.Form):
    override_reason = forms.CharField(
        label=gettext_lazy(
            "Manager's reason to allow sessions closer than the minimum"
        ),
        required=False,
        max_length=300,
    )


class MoveSessionForm(forms.Form):
    date = forms.DateField(label=gettext_lazy("New date"), widget=DateInput())
    time = forms.TimeField(label=gettext_lazy("New time"), widget=TimeInput())
    scope = forms.ChoiceField(
        label=gettext_lazy("Move"),
        choices=[
            (Scope.THIS, gettext_lazy("This session only")),
            (Scope.FOLLOWING, gettext_lazy("This and all following sessions")),
        ],
        widget=forms.RadioSelect,
        initial=Scope.THIS,
    )
    room = forms.ModelChoiceField(
        label=gettext_lazy("Room"),
        queryset=Room.objects.filter(is_active=True),
        required=False,
        empty_label=gettext_lazy("Keep the room"),
    )
    confirmed = forms.BooleanField(
        label=gettext_lazy("I have checked the spacing; move anyway"), required=False
    )
    override_reason = forms.CharField(
        label=gettext_lazy("Manager's reason (sessions closer than the minimum)"),
        required=False,
        max_length=300,
    )

    def clean(self) -> dict:
        data = super().clean()
        day, at = data.get("date"), data.get("time")
        if day is None or at is None:
            return data
        if day < timezone.localdate():
            self.add_error("date", _("That date has already passed."))
            return data
        try:
            data["start"] = local_datetime(day, at)
        except ValueError as exc:
            self.add_error("time", str(exc))
        return data


class ChangeResourcesForm(forms.Form):
    practitioner = forms.ModelChoiceField(
        label=gettext_lazy("Practitioner"),
        queryset=Practitioner.objects.filter(is_active=True).select_related("user"),
    )
    room = forms.ModelChoiceField(
        label=gettext_lazy("Room"), queryset=Room.objects.filter(is_active=True)
    )


class CancelSessionForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason for cancelling"), max_length=300
    )
    replace = forms.BooleanField(
        label=gettext_lazy("Book a replacement session at the end of the course"),
        required=False,
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Give a reason for cancelling."))
        return reason


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Give a reason."))
        return reason


class ExtendForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason (needed beyond the protocol's maximum)"),
        max_length=300,
        required=False,
    )


def default_first_date(previous: datetime | None, spacing_days: int) -> date:
    if previous is None:
        return timezone.localdate() + timedelta(days=1)
    return max(
        timezone.localdate(previous) + timedelta(days=spacing_days),
        timezone.localdate() + timedelta(days=1),
    )
