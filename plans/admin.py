from django import forms
from django.contrib import admin, messages
from django.core.validators import MinValueValidator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from clinic.admin.calendar import list_name
from clinic.admin.kept import KeptForItsHistory
from clinic.admin.lookups import FiltersAsOffered
from clinic.admin.stale import RefusesStaleEdits, ShowsSavedValues
from clinic.models import Goal, validate_readable_name
from plans.models import Product, Protocol, TreatmentPlan, TreatmentSession

# What plans in progress read from their protocol as they go (their number of
# sessions and target spacing were set when they began, and stay).
SCHEDULING_FIELDS = {
    "max_sessions",
    "min_spacing_days",
    "max_spacing_days",
    "session_minutes",
}


class ProtocolForm(forms.ModelForm):
    goals = forms.MultipleChoiceField(
        label=_("Suits the goals"),
        choices=Goal.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_(
            "What a consultation hopes for that this protocol is for. A plan for "
            "other goals needs the practitioner's reason. None ticked: any goal."
        ),
    )

    class Meta:
        model = Protocol
        fields = [
            "name",
            "description",
            "goals",
            "min_sessions",
            "max_sessions",
            "target_spacing_days",
            "min_spacing_days",
            "max_spacing_days",
            "session_minutes",
            "is_active",
        ]

    def clean_name(self) -> str:
        # Picked by name from a list when a plan is started.
        return list_name(self.cleaned_data["name"], Protocol, self.instance)


@admin.register(Protocol)
class ProtocolAdmin(
    ShowsSavedValues, KeptForItsHistory, RefusesStaleEdits, admin.ModelAdmin
):
    form = ProtocolForm
    list_display = [
        "name",
        "sessions",
        "target_spacing_days",
        "spacing_window",
        "session_minutes",
        "is_active",
    ]
    readonly_fields = ["plans_in_progress"]

    @admin.display(description=_("sessions"))
    def sessions(self, protocol: Protocol) -> str:
        return protocol.sessions_text

    @admin.display(description=_("spacing window (days)"))
    def spacing_window(self, protocol: Protocol) -> str:
        return protocol.spacing_text

    actions = None  # One at a time: one any plan followed stays.

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        lowest = [
            v.limit_value
            for v in db_field.validators
            if isinstance(v, MinValueValidator)
        ]
        if field is not None and lowest:
            # The column's own "at least 0" would say one thing of -5 and the
            # protocol's "at least 1" another of 0: one limit, said once.
            field.validators = [
                v for v in field.validators if not isinstance(v, MinValueValidator)
            ]
            field.widget.attrs["min"] = max(lowest)
        return field

    @admin.display(description=_("plans in progress"))
    def plans_in_progress(self, protocol: Protocol) -> str:
        # Said before a change is made, not only after it.
        if protocol.pk is None:
            return "—"
        following = TreatmentPlan.objects.open().filter(protocol=protocol).count()
        return ngettext(
            "%(n)d plan in progress follows this protocol. A change keeps its "
            "booked sessions; the new values apply to what is booked from then on.",
            "%(n)d plans in progress follow this protocol. A change keeps their "
            "booked sessions; the new values apply to what is booked from then on.",
            following,
        ) % {"n": following}

    def why_not_delete(self, protocol: Protocol) -> str:
        if not TreatmentPlan.objects.filter(protocol=protocol).exists():
            return ""
        return _(
            "Treatment plans have followed %(name)s, so it can't be deleted: "
            "untick “offered” instead."
        ) % {"name": protocol}

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change or not SCHEDULING_FIELDS & set(form.changed_data):
            return
        following = TreatmentPlan.objects.open().filter(protocol=obj).count()
        if following:
            self.message_user(
                request,
                ngettext(
                    "%(n)d plan in progress follows this protocol: its booked "
                    "sessions stay as they are; the new session length, spacing "
                    "window and most sessions apply to what is booked or added "
                    "from now on, and to its plan page's spacing flags.",
                    "%(n)d plans in progress follow this protocol: their booked "
                    "sessions stay as they are; the new session length, spacing "
                    "window and most sessions apply to what is booked or added "
                    "from now on, and to their plan pages' spacing flags.",
                    following,
                )
                % {"n": following},
                messages.WARNING,
            )


class TreatmentSessionInline(admin.TabularInline):
    model = TreatmentSession
    fields = ["number", "appointment", "replaces"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TreatmentPlan)
class TreatmentPlanAdmin(FiltersAsOffered, ShowsSavedValues, admin.ModelAdmin):
    """Read-only: plans are created and changed on the plan pages, which keep the
    series and its bookings consistent, and whose reasons are the practitioner's
    (going outside the protocol) or the plan's end's."""

    list_display = ["patient", "protocol", "practitioner", "planned_sessions", "status"]
    list_filter = ["status", "protocol"]
    list_select_related = ["patient", "protocol", "practitioner__user"]
    search_fields = ["patient__last_name", "patient__first_name"]
    readonly_fields = [
        "patient",
        "consultation",
        "protocol",
        "areas",
        "practitioner",
        "planned_sessions",
        "spacing_days",
        "status",
        "consent_by",
        "consented_at",
        "created_by",
        "exception_reason",
        "spacing_notes",
        "ended_reason",
        "ended_at",
    ]
    inlines = [TreatmentSessionInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["name", "category", "is_active"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        # A name staff can read; one saved before this was asked keeps saving.
        if name != self.initial.get("name"):
            validate_readable_name(name)
        return name


@admin.register(Product)
class ProductAdmin(KeptForItsHistory, ShowsSavedValues, admin.ModelAdmin):
    form = ProductForm
    list_display = ["name", "category", "is_active"]
    list_filter = ["category", "is_active"]
    # One at a time, each page saying why one on a record stays.
    actions = None

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and "is_active" in form.base_fields and obj.is_on_a_record():
            # Said before anyone tries (the delete link is gone too).
            form.base_fields["is_active"].help_text = _(
                "On session records: it keeps its name and category and can't be "
                "deleted. Untick this to stop offering it."
            )
        return form

    def why_not_delete(self, product: Product) -> str:
        if not product.is_on_a_record():
            return ""
        return _(
            "%(name)s is on session records, which must keep saying what was "
            "used, so it can't be deleted: untick \u201cin use\u201d instead."
        ) % {"name": product}
