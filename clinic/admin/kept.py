"""Settings rows whose history keeps them: refused deletion, said in words."""

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.urls import reverse


class KeptForItsHistory:
    """A row that appointments or plans refer to stays: its page has no delete
    link, and its delete page (from an old link, or typed) goes back to its
    page saying why, instead of a bare "not allowed". The admin using it says
    why in ``why_kept(obj)`` ("" when it may be deleted)."""

    def why_kept(self, obj) -> str:
        raise NotImplementedError

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and self.why_kept(obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        # Only to those who may delete such rows: the others are not told more.
        why = self.why_kept(obj) if obj is not None else ""
        if why and super().has_delete_permission(request, obj):
            self.message_user(request, why, messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(
                reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]
                )
            )
        return super().delete_view(request, object_id, extra_context)
