from collections import defaultdict
from collections.abc import Iterable
from datetime import time
from itertools import pairwise

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import ReadOnlyPasswordHashWidget
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinic import roles, services
from clinic.forms import PatientForm, clean_person_name
from clinic.models import (
    Appointment,
    ClosureDay,
    Consultation,
    OpeningHours,
    Patient,
    Practitioner,
    Room,
    TimeOff,
    Weekday,
    WorkingHours,
    bookings_newly_outside,
    stranded_error,
    validate_person_name,
)
from clinic.scheduling import when_text

admin.site.site_header = "Clinic settings"
admin.site.site_title = "Clinic settings"
admin.site.index_title = "Configure the clinic"


admin.site.unregister(User)

PASSWORD_SET_ELSEWHERE = (
    "Only the account's owner, or a superuser, can set this password."
)


def may_set_password(user, account: User) -> bool:
    # Whoever knows someone's password signs records or books in their name,
    # and roles can be switched back and forth: managers set only their own.
    # A new account gets its first password on the add form.
    return user.is_superuser or account.pk == user.pk


class PasswordSetElsewhereWidget(ReadOnlyPasswordHashWidget):
    """The password field without its reset button, which would lead to a
    refusal."""

    def render(self, name, value, attrs=None, renderer=None) -> str:
        return format_html("<p>{}</p>", PASSWORD_SET_ELSEWHERE)


@admin.register(User)
class StaffAccountAdmin(UserAdmin):
    """Managers run staff accounts through the roles (groups) only: who is a
    superuser, and permissions outside the roles, stay with superusers, and a
    manager can't take over a superuser's account."""

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        hidden = {"is_superuser", "user_permissions"}
        return [
            (
                name,
                {
                    **options,
                    "fields": [f for f in options["fields"] if f not in hidden],
                },
            )
            for name, options in fieldsets
        ]

    def get_list_filter(self, request):
        if request.user.is_superuser:
            return super().get_list_filter(request)
        return ("is_staff", "is_active", "groups")

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        account = self.get_object(request, unquote(id))
        if account is not None and not may_set_password(request.user, account):
            raise PermissionDenied(PASSWORD_SET_ELSEWHERE)
        return super().user_change_password(request, id, form_url)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            return form

        class StaffAccountForm(form):
            def clean_username(self) -> str:
                username = self.cleaned_data["username"]
                if (
                    User.objects.filter(username__iexact=username)
                    .exclude(pk=self.instance.pk)
                    .exists()
                ):
                    raise forms.ValidationError(
                        _("Another account has this username in other letters.")
                    )
                return username

            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                password = self.fields.get("password")
                if password and not may_set_password(request.user, obj):
                    password.widget = PasswordSetElsewhereWidget()
                    password.help_text = ""

            def clean_is_active(self) -> bool:
                active = self.cleaned_data["is_active"]
                practitioner = Practitioner.objects.filter(user=self.instance).first()
                if not active and self.instance.is_active and practitioner:
                    _StillBookedForm.refuse_if_booked(practitioner, "practitioner")
                return active

        return StaffAccountForm

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        obj._was_manager = change and obj.groups.filter(name=roles.MANAGER).exists()
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        # Settings open to managers: giving the role opens them, without a
        # separate tick that is easy to forget; taking it away closes them.
        super().save_related(request, form, formsets, change)
        account = form.instance
        manager = account.groups.filter(name=roles.MANAGER).exists()
        if manager and not account.is_staff:
            account.is_staff = True
        elif account._was_manager and not manager and not account.is_superuser:
            account.is_staff = False
        else:
            return
        account.save(update_fields=["is_staff"])


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    # The same names, checks and duplicate question as the front desk's form,
    # and the same services: a registration waits for any other, and a change
    # is refused when someone saved the details since the page was opened.
    form = PatientForm
    list_display = ["last_name", "first_name", "date_of_birth", "email", "phone"]
    search_fields = ["last_name", "first_name", "email", "phone"]
    list_filter = ["email_consent", "skin_type", "preferred_contact"]

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


class _StillBookedForm(forms.ModelForm):
    """Taking a room or a practitioner out of use strands their future bookings:
    those are moved first."""

    booked_field: str

    def clean_is_active(self) -> bool:
        active = self.cleaned_data["is_active"]
        if active or self.instance.pk is None or not self.instance.is_active:
            return active
        self.refuse_if_booked(self.instance, self.booked_field)
        return active

    @staticmethod
    def refuse_if_booked(instance, booked_field: str) -> None:
        if booked_field == "room":
            services.hold_calendars(practitioner_ids=[], room_ids=[instance.pk])
        else:
            services.hold_calendars(practitioner_ids=[instance.pk])
        upcoming = Appointment.objects.active().filter(
            **{booked_field: instance}, start__gte=timezone.now()
        )
        count = upcoming.count()
        if count:
            first = upcoming.order_by("start").first()
            raise forms.ValidationError(
                ngettext(
                    "%(name)s still has %(n)s booking, on %(when)s: move or "
                    "cancel it first.",
                    "%(name)s still has %(n)s bookings, the first on %(when)s: "
                    "move or cancel them first.",
                    count,
                )
                % {
                    "name": instance,
                    "n": count,
                    "when": when_text(first.start),
                }
            )


class RoomForm(_StillBookedForm):
    booked_field = "room"

    class Meta:
        model = Room
        fields = ["name", "is_active"]

    def clean_name(self) -> str:
        """One spelling, readable, and not another room's name in other letters
        (case, full-width, spaces, "ß" for "ss"): the front desk picks rooms by
        name from a list."""
        name = clean_person_name(self.cleaned_data["name"])
        validate_person_name(name)
        same = next(
            (
                room
                for room in Room.objects.exclude(pk=self.instance.pk)
                if clean_person_name(room.name).casefold() == name.casefold()
            ),
            None,
        )
        if same is not None:
            raise forms.ValidationError(
                _("%(room)s has this name already.") % {"room": same}
            )
        return name


class PractitionerForm(_StillBookedForm):
    booked_field = "practitioner"

    class Meta:
        model = Practitioner
        fields = ["user", "title", "is_active"]


# Hours are blocks of a weekday (several a day allowed). A change is refused
# when blocks would overlap, or when it would leave upcoming bookings outside
# the day's blocks; bookings outside before the change are not held against it.

Blocks = dict[int, list[tuple[time, time]]]


def _blocks(rows: Iterable[tuple[int, time, time]]) -> Blocks:
    blocks: Blocks = defaultdict(list)
    for weekday, start, end in rows:
        blocks[weekday].append((start, end))
    return blocks


def check_hours_change(
    before: Blocks, after: Blocks, what: str, *, practitioner_id: int | None = None
) -> None:
    services.hold_calendars(
        practitioner_ids=None if practitioner_id is None else [practitioner_id]
    )
    for weekday, day in after.items():
        ordered = sorted(day)
        for (_s, first_end), (second_start, _e) in pairwise(ordered):
            if second_start < first_end:
                raise forms.ValidationError(
                    _("Two blocks of %(day)s overlap: make them follow each other.")
                    % {"day": Weekday(weekday).label}
                )
    for weekday in sorted(set(before) | set(after)):
        stranded = bookings_newly_outside(
            weekday,
            before.get(weekday, []),
            after.get(weekday, []),
            practitioner_id=practitioner_id,
        )
        if stranded:
            raise stranded_error(stranded, what)


def _after_one_change(before: Blocks, old, new) -> Blocks:
    """The week's blocks once ``old`` (a stored row or None) becomes ``new``
    (a (weekday, start, end) or None for a deletion)."""
    after = {weekday: list(day) for weekday, day in before.items()}
    if old is not None:
        after[old[0]].remove((old[1], old[2]))
    if new is not None:
        after.setdefault(new[0], []).append((new[1], new[2]))
    return after


class OpeningHoursForm(forms.ModelForm):
    class Meta:
        model = OpeningHours
        fields = ["weekday", "opens", "closes"]

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        rows = OpeningHours.objects.values_list("weekday", "opens", "closes")
        before = _blocks(rows)
        old = rows.filter(pk=self.instance.pk).first() if self.instance.pk else None
        after = _after_one_change(
            before, old, (data["weekday"], data["opens"], data["closes"])
        )
        check_hours_change(before, after, _("This change to opening hours"))
        return data


class WorkingHoursForm(forms.ModelForm):
    class Meta:
        model = WorkingHours
        fields = ["practitioner", "weekday", "start", "end"]

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        practitioner = data["practitioner"]
        rows = WorkingHours.objects.filter(practitioner=practitioner).values_list(
            "weekday", "start", "end"
        )
        before = _blocks(rows)
        old = rows.filter(pk=self.instance.pk).first() if self.instance.pk else None
        after = _after_one_change(
            before, old, (data["weekday"], data["start"], data["end"])
        )
        check_hours_change(
            before,
            after,
            _("This change to the working hours"),
            practitioner_id=practitioner.pk,
        )
        return data


class WorkingHoursFormSet(forms.BaseInlineFormSet):
    """A practitioner's week as edited on their page: checked as a whole, so a
    boundary between two blocks can move in one save, and a deletion counts."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors) or self.instance.pk is None:
            return
        before = _blocks(
            WorkingHours.objects.filter(practitioner=self.instance).values_list(
                "weekday", "start", "end"
            )
        )
        after = _blocks(
            (
                form.cleaned_data["weekday"],
                form.cleaned_data["start"],
                form.cleaned_data["end"],
            )
            for form in self.forms
            if form.cleaned_data
            and not self._should_delete_form(form)
            and form.cleaned_data.get("weekday") is not None
        )
        check_hours_change(
            before,
            after,
            _("This change to the working hours"),
            practitioner_id=self.instance.pk,
        )


def _may_delete_block(obj, rows, **owner) -> bool:
    """Could the stored block ``obj`` (``rows``: the week's) go without leaving
    bookings outside? (The admin may hand over an edited, unsaved copy.)"""
    old = rows.filter(pk=obj.pk).first()
    if old is None:
        return True
    before = _blocks(rows)
    try:
        check_hours_change(before, _after_one_change(before, old, None), "", **owner)
    except forms.ValidationError:
        return False
    return True


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    formset = WorkingHoursFormSet
    extra = 0


class TimeOffInline(admin.TabularInline):
    model = TimeOff
    extra = 0


@admin.register(Practitioner)
class PractitionerAdmin(admin.ModelAdmin):
    form = PractitionerForm
    list_display = ["display_name", "title", "is_active"]
    list_filter = ["title", "is_active"]
    search_fields = ["user__first_name", "user__last_name", "user__username"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    inlines = [WorkingHoursInline, TimeOffInline]


@admin.register(WorkingHours)
class WorkingHoursAdmin(admin.ModelAdmin):
    form = WorkingHoursForm
    list_display = ["practitioner", "weekday", "start", "end"]
    # Blocks are deleted one at a time, each checked against the bookings.
    actions = None

    def has_delete_permission(self, request, obj=None) -> bool:
        # Bookings in the block are moved or cancelled first.
        if obj is not None and not _may_delete_block(
            obj,
            WorkingHours.objects.filter(
                practitioner_id=obj.practitioner_id
            ).values_list("weekday", "start", "end"),
            practitioner_id=obj.practitioner_id,
        ):
            return False
        return super().has_delete_permission(request, obj)

    list_filter = ["weekday", "practitioner"]
    list_select_related = ["practitioner__user"]


@admin.register(TimeOff)
class TimeOffAdmin(admin.ModelAdmin):
    list_display = ["practitioner", "start", "end", "reason"]
    list_filter = ["practitioner"]
    list_select_related = ["practitioner__user"]
    date_hierarchy = "start"


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    form = RoomForm
    list_display = ["name", "is_active"]


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    form = OpeningHoursForm
    list_display = ["weekday", "opens", "closes"]
    # Blocks are deleted one at a time, each checked against the bookings.
    actions = None

    def has_delete_permission(self, request, obj=None) -> bool:
        # Bookings in the block are moved or cancelled first.
        if obj is not None and not _may_delete_block(
            obj,
            OpeningHours.objects.values_list("weekday", "opens", "closes"),
        ):
            return False
        return super().has_delete_permission(request, obj)


@admin.register(ClosureDay)
class ClosureDayAdmin(admin.ModelAdmin):
    list_display = ["date", "reason"]
    date_hierarchy = "date"


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Cancel instead: the history of a patient's appointments is kept.
        return False


@admin.register(Consultation)
class ConsultationAdmin(admin.ModelAdmin):
    """Read-only: consultations are recorded by practitioners on their pages."""

    list_display = ["patient", "appointment", "decision", "decided_by"]
    list_filter = ["decision"]
    list_select_related = ["patient", "appointment__patient", "decided_by"]
    search_fields = ["patient__last_name", "patient__first_name"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [f.name for f in Consultation._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The screening is clinical: reading it here is logged as on its page.
        consultation = self.get_object(request, unquote(object_id))
        if consultation is not None and self.has_view_permission(request, consultation):
            services.log_clinical_access(
                user=request.user,
                patient=consultation.patient,
                what="consultation (admin)",
                object_id=consultation.pk,
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
