"""The clinic's calendar settings: rooms, practitioners, their working hours and
time off, opening hours and closures. A change that would strand bookings is
refused, and holds the calendars it checks until it is saved."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import time
from itertools import combinations, pairwise

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext

from clinic import roles, services
from clinic.admin.kept import KeptForItsHistory, RefusesDeletionInWords
from clinic.admin.stale import ShowsSavedValues
from clinic.forms import HiddenErrorsShown, clean_person_name
from clinic.forms.fields import LocalSplitDateTimeField
from clinic.models import (
    Appointment,
    ClosureDay,
    OpeningHours,
    Practitioner,
    Room,
    TimeOff,
    Weekday,
    WorkingHours,
    bookings_newly_outside,
    stranded_error,
    validate_readable_name,
    working_outside_opening,
)
from clinic.scheduling import when_text


class StillBookedForm(forms.ModelForm):
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
        # Under way counts too: a booking that hasn't ended still needs them.
        # One completed early, before its booked end, needs nothing more.
        upcoming = Appointment.objects.filter(
            **{booked_field: instance},
            status__in=Appointment.OPEN_STATUSES,
            end__gt=timezone.now(),
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


class RoomForm(StillBookedForm):
    booked_field = "room"

    class Meta:
        model = Room
        fields = ["name", "is_active"]

    def clean_name(self) -> str:
        """The front desk picks rooms by name from a list (list_name)."""
        return list_name(self.cleaned_data["name"], Room, self.instance)


def list_name(typed: str, model, instance) -> str:
    """A name picked from a list (a room, a protocol): one spelling, readable,
    and not another's name in other letters (case, full-width, spaces, "ß" for
    "ss", invisible characters)."""
    name = clean_person_name(typed)
    validate_readable_name(name)
    same = next(
        (
            other
            for other in model.objects.exclude(pk=instance.pk)
            if clean_person_name(other.name).casefold() == name.casefold()
        ),
        None,
    )
    if same is not None:
        raise forms.ValidationError(
            _("%(name)s has this name already.") % {"name": same}
        )
    return name


class PractitionerForm(StillBookedForm):
    booked_field = "practitioner"

    class Meta:
        model = Practitioner
        fields = ["user", "title", "is_active"]

    def clean(self):
        data = super().clean()
        user = data.get("user") or getattr(self.instance, "user", None)
        if data.get("is_active") and user is not None:
            # Nobody could record what is booked with them.
            if not user.is_active or not roles.has_role(user, roles.PRACTITIONER):
                self.add_error(
                    "is_active",
                    _(
                        "%(name)s's account is inactive or has no Practitioner "
                        "role: give the account the role before they take "
                        "bookings."
                    )
                    % {"name": user.get_full_name() or user.get_username()},
                )
        return data

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        user = self.fields["user"]
        if self.instance.pk is not None:
            # Their bookings, records and signatures are in this account's
            # name: handing it to someone else would rewrite who did them.
            user.disabled = True
            user.help_text = _(
                "A practitioner keeps their account. For someone else, add a "
                "practitioner of their own."
            )
            return
        user.queryset = (
            User.objects.filter(
                groups__name=roles.PRACTITIONER,
                is_active=True,
                practitioner__isnull=True,
            )
            .distinct()
            .order_by("last_name", "first_name", "username")
        )
        user.help_text = _(
            "Active staff accounts with the Practitioner role that are no "
            "practitioner yet."
        )
        user.error_messages["invalid_choice"] = _(
            "Pick an account from the list: one with the Practitioner role that "
            "is no practitioner yet."
        )


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
    if any(end <= start for day in after.values() for start, end in day):
        # The block's own check (the model's constraint) says it ends before
        # it starts; checked further, it would also "leave" the day's bookings
        # outside, and that would send the manager to move them.
        return
    refuse_overlaps(after)
    for weekday in sorted(set(before) | set(after)):
        stranded = bookings_newly_outside(
            weekday,
            before.get(weekday, []),
            after.get(weekday, []),
            practitioner_id=practitioner_id,
        )
        if stranded:
            raise stranded_error(stranded, what)


def refuse_overlaps(blocks: Blocks) -> None:
    for weekday, day in blocks.items():
        for (_s, first_end), (second_start, _e) in pairwise(sorted(day)):
            if second_start < first_end:
                raise forms.ValidationError(
                    _("Two blocks of %(day)s overlap: make them follow each other.")
                    % {"day": Weekday(weekday).label}
                )


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

    # Other blocks of the day the saved one takes in whole (09:00-13:00 made
    # 09:00-18:00 over 13:00-18:00): joined into it, deleted with its save.
    absorbed: list[OpeningHours]

    def clean(self) -> dict:
        data = super().clean()
        self.absorbed = []
        if self.errors:
            return data
        rows = OpeningHours.objects.values_list("weekday", "opens", "closes")
        before = _blocks(rows)
        old = rows.filter(pk=self.instance.pk).first() if self.instance.pk else None
        new = (data["weekday"], data["opens"], data["closes"])
        after = _after_one_change(before, old, new)
        self.absorbed = list(
            OpeningHours.objects.filter(
                weekday=new[0], opens__gte=new[1], closes__lte=new[2]
            ).exclude(pk=self.instance.pk)
        )
        for block in self.absorbed:
            after[block.weekday].remove((block.opens, block.closes))
        check_hours_change(before, after, _("This change to opening hours"))
        return data


class WorkingHoursForm(forms.ModelForm):
    class Meta:
        model = WorkingHours
        fields = ["practitioner", "weekday", "start", "end"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            # A block stays its practitioner's: handing it to another would
            # take hours from under the first one's bookings unchecked.
            self.fields["practitioner"].disabled = True
            self.fields["practitioner"].help_text = _(
                "To give another practitioner these hours, add a block for them."
            )

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
        if any(self.errors):
            return
        typed = [
            (
                form.cleaned_data["weekday"],
                form.cleaned_data["start"],
                form.cleaned_data["end"],
            )
            for form in self.forms
            if form.cleaned_data
            and not self._should_delete_form(form)
            and form.cleaned_data.get("weekday") is not None
        ]
        if self.instance.pk is None:
            # A new practitioner: no bookings to leave outside their hours.
            refuse_overlaps(_blocks(typed))
            return
        stored = WorkingHours.objects.filter(practitioner=self.instance)
        before = _blocks(stored.values_list("weekday", "start", "end"))
        # Blocks the page didn't show (a colleague's, added since it was
        # opened) stay as they are: they count in the week too.
        shown = {form.instance.pk for form in self.forms if form.instance.pk}
        after = _blocks(
            [
                *stored.exclude(pk__in=shown).values_list("weekday", "start", "end"),
                *typed,
            ]
        )
        check_hours_change(
            before,
            after,
            _("This change to the working hours"),
            practitioner_id=self.instance.pk,
        )


def _why_not_delete_block(obj, rows, what: str, **owner) -> str:
    """Why the stored block ``obj`` (``rows``: the week's) can't go: the
    bookings it would leave outside, in words ("" when it can). The admin may
    hand over an edited, unsaved copy."""
    old = rows.filter(pk=obj.pk).first()
    if old is None:
        return ""
    before = _blocks(rows)
    try:
        check_hours_change(before, _after_one_change(before, old, None), what, **owner)
    except forms.ValidationError as error:
        return " ".join(error.messages)
    return ""


class ClosureDayForm(forms.ModelForm):
    class Meta:
        model = ClosureDay
        fields = ["date", "reason"]
        error_messages = {
            "date": {
                "unique": _lazy(
                    "The clinic is closed on that day already: change that "
                    "closure's reason instead."
                )
            }
        }


class PageRowForm(HiddenErrorsShown, forms.ModelForm):
    """A row of the practitioner's page: its hidden values (whose row it is)
    changed on their way are said in words above the row, not only as "please
    correct the errors below" with none shown."""


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    form = PageRowForm
    formset = WorkingHoursFormSet
    extra = 0


# Time off is typed in the clinic's zone: the night the clocks change is
# refused in words, not with the zone database's name.
LOCAL_DATETIMES = {models.DateTimeField: {"form_class": LocalSplitDateTimeField}}


class TimeOffFormSet(forms.BaseInlineFormSet):
    """Each row is checked against the time off saved already (TimeOff.clean),
    but for the rows deleted in the same save; the rows sent together are
    checked against each other here."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.instance.deleted_alongside = self._deleted_ids()
        return form

    def _deleted_ids(self) -> set[int]:
        if not self.is_bound:
            return set()
        deleted = set()
        for n in range(self.total_form_count()):
            prefix = self.add_prefix(n)
            pk = self.data.get(f"{prefix}-id", "")
            if self.data.get(f"{prefix}-DELETE") and pk.isdigit():
                deleted.add(int(pk))
        return deleted

    def clean(self) -> None:
        super().clean()
        spans = sorted(
            (
                form.cleaned_data["start"],
                form.cleaned_data["end"],
                # Typed now: rows kept from before the rule stay as they are.
                form.instance.pk is None or form.has_changed(),
            )
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("start")
            and form.cleaned_data.get("end")
        )
        for (start, end, typed), (next_start, next_end, next_typed) in combinations(
            spans, 2
        ):
            if (typed or next_typed) and next_start < end:
                raise forms.ValidationError(
                    _(
                        "Two rows of time off overlap: from %(start)s until "
                        "%(end)s, and from %(next_start)s until %(next_end)s. "
                        "Make them one."
                    )
                    % {
                        "start": when_text(start),
                        "end": when_text(end),
                        "next_start": when_text(next_start),
                        "next_end": when_text(next_end),
                    }
                )


class TimeOffInline(admin.TabularInline):
    model = TimeOff
    form = PageRowForm
    formset = TimeOffFormSet
    extra = 0
    formfield_overrides = LOCAL_DATETIMES


@admin.register(Practitioner)
class PractitionerAdmin(ShowsSavedValues, KeptForItsHistory, admin.ModelAdmin):
    form = PractitionerForm
    list_display = ["display_name", "title", "is_active"]
    list_filter = ["title", "is_active"]
    search_fields = ["user__first_name", "user__last_name", "user__username"]
    list_select_related = ["user"]
    inlines = [WorkingHoursInline, TimeOffInline]

    # Deleted one at a time, where the page can say that one with a history
    # can't be (the bulk action would promise more).
    actions = None

    def why_not_delete(self, practitioner: Practitioner) -> str:
        if not practitioner.appointments.exists():
            return ""
        return _(
            "%(name)s has appointments in the clinic's history, so they can't be "
            "deleted: untick “takes bookings” instead."
        ) % {"name": practitioner}

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        warn_of_hours_outside_opening(self, request, form.instance)


@admin.register(WorkingHours)
class WorkingHoursAdmin(ShowsSavedValues, RefusesDeletionInWords, admin.ModelAdmin):
    form = WorkingHoursForm
    list_display = ["practitioner", "weekday", "start", "end"]
    # Blocks are deleted one at a time, each checked against the bookings.
    actions = None

    def why_not_delete(self, obj) -> str:
        return _why_not_delete_block(
            obj,
            WorkingHours.objects.filter(
                practitioner_id=obj.practitioner_id
            ).values_list("weekday", "start", "end"),
            _("Deleting these working hours"),
            practitioner_id=obj.practitioner_id,
        )

    list_filter = ["weekday", "practitioner"]
    list_select_related = ["practitioner__user"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        warn_of_hours_outside_opening(self, request, obj.practitioner)


def warn_of_hours_outside_opening(
    model_admin: admin.ModelAdmin, request, practitioner: Practitioner
) -> None:
    outside = working_outside_opening(practitioner)
    if outside:
        model_admin.message_user(
            request,
            _(
                "%(name)s works outside the clinic's opening hours: %(blocks)s. "
                "Nothing can be booked with them then unless a manager books it "
                "with a reason."
            )
            % {"name": practitioner, "blocks": "; ".join(outside)},
            messages.WARNING,
        )


@admin.register(TimeOff)
class TimeOffAdmin(ShowsSavedValues, admin.ModelAdmin):
    formfield_overrides = LOCAL_DATETIMES
    list_display = ["practitioner", "start", "end", "reason"]
    list_filter = ["practitioner"]
    list_select_related = ["practitioner__user"]
    date_hierarchy = "start"


@admin.register(Room)
class RoomAdmin(ShowsSavedValues, KeptForItsHistory, admin.ModelAdmin):
    form = RoomForm
    list_display = ["name", "is_active"]

    actions = None  # One at a time, as practitioners.

    def why_not_delete(self, room: Room) -> str:
        if not room.appointments.exists():
            return ""
        return _(
            "%(name)s has appointments in the clinic's history, so it can't be "
            "deleted: untick “in use” instead."
        ) % {"name": room}


@admin.register(OpeningHours)
class OpeningHoursAdmin(ShowsSavedValues, RefusesDeletionInWords, admin.ModelAdmin):
    form = OpeningHoursForm
    list_display = ["weekday", "opens", "closes"]
    # Blocks are deleted one at a time, each checked against the bookings.
    actions = None

    def why_not_delete(self, obj) -> str:
        return _why_not_delete_block(
            obj,
            OpeningHours.objects.values_list("weekday", "opens", "closes"),
            _("Deleting these opening hours"),
        )

    def save_model(self, request, obj, form, change) -> None:
        for block in form.absorbed:
            # In the save's transaction, checked with it (OpeningHoursForm).
            block.delete()
            self.message_user(
                request,
                _("%(block)s is joined into this block.") % {"block": block},
                messages.INFO,
            )
        super().save_model(request, obj, form, change)
        self._warn_of_working_hours_outside(request)

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        self._warn_of_working_hours_outside(request)

    def _warn_of_working_hours_outside(self, request) -> None:
        """Shorter opening hours leave practitioners working outside them: said
        when the hours change, not only when a practitioner is next saved."""
        for practitioner in Practitioner.objects.filter(is_active=True).select_related(
            "user"
        ):
            warn_of_hours_outside_opening(self, request, practitioner)


@admin.register(ClosureDay)
class ClosureDayAdmin(ShowsSavedValues, admin.ModelAdmin):
    form = ClosureDayForm
    list_display = ["date", "reason"]
    date_hierarchy = "date"
