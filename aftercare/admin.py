from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from aftercare import services
from aftercare.models import Reminder, ReminderRule


@admin.register(ReminderRule)
class ReminderRuleAdmin(admin.ModelAdmin):
    """Managers edit when each email goes out, whether it does, and its words."""

    list_display = ["kind", "enabled", "offset_minutes", "staleness_minutes", "subject"]
    list_editable = ["enabled"]
    readonly_fields = ["kind"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # The rule and its emails' new times are saved together.
        retimed = services.save_rule(obj, now=timezone.now())
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
class ReminderAdmin(admin.ModelAdmin):
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
