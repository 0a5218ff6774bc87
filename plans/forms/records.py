"""Forms of a session's record: the record itself, its treated areas, amendments
and photos."""

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django import forms
from django.db.models import Q
from django.forms import formset_factory
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinic.forms import (
    CHANGED_ON_ITS_WAY,
    HiddenErrorsShown,
    LocalDateTimeField,
    ModelMultipleChoiceField,
    PageVersionField,
    reason_in_words,
)
from clinic.models import Area
from plans.models import (
    MAX_DEPTH_MM,
    MIN_DEPTH_MM,
    Photo,
    Product,
    Redness,
    SessionRecord,
)


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


# A record's times are checked against its booking by the service; the form only
# keeps out dates no booking can be near (year 1 can't even be turned into UTC).
NEAR_TODAY = timedelta(days=50 * 365)


class RecordForm(HiddenErrorsShown, forms.ModelForm):
    # When the draft was last saved as the page showed it (NEW_RECORD before).
    seen = PageVersionField()
    products_after = ModelMultipleChoiceField(
        label=gettext_lazy("Products applied after"),
        queryset=Product.objects.filter(
            is_active=True,
            category__in=[Product.Category.SERUM, Product.Category.RECOVERY],
        ),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = SessionRecord
        fields = [
            "started_at",
            "ended_at",
            "device",
            "cartridge_lot",
            "numbing_agent",
            "numbing_other",
            "numbing_minutes",
            "products_after",
            "redness",
            "pinpoint_bleeding",
            "adverse_events",
            "notes",
        ]
        field_classes = {
            "started_at": LocalDateTimeField,
            "ended_at": LocalDateTimeField,
        }
        minutes = gettext_lazy("Give the numbing time in whole minutes, 0 to 120.")
        error_messages = {
            "numbing_minutes": {
                "invalid": minutes,
                "min_value": minutes,
                "max_value": minutes,
            }
        }
        widgets = {
            "started_at": DateTimeLocalInput(),
            "ended_at": DateTimeLocalInput(),
            "adverse_events": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 2}),
            "redness": forms.RadioSelect,
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A product taken off the list stays on the records that have it: editing
        # or amending them must not drop it silently.
        numbing = Q(is_active=True) | Q(pk=self.instance.numbing_agent_id)
        self.fields["numbing_agent"].queryset = Product.objects.filter(
            numbing, category=Product.Category.NUMBING
        )
        self.fields["numbing_agent"].empty_label = gettext_lazy("None, or other below")
        # No choice made for the practitioner: none ticked until they tick one
        # (a draft may wait for it; a signed record keeps one).
        self.fields["redness"].choices = Redness.choices
        self.fields["redness"].required = self.instance.is_signed
        self.fields["redness"].error_messages["required"] = _(
            "Choose the redness seen."
        )
        if self.instance.pk:
            used = self.instance.products_after.values("pk")
            self.fields["products_after"].queryset = Product.objects.filter(
                Q(is_active=True) | Q(pk__in=used),
                category__in=[Product.Category.SERUM, Product.Category.RECOVERY],
            )

    def _near_today(self, field: str) -> datetime | None:
        moment = self.cleaned_data[field]
        if moment is not None and abs(moment - timezone.now()) > NEAR_TODAY:
            raise forms.ValidationError(
                _("Check the date: it is decades away from today.")
            )
        return moment

    def clean_started_at(self) -> datetime | None:
        return self._near_today("started_at")

    def clean_ended_at(self) -> datetime | None:
        return self._near_today("ended_at")

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("started_at"), data.get("ended_at")
        if start and end and end <= start:
            self.add_error("ended_at", _("The end must be after the start."))
        if data.get("numbing_agent") and data.get("numbing_other", "").strip():
            self.add_error(
                "numbing_other",
                _("Pick a numbing agent from the list or name another, not both."),
            )
        named = data.get("numbing_agent") or data.get("numbing_other", "").strip()
        # A signed record kept from before the rule amends as it is; a draft,
        # whose values may have come from the last session, is always checked.
        numbing = {"numbing_agent", "numbing_other", "numbing_minutes"}
        if (
            (not self.instance.is_signed or numbing & set(self.changed_data))
            and data.get("numbing_minutes")
            and not named
        ):
            self.add_error(
                "numbing_minutes",
                _("Name the numbing agent these minutes are for, or leave them out."),
            )
        return data


HUNDREDTH = Decimal("0.01")
DEPTH_FORMAT = gettext_lazy(
    "Give the depth in millimetres with at most two decimals, such as 1.25."
)


class DepthField(forms.DecimalField):
    """A depth to the hundredth of a millimetre: 1.250 is 1.25, not three
    decimals."""

    def to_python(self, value) -> Decimal | None:
        value = super().to_python(value)
        if value is None or not value.is_finite():
            return value
        try:
            hundredths = value.quantize(HUNDREDTH)
        except InvalidOperation:  # Too many digits to round: refused as typed.
            return value
        return hundredths if hundredths == value else value


class AreaForm(forms.Form):
    # A blank first choice, so the formset's empty extra row stays unchanged.
    # Full-size controls: they are filled in on a tablet, by touch.
    area = forms.ChoiceField(
        label=gettext_lazy("Area"),
        choices=[("", "—"), *Area.choices],
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={
            "required": gettext_lazy("Pick the area this depth is for."),
            "invalid_choice": gettext_lazy(
                "Pick one of the choices offered: that one is not among them."
            ),
        },
    )
    depth_mm = DepthField(
        label=gettext_lazy("Needle depth (mm)"),
        min_value=MIN_DEPTH_MM,
        max_value=MAX_DEPTH_MM,
        # No count of digits: the limits above say what is too deep (a count
        # would add "at most two decimals" to 1e1, which has none).
        decimal_places=2,
        # As the server takes it: any depth to the hundredth of a millimetre.
        widget=forms.NumberInput(attrs={"step": "0.01", "class": "form-control"}),
        # Django would speak of "decimal places" and "ensure this value".
        error_messages={
            "required": gettext_lazy("Give the needle depth for this area."),
            "invalid": DEPTH_FORMAT,
            "max_decimal_places": DEPTH_FORMAT,
            "min_value": format_lazy(
                gettext_lazy("A needle depth is {limit} mm at the least."),
                limit=MIN_DEPTH_MM,
            ),
            "max_value": format_lazy(
                gettext_lazy("A needle depth is {limit} mm at the most."),
                # 2.5, as the field's hint says, not 2.50.
                limit=MAX_DEPTH_MM.normalize(),
            ),
        },
    )
    passes = forms.IntegerField(
        label=gettext_lazy("Passes"),
        min_value=1,
        max_value=10,
        initial=2,
        widget=forms.NumberInput(attrs={"class": "form-control"}),
        error_messages={
            key: gettext_lazy("Give the passes as a whole number, 1 to 10.")
            for key in ("required", "invalid", "min_value", "max_value")
        },
    )

    def __init__(
        self, *args, draft: bool = False, areas: list[str] | None = None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        if areas is not None:
            # The areas the consultation screened (records.treatable_areas).
            self.fields["area"].choices = [
                ("", "—"),
                *((v, label) for v, label in Area.choices if v in areas),
            ]
        # A draft's area without a depth yet is kept out of what is saved
        # (BaseAreaFormSet.entries); signing needs every depth.
        self.fields["depth_mm"].required = not draft


class BaseAreaFormSet(forms.BaseFormSet):
    def add_fields(self, form, index) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].widget.attrs["class"] = "form-check-input"
        # The table's column headings and the row, for screen readers on each
        # row's inputs ("Needle depth (mm), row 2").
        row = index + 1 if index is not None else ""
        for name, field in form.fields.items():
            label = _("Remove this area") if name == "DELETE" else str(field.label)
            field.widget.attrs["aria-label"] = (
                _("%(label)s, row %(n)s") % {"label": label, "n": row} if row else label
            )

    default_error_messages = {
        # Not Django's words (a "bug report"): the page's counts were changed.
        "missing_management_form": gettext_lazy(CHANGED_ON_ITS_WAY),
    }

    def clean(self) -> None:
        if any(self.errors):
            return
        # The page always has a row, and rows are removed with their Remove box,
        # never dropped from the count: a count below either was changed on its
        # way, and saving it would delete the areas recorded.
        if self.total_form_count() < max(self.initial_form_count(), 1):
            raise forms.ValidationError(
                self.error_messages["missing_management_form"],
                code="missing_management_form",
            )
        seen = set()
        for form in self._rows():
            area = form.cleaned_data.get("area")
            if area in seen:
                raise forms.ValidationError(_("Each area can be listed once."))
            seen.add(area)

    def _rows(self) -> list:
        """The rows filled in and not removed."""
        return [
            f for f in self.forms if f.has_changed() and not self._should_delete_form(f)
        ]

    def waiting_for_depth(self) -> list[str]:
        """The areas of a draft left out of what is saved: no depth yet."""
        return [
            str(Area(f.cleaned_data["area"]).label)
            for f in self._rows()
            if f.cleaned_data.get("area") and f.cleaned_data.get("depth_mm") is None
        ]

    def entries(self) -> list:
        from plans.records import AreaEntry

        return [
            AreaEntry(
                area=f.cleaned_data["area"],
                depth_mm=f.cleaned_data["depth_mm"],
                passes=f.cleaned_data["passes"],
            )
            for f in self._rows()
            if f.cleaned_data.get("depth_mm") is not None
        ]


AreaFormSet = formset_factory(
    AreaForm,
    formset=BaseAreaFormSet,
    extra=1,
    max_num=len(Area.choices),
    validate_max=True,
    can_delete=True,
)


class RemovePhotoForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why is it removed?"),
        help_text=gettext_lazy(
            "For example: another patient's photo, the wrong area, out of focus."
        ),
        max_length=1000,
        error_messages={"required": gettext_lazy("Say why the photo is removed.")},
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Say why the photo is removed."))
        # A clinical photo is deleted for good: the reason is its record.
        return reason_in_words(
            reason, asked=_("Say in a few words why the photo is removed.")
        )


class AmendForm(HiddenErrorsShown, forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason for the amendment"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=1000,
        error_messages={
            "required": gettext_lazy("An amendment needs a reason, in a few words.")
        },
    )
    # How many amendments the record had when the form was opened.
    seen = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def clean_reason(self) -> str:
        # The signed record keeps it next to what changed.
        return reason_in_words(
            self.cleaned_data["reason"],
            asked=self.fields["reason"].error_messages["required"],
        )


class PhotoForm(forms.Form):
    image = forms.FileField(
        label=gettext_lazy("Photo"),
        widget=forms.ClearableFileInput(
            attrs={
                # No "capture": a tablet then offers its camera and its
                # gallery (photos taken with the clinic's camera, say).
                "accept": "image/jpeg,image/png,image/webp",
            }
        ),
        # Django's own words speak of "the submitted file" and "encoding type".
        error_messages={
            "required": gettext_lazy("Choose the photo to add."),
            "empty": gettext_lazy("The file is empty: choose the photo again."),
            "invalid": gettext_lazy("That was not a file: choose the photo again."),
            "missing": gettext_lazy("No file came with the form: choose it again."),
        },
    )
    moment = forms.ChoiceField(
        label=gettext_lazy("Before or after"),
        choices=Photo.Moment.choices,
        widget=forms.RadioSelect,
        initial=Photo.Moment.BEFORE,
    )
    area = forms.ChoiceField(label=gettext_lazy("Area"), choices=Area.choices)
    note = forms.CharField(label=gettext_lazy("Note"), max_length=300, required=False)

    def __init__(self, *args, areas: list[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if areas is not None:
            self.fields["area"].choices = [
                (v, label) for v, label in Area.choices if v in areas
            ]
