"""Forms of a plan's life: starting it, booking and changing its sessions,
extending and ending it."""

from datetime import date, datetime, timedelta

from django import forms
from django.core.validators import MinValueValidator
from django.forms import formset_factory
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from clinic.forms import (
    BOOKING_HORIZON_DAYS,
    CHANGED_ON_ITS_WAY,
    CheckboxesField,
    DateInput,
    HiddenErrorsShown,
    InUseChoiceField,
    MinuteField,
    PageVersionField,
    TimeInput,
    combine_local_start,
    optional_reason_in_words,
    reason_in_words,
)
from clinic.models import Area, Goal, Practitioner, Room, choice_label
from clinic.scheduling import day_text
from plans.models import (
    MAX_PLANNED_SESSIONS,
    MAX_SPACING_DAYS,
    Protocol,
    TreatmentPlan,
)
from plans.services import Scope, too_close_for


class PlanForm(forms.ModelForm):
    areas = CheckboxesField(label=gettext_lazy("Areas to treat"), choices=Area.choices)
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

    def __init__(
        self,
        *args,
        screened: list[str] | None = None,
        goals: list[str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        # The consultation's goals: a protocol for none of them needs a reason.
        self.goals = goals or []
        if self.goals:
            self.fields["protocol"].help_text = _(
                "The consultation hopes for %(goals)s."
            ) % {
                "goals": _(" and ").join(
                    choice_label(Goal, g).lower() for g in self.goals
                )
            }
        if screened is not None:
            # The consultation's screening covers its areas only.
            areas = self.fields["areas"]
            areas.choices = [(v, label) for v, label in Area.choices if v in screened]
            areas.help_text = _(
                "The areas the consultation looked at. To treat another, add it "
                "to the consultation first."
            )
        self.fields["protocol"].queryset = Protocol.objects.filter(is_active=True)
        self.fields["practitioner"].queryset = Practitioner.objects.filter(
            is_active=True
        ).select_related("user")
        # At least one, whether -1 or 0 is typed (the form would say "at least 0"
        # of -1, from the column's type).
        at_least_one = {
            "planned_sessions": _("Plan at least one session."),
            "spacing_days": _("Give the days between sessions: 1 or more."),
        }
        for name, message in at_least_one.items():
            field = self.fields[name]
            field.validators = [
                v for v in field.validators if not isinstance(v, MinValueValidator)
            ] + [MinValueValidator(1, message=message)]
            field.widget.attrs["min"] = 1
        # The most any plan may have, said in words, and offered by the field.
        at_most = {
            "planned_sessions": (
                MAX_PLANNED_SESSIONS,
                _("A plan has %(n)s sessions at the most.")
                % {"n": MAX_PLANNED_SESSIONS},
            ),
            "spacing_days": (
                MAX_SPACING_DAYS,
                _("Sessions are %(n)s days apart at the most.")
                % {"n": MAX_SPACING_DAYS},
            ),
        }
        for name, (limit, message) in at_most.items():
            self.fields[name].error_messages["max_value"] = message
            self.fields[name].widget.attrs["max"] = limit

    def clean(self) -> dict:
        data = super().clean()
        protocol = data.get("protocol")
        sessions, spacing = data.get("planned_sessions"), data.get("spacing_days")
        if protocol is None or sessions is None or spacing is None:
            return data
        outside = []
        if not protocol.min_sessions <= sessions <= protocol.max_sessions:
            outside.append(
                ngettext(
                    "%(n)s session is outside the %(p)s protocol's %(range)s.",
                    "%(n)s sessions is outside the %(p)s protocol's %(range)s.",
                    sessions,
                )
                % {"n": sessions, "p": protocol, "range": protocol.sessions_text}
            )
        too_close = too_close_for(protocol, spacing)
        if too_close:
            # Never with a reason: the skin heals between sessions.
            self.add_error("spacing_days", too_close)
        elif spacing > protocol.max_spacing_days:
            outside.append(
                ngettext(
                    "%(n)s day apart is outside the %(p)s protocol's %(range)s days.",
                    "%(n)s days apart is outside the %(p)s protocol's %(range)s days.",
                    spacing,
                )
                % {"n": spacing, "p": protocol, "range": protocol.spacing_text}
            )
        not_for = protocol.not_for(self.goals)
        if not_for:
            outside.append(not_for)
        if (sessions - 1) * spacing > BOOKING_HORIZON_DAYS:
            # Never bookable: the last sessions would lie beyond what can be.
            self.add_error(
                "planned_sessions",
                _(
                    "%(n)s sessions %(d)s days apart run longer than the three "
                    "years ahead that can be booked: plan fewer sessions, or "
                    "closer together."
                )
                % {"n": sessions, "d": spacing},
            )
        if not outside:
            # Nothing to explain: a reason typed anyway would mark the plan
            # "outside the protocol" for everyone who opens it.
            data["exception_reason"] = ""
        elif "exception_reason" not in self._errors:
            try:
                data["exception_reason"] = reason_in_words(
                    data.get("exception_reason", ""),
                    asked=_(
                        "Give a reason, in a few words, to go outside the protocol."
                    ),
                )
            except forms.ValidationError as error:
                for message in outside:
                    self.add_error("exception_reason", message)
                self.add_error("exception_reason", error)
        return data


class SeriesStartForm(forms.Form):
    """Where the series starts: the first session's date and time, who and where."""

    date = forms.DateField(label=gettext_lazy("First session"), widget=DateInput())
    time = MinuteField(label=gettext_lazy("Time"))
    practitioner = InUseChoiceField(
        label=gettext_lazy("Practitioner"),
        queryset=Practitioner.objects.filter(is_active=True).select_related("user"),
    )
    room = InUseChoiceField(
        label=gettext_lazy("Room"),
        queryset=Room.objects.filter(is_active=True),
        required=False,
        empty_label=gettext_lazy("Any free room"),
    )
    # The course's sessions as the page proposed after them
    # (plans.services.course_seen): a change since brings a fresh proposal.
    # Booking is checked whole anyway: this only saves a confusing page.
    course = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, after: "date | None" = None, **kwargs) -> None:
        """``after``: the day of the course's last session booked or done, which
        a course that goes on is booked from."""
        super().__init__(*args, **kwargs)
        self.after = after

    def clean(self) -> dict:
        data = super().clean()
        day = data.get("date")
        if day is not None:
            if self.after is None and day > timezone.localdate() + timedelta(days=366):
                self.add_error("date", _("Start the series within a year."))
                return data
            if self.after is not None and day > max(
                self.after, timezone.localdate()
            ) + timedelta(days=366):
                self.add_error(
                    "date",
                    _(
                        "Book the next session within a year of the one before "
                        "it, on %(day)s."
                    )
                    % {"day": day_text(self.after)},
                )
                return data
        combine_local_start(self, data, key="first_start", future=True)
        return data


class SessionRowForm(HiddenErrorsShown, forms.Form):
    """One proposed session, which the front desk may change before booking."""

    date = forms.DateField(
        widget=DateInput(attrs={"class": "form-control form-control-sm"})
    )
    time = MinuteField(
        widget=TimeInput(attrs={"class": "form-control form-control-sm"})
    )
    room = InUseChoiceField(
        queryset=Room.objects.filter(is_active=True),
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    proposed = forms.CharField(widget=forms.HiddenInput, required=False)

    def clean(self) -> dict:
        data = super().clean()
        combine_local_start(self, data, key="start", future=False)
        return data

    def name_fields(self, number: int) -> None:
        """What a screen reader calls the row's fields ("Session 3 date"): the
        table's headings are not read out with each."""
        names = {
            "date": _("Session %(n)s date"),
            "time": _("Session %(n)s time"),
            "room": _("Session %(n)s room"),
        }
        for name, label in names.items():
            self.fields[name].widget.attrs["aria-label"] = label % {"n": number}

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

    default_error_messages = {
        # Not Django's words (a "bug report"): the page's counts were changed.
        "missing_management_form": gettext_lazy(CHANGED_ON_ITS_WAY),
    }

    @cached_property
    def room_choices(self) -> list:
        return list(self.form.base_fields["room"].choices)

    def _construct_form(self, i: int, **kwargs) -> forms.Form:
        # Every row is a session to book: an empty row is an error, not skipped
        # (the view reads each row's start and room).
        kwargs.setdefault("empty_permitted", False)
        form = super()._construct_form(i, **kwargs)
        form.fields["room"].choices = self.room_choices
        return form


SessionRowFormSet = formset_factory(
    SessionRowForm,
    formset=BaseSessionRowFormSet,
    extra=0,
    max_num=MAX_PLANNED_SESSIONS,
    validate_max=True,
    min_num=1,
)


CLOSER_THAN_THE_MINIMUM = gettext_lazy(
    "Say in a few words why the sessions may be closer than the minimum."
)


class OverrideForm(forms.Form):
    override_reason = forms.CharField(
        label=gettext_lazy(
            "Manager's reason to allow sessions closer than the minimum"
        ),
        required=False,
        max_length=300,
    )

    def clean_override_reason(self) -> str:
        return optional_reason_in_words(
            self.cleaned_data["override_reason"], asked=CLOSER_THAN_THE_MINIMUM
        )


class MoveSessionForm(HiddenErrorsShown, forms.Form):
    date = forms.DateField(label=gettext_lazy("New date"), widget=DateInput())
    time = MinuteField(label=gettext_lazy("New time"))
    scope = forms.ChoiceField(
        label=gettext_lazy("Move"),
        choices=[
            (Scope.THIS, gettext_lazy("This session only")),
            (Scope.FOLLOWING, gettext_lazy("This and all following sessions")),
        ],
        widget=forms.RadioSelect,
        initial=Scope.THIS,
    )
    room = InUseChoiceField(
        label=gettext_lazy("Room of this session"),
        queryset=Room.objects.filter(is_active=True),
        required=False,
        empty_label=gettext_lazy("Keep the room"),
        help_text=gettext_lazy(
            "The following sessions keep theirs: Change from here changes the "
            "room of every session from one on."
        ),
    )
    confirmed = forms.BooleanField(
        label=gettext_lazy("I have checked the spacing; move anyway"), required=False
    )
    override_reason = forms.CharField(
        label=gettext_lazy("Manager's reason (sessions closer than the minimum)"),
        required=False,
        max_length=300,
    )
    # The move the page last showed (see stamp()): a confirmation is for that one.
    previewed = forms.CharField(widget=forms.HiddenInput, required=False)
    # The sessions from this one on as the page first showed them
    # (plans.services.sessions_seen): "and all following" moves them all.
    seen = PageVersionField()

    def clean_override_reason(self) -> str:
        return optional_reason_in_words(
            self.cleaned_data["override_reason"], asked=CLOSER_THAN_THE_MINIMUM
        )

    def clean(self) -> dict:
        data = super().clean()
        combine_local_start(self, data, key="start", future=True)
        return data

    def stamp(self) -> str:
        data = self.cleaned_data
        room = data.get("room")
        return f"{data['start'].isoformat()}|{data['scope']}|{room.pk if room else ''}"

    @property
    def changed_since_preview(self) -> bool:
        return self.cleaned_data.get("previewed") != self.stamp()


class ChangeResourcesForm(HiddenErrorsShown, forms.Form):
    # The sessions as the page showed them (plans.services.sessions_seen).
    seen = PageVersionField()
    practitioner = InUseChoiceField(
        label=gettext_lazy("Practitioner"),
        queryset=Practitioner.objects.filter(is_active=True).select_related("user"),
    )
    room = InUseChoiceField(
        label=gettext_lazy("Room"), queryset=Room.objects.filter(is_active=True)
    )


class CancelSessionForm(HiddenErrorsShown, forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason for cancelling"),
        max_length=300,
        error_messages={
            "required": gettext_lazy("Give a reason for cancelling, in a few words.")
        },
    )
    replace = forms.BooleanField(
        label=gettext_lazy("Book a replacement session at the end of the course"),
        help_text=gettext_lazy(
            "At the plan's spacing after its last booked session, with that "
            "session's practitioner: the message after cancelling says when, "
            "with whom and where."
        ),
        required=False,
    )
    # The session as the page showed it (services.session_seen).
    seen = PageVersionField()

    def clean_reason(self) -> str:
        return reason_in_words(
            self.cleaned_data["reason"],
            asked=self.fields["reason"].error_messages["required"],
        )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=300,
        error_messages={"required": gettext_lazy("Give a reason, in a few words.")},
    )

    def clean_reason(self) -> str:
        return reason_in_words(
            self.cleaned_data["reason"],
            asked=self.fields["reason"].error_messages["required"],
        )


class CancelPlanForm(HiddenErrorsShown, ReasonForm):
    # The sessions the page listed to cancel (appointments_seen()).
    seen = PageVersionField()


class ExtendForm(HiddenErrorsShown, forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason (needed beyond the protocol's maximum)"),
        max_length=300,
        required=False,
    )
    # How many sessions the plan had when the form was opened.
    seen = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            return reason
        return reason_in_words(
            reason, asked=_("Say in a few words why the plan needs more sessions.")
        )


def default_first_date(previous: datetime | None, spacing_days: int) -> date:
    if previous is None:
        return timezone.localdate() + timedelta(days=1)
    return max(
        timezone.localdate(previous) + timedelta(days=spacing_days),
        timezone.localdate() + timedelta(days=1),
    )


# Session records ---------------------------------------------------------------
