"""Sign-in pauses in the settings (django-axes' records, registered here rather
than by axes: AXES_ENABLE_ADMIN is off). A manager lifts a colleague's pause
one account at a time; a superuser's is lifted by a superuser only, so that an
attack on the strongest account isn't let through with everyone else's."""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.shortcuts import redirect
from django.utils.translation import gettext as _


@admin.register(AccessAttempt)
class SignInPauseAdmin(AccessAttemptAdmin):
    # Axes' "clean up expired attempts" fails outside a sign-in request (it
    # reads the request's attempt time); pauses expire by themselves anyway.
    actions = []
    # What a manager needs to tell a colleague's pause from an attack: who,
    # from where, how many tries, when. Not the form data axes keeps (the
    # page's security token, masked values), nor the path of the sign-in page.
    list_display = [
        "username",
        "ip_address",
        "failures_since_start",
        "attempt_time",
        "user_agent",
    ]
    list_filter = ["attempt_time"]
    search_fields = ["username", "ip_address"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "username",
                    "failures_since_start",
                    "attempt_time",
                    "ip_address",
                    "user_agent",
                )
            },
        ),
    )

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            # One at a time, each seen before it is lifted.
            actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj) -> None:
        request.lifted_for = obj.username
        super().delete_model(request, obj)

    def response_delete(self, request, obj_display, obj_id):
        # Back to the list, in words (not "The access attempt "Attempted
        # Access: 2026-..." was deleted successfully").
        self.message_user(
            request,
            _("The sign-in pause of %(username)s is lifted: they can sign in again.")
            % {"username": getattr(request, "lifted_for", obj_display)},
            messages.SUCCESS,
        )
        return redirect("admin:axes_accessattempt_changelist")

    def has_delete_permission(self, request, obj=None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        if obj is None or request.user.is_superuser:
            return True
        return not User.objects.filter(
            username__iexact=obj.username, is_superuser=True
        ).exists()


admin.site.register(AccessLog, AccessLogAdmin)
admin.site.register(AccessFailureLog, AccessFailureLogAdmin)
