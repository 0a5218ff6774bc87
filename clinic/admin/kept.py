"""Settings rows whose deletion is refused, said in words on their page."""

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.urls import reverse


class RefusesDeletionInWords:
    """A deletion refused goes back to the row's page saying why (from an old
    link, a typed address, or a page opened before what refuses it), rather
    than a bare "not allowed". The admin using it says why in
    ``why_not_delete(obj)`` ("" when it may go)."""

    def tells_why(self, request, obj) -> bool:
        """Whether this user is told why (all who reach the page, here)."""
        return True

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        why = self.why_not_delete(obj) if obj is not None else ""
        if why and self.tells_why(request, obj):
            self.message_user(request, why, messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(
                reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]
                )
            )
        return super().delete_view(request, object_id, extra_context)


class KeptForItsHistory(RefusesDeletionInWords):
    """A row that appointments or plans refer to stays: its page has no delete
    link either, and only those who may delete such rows are told why."""

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and self.why_not_delete(obj):
            return False
        return super().has_delete_permission(request, obj)

    def tells_why(self, request, obj) -> bool:
        # The others are not told more than "not allowed".
        return super().has_delete_permission(request)
