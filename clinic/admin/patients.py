"""Patients, appointments and consultations in the admin, through the same
services as the clinic's pages."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db import transaction
from django.http import HttpResponseRedirect
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinic import services
from clinic.admin.kept import KeptForItsHistory
from clinic.admin.lookups import FiltersAsOffered
from clinic.admin.stale import ShowsSavedValues
from clinic.forms import PatientForm
from clinic.models import (
    Appointment,
    AppointmentEvent,
    Consultation,
    Patient,
    PatientChange,
)


@admin.register(Patient)
class PatientAdmin(
    FiltersAsOffered, ShowsSavedValues, KeptForItsHistory, admin.ModelAdmin
):
    # The same names, checks and duplicate question as the front desk's form,
    # and the same services: a registration waits for any other, and a change
    # is refused when someone saved the details since the page was opened.
    form = PatientForm
    list_display = ["last_name", "first_name", "date_of_birth", "email", "phone"]
    search_fields = ["last_name", "first_name", "email", "phone"]
    list_filter = ["email_consent", "skin_type", "preferred_contact"]
    # Deleted one at a time, where the page can say that one with a history
    # can't be (the bulk action would promise more).
    actions = None

    def why_not_delete(self, patient: Patient) -> str:
        # Appointments, consultations and records keep a patient (a clinic's
        # duty to keep its records): only one registered by mistake, with
        # nothing booked yet, is deleted.
        if not patient.appointments.exists():
            return ""
        return _(
            "%(name)s has appointments, and the clinic keeps its patients' "
            "records, so they can't be deleted. Only a patient registered by "
            "mistake, with nothing booked, can be."
        ) % {"name": patient}

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method != "POST" or object_id is not None:
            return super().changeform_view(request, object_id, form_url, extra_context)
        with transaction.atomic():
            # The form looks for a namesake: no other registration meanwhile.
            services.hold_registration_lock()
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        try:
            services.save_patient_details(
                obj,
                seen=form.cleaned_data.get("seen"),
                keep_stored_consent=form.consent_left_as_shown,
                by=request.user,
            )
        except services.StalePage:
            request.patient_not_saved = _(
                "Someone else saved the patient's details while this page was "
                "open, so your changes were not saved. Here they are as saved "
                "now: make your change again."
            )

    def log_change(self, request, obj, message):
        if getattr(request, "patient_not_saved", None):
            return None
        return super().log_change(request, obj, message)

    def response_change(self, request, obj):
        refusal = getattr(request, "patient_not_saved", None)
        if refusal:
            self.message_user(request, refusal, messages.ERROR)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


class AppointmentEventInline(admin.TabularInline):
    """The appointment's history, as its page shows it: written by the booking
    services only."""

    model = AppointmentEvent
    fields = [
        "at",
        "action",
        "by",
        "moved_from_start",
        "moved_to_start",
        "moved_from_practitioner",
        "moved_to_practitioner",
        "moved_from_room",
        "moved_to_room",
        "reason",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = _("change")
    verbose_name_plural = _("appointment history")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related(
                "by",
                "moved_from_practitioner__user",
                "moved_to_practitioner__user",
                "moved_from_room",
                "moved_to_room",
            )
        )


@admin.register(Appointment)
class AppointmentAdmin(FiltersAsOffered, ShowsSavedValues, admin.ModelAdmin):
    """Read-mostly: bookings and moves go through the booking pages, which run the
    clash and hours checks. Here staff can look things up and edit notes."""

    list_display = ["start", "end", "patient", "practitioner", "room", "kind", "status"]
    list_filter = ["status", "kind", "practitioner", "room"]
    list_select_related = ["patient", "practitioner__user", "room"]
    search_fields = ["patient__last_name", "patient__first_name", "patient__email"]
    date_hierarchy = "start"
    fields = [
        "patient",
        "practitioner",
        "room",
        "start",
        "end",
        "kind",
        "status",
        "notes",
        "booked_by",
        "override_reason",
        "override_by",
        "cancel_reason",
        "cancelled_at",
        "checked_in_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [f for f in fields if f != "notes"]
    inlines = [AppointmentEventInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Cancel instead: the history of a patient's appointments is kept.
        return False


@admin.register(Consultation)
class ConsultationAdmin(FiltersAsOffered, ShowsSavedValues, admin.ModelAdmin):
    """Read-only: consultations are recorded by practitioners on their pages."""

    list_display = ["patient", "appointment", "decision", "decided_by"]
    list_filter = ["decision"]
    list_select_related = ["patient", "appointment__patient", "decided_by"]
    search_fields = ["patient__last_name", "patient__first_name"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [*self.get_fields(request, obj)]

    def get_fields(self, request, obj=None) -> list[str]:
        # The lists in words, not as stored (["face"]).
        shown = {"areas": "areas_shown", "goals": "goals_shown"}
        return [shown.get(f.name, f.name) for f in Consultation._meta.fields]

    @admin.display(description=gettext_lazy("areas of concern"))
    def areas_shown(self, consultation: Consultation) -> str:
        return ", ".join(consultation.get_areas_display())

    @admin.display(description=gettext_lazy("goals"))
    def goals_shown(self, consultation: Consultation) -> str:
        return ", ".join(consultation.get_goals_display())

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Shown to read, with no Save button that would save nothing.
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The screening is clinical: reading it here is logged as on its page.
        consultation = self.get_object(request, unquote(object_id))
        if (
            request.method == "GET"
            and consultation is not None
            and self.has_view_permission(request, consultation)
        ):
            services.log_clinical_access(
                user=request.user,
                patient=consultation.patient,
                what="consultation (admin)",
                object_id=consultation.pk,
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PatientChange)
class PatientChangeAdmin(FiltersAsOffered, admin.ModelAdmin):
    """Read-only: every change of a patient's details, the patient's page
    showing the latest."""

    list_display = ["at", "patient", "who", "what"]
    list_select_related = ["patient", "by"]
    search_fields = ["patient__last_name", "patient__first_name"]
    date_hierarchy = "at"
    fields = ["patient", "at", "who", "how", "in_full"]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("by"))
    def who(self, change: PatientChange) -> str:
        if change.by is None:
            return change.how
        return change.by.get_full_name() or change.by.get_username()

    @admin.display(description=gettext_lazy("what changed"))
    def what(self, change: PatientChange) -> str:
        return ", ".join(str(item["label"]) for item in change.changes)

    @admin.display(description=gettext_lazy("before and after"))
    def in_full(self, change: PatientChange) -> str:
        return format_html_join(
            mark_safe("<br>"),  # noqa: S308 - a constant
            "{}: “{}” → “{}”",
            (
                (str(item["label"]).capitalize(), item["before"], item["after"])
                for item in change.changes
            ),
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
