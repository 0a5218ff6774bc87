from django import forms
from django.contrib import admin, messages
from django.db.models import Case, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext

from aftercare import services
from aftercare.models import (
    AFTERCARE,
    ONLY_IN,
    PLACEHOLDERS,
    TRANSACTIONAL,
    Kind,
    Reminder,
    ReminderRule,
    placeholders_for,
)
from clinic.admin.lookups import FiltersAsOffered
from clinic.admin.stale import RefusesStaleEdits, ShowsSavedValues

SENDING_ORDER = list(Kind)


def duration_text(minutes: int) -> str:
    """1440 -> "1 day", 720 -> "12 h", 90 -> "90 min"."""
    if minutes and minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if minutes and minutes % 60 == 0:
        return _("%(n)d h") % {"n": minutes // 60}
    return _("%(n)d min") % {"n": minutes}


def offset_text(rule: ReminderRule) -> str:
    """When a rule's email goes out, in words: "5 days before the start"."""
    if rule.kind in TRANSACTIONAL:
        return _("as soon as the booking changes")
    if rule.kind in AFTERCARE:
        if rule.offset_minutes == 0:
            return _("when the session is signed")
        return _("%(time)s after the end") % {
            "time": duration_text(rule.offset_minutes)
        }
    if rule.offset_minutes == 0:
        return _("at the start")
    return _("%(time)s before the start") % {
        "time": duration_text(-rule.offset_minutes)
    }


class TypedTextField(forms.CharField):
    """Text from a browser's box, whose lines end in CRLF, with the LF line
    ends it is stored and seeded with: the same words are then no change."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n").replace("\r", "\n") if value else value


STALENESS_RANGE = _lazy("Give a number of minutes from 10 to 43200 (30 days).")


class ReminderRuleForm(forms.ModelForm):
    class Meta:
        model = ReminderRule
        fields = ["enabled", "offset_minutes", "staleness_minutes", "subject", "body"]
        field_classes = {"subject": TypedTextField, "body": TypedTextField}
        # One message for any number outside the range, below zero included
        # (the positive integer column alone would say "at least 0" for those).
        error_messages = {
            "staleness_minutes": dict.fromkeys(
                ("required", "min_value", "max_value"), STALENESS_RANGE
            )
            | {"invalid": _lazy("Give whole minutes: 10 to 43200.")}
        }


@admin.register(ReminderRule)
class ReminderRuleAdmin(ShowsSavedValues, RefusesStaleEdits, admin.ModelAdmin):
    """Managers edit when each email goes out, whether it does, and its words."""

    form = ReminderRuleForm

    # Switched on and off on each rule's page, which refuses a save from a page
    # opened before a colleague's: ticks on the list would silently put a
    # colleague's change back.
    list_display = ["kind", "enabled", "when", "late_by", "subject"]
    readonly_fields = ["kind"]

    def get_ordering(self, request):
        # In the order they go out: booking emails, before, after.
        return [
            Case(
                *(When(kind=kind, then=n) for n, kind in enumerate(SENDING_ORDER)),
                default=len(SENDING_ORDER),
            ).asc()
        ]

    @admin.display(description=_("when"), ordering="offset_minutes")
    def when(self, rule: ReminderRule) -> str:
        return offset_text(rule)

    @admin.display(
        description=_("still worth sending up to"), ordering="staleness_minutes"
    )
    def late_by(self, rule: ReminderRule) -> str:
        return _("%(time)s late") % {"time": duration_text(rule.staleness_minutes)}

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        # What the email fills in, said before a wrong one is refused.
        names = placeholders_for(obj.kind) if obj is not None else PLACEHOLDERS
        for field, offered in (
            # The sentences go in the text only.
            ("subject", [name for name in names if name not in ONLY_IN]),
            ("body", names),
        ):
            if field in form.base_fields:
                form.base_fields[field].help_text = _(
                    "Filled in for each patient: %(names)s. Write {{ and }} for a "
                    "brace."
                ) % {"names": ", ".join(f"{{{name}}}" for name in offered)}
        if obj is not None and "offset_minutes" in form.base_fields:
            # The minutes in words, as the list says them.
            field = form.base_fields["offset_minutes"]
            field.help_text = " ".join(
                [
                    _("Saved now: %(when)s.") % {"when": offset_text(obj)},
                    _("60 minutes an hour, 1440 a day."),
                    str(ReminderRule._meta.get_field("offset_minutes").help_text),
                ]
            )
        return form

    def save_model(self, request, obj, form, change) -> None:
        # The rule and its emails' new times are saved together.
        retimed = services.save_rule(obj, now=timezone.now())
        if (
            change
            and "offset_minutes" in form.changed_data
            and not ({"subject", "body"} & set(form.changed_data))
        ):
            # "It has been 12 hours since your session" would now be wrong.
            self.message_user(
                request,
                _(
                    "Its time changed but not its words: if the subject or text "
                    "names the time (\u201c12 hours\u201d, \u201c5 days\u201d), "
                    "change them to match."
                ),
                messages.WARNING,
            )
        if retimed.planned:
            self.message_user(
                request,
                ngettext(
                    "%(count)d appointment booked or moved while this email was "
                    "off now has one planned.",
                    "%(count)d appointments booked or moved while this email was "
                    "off now have one planned.",
                    retimed.planned,
                )
                % {"count": retimed.planned},
                messages.INFO,
            )
        if not retimed.count:
            return
        message = ngettext(
            "%(count)d planned email of this kind now goes out at the new time.",
            "%(count)d planned emails of this kind now go out at the new time.",
            retimed.count,
        ) % {"count": retimed.count}
        if retimed.due_now:
            # The manager should know: a typing slip sends these at once.
            message += " " + ngettext(
                "%(count)d of them is due now: its new time has passed.",
                "%(count)d of them are due now: their new time has passed.",
                retimed.due_now,
            ) % {"count": retimed.due_now}
        if not obj.enabled:
            message += " " + _(
                "This email is switched off: they are held until it is on again."
            )
        self.message_user(request, message, messages.INFO)


@admin.register(Reminder)
class ReminderAdmin(FiltersAsOffered, admin.ModelAdmin):
    """Read-only: the outbox pages resend and cancel."""

    list_display = ["due_at", "kind", "patient", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["patient"]
    search_fields = ["patient__last_name", "patient__email"]
    date_hierarchy = "due_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
