"""Settings pages that remember what they showed: a save made after a colleague
saved the same row (another tab, another desk) is refused in words instead of
silently putting the colleague's change back."""

from django import forms
from django.db import models
from django.utils.translation import gettext as _

from clinic.forms.fields import CHANGED_ON_ITS_WAY
from clinic.services.stale import seen_stamp

STALE = (
    "Someone saved this while your page was open, so your change was not saved: "
    "open it again to see what is saved now, then make your change."
)


def fingerprint(instance: models.Model) -> str:
    """What the change page remembers of the row: every stored value."""
    return seen_stamp(
        instance,
        [f.attname for f in instance._meta.concrete_fields if not f.primary_key],
    )


class RefusesStaleEdits:
    """ModelAdmin mixin: the change form carries the fingerprint of the row it
    showed, and its save is refused when the stored row is another by then."""

    def get_form(self, request, obj=None, **kwargs):
        # The admin lists the form's fields back to it: "seen" is ours.
        if kwargs.get("fields"):
            kwargs["fields"] = [f for f in kwargs["fields"] if f != "seen"]
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            return form

        class StaleCheckedForm(form):
            seen = forms.CharField(widget=forms.HiddenInput, required=False)

            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                self.fields["seen"].initial = fingerprint(self.instance)

            def clean(self):
                data = super().clean()
                seen = self.data.get(self.add_prefix("seen"))
                stored = (
                    type(self.instance)
                    ._default_manager.filter(pk=self.instance.pk)
                    .first()
                )
                if stored is None:
                    return data
                if not seen:
                    # Every change page sends it: a post without it is refused
                    # like an altered one, never saved unchecked.
                    raise forms.ValidationError(_(CHANGED_ON_ITS_WAY), code="stale")
                if fingerprint(stored) != seen:
                    raise forms.ValidationError(_(STALE), code="stale")
                return data

        return StaleCheckedForm


class ShowsSavedValues:
    """ModelAdmin mixin: a change refused with errors keeps what was typed in
    the form, while the page's title and breadcrumb name the row as it is saved
    (the admin would name it by the refused values, as though they were kept)."""

    def render_change_form(
        self, request, context, add=False, change=False, form_url="", obj=None
    ):
        form = context.get("adminform") and context["adminform"].form
        if change and obj is not None and obj.pk and form is not None and form.errors:
            saved = type(obj)._default_manager.filter(pk=obj.pk).first()
            if saved is not None:
                context.update(original=saved, subtitle=str(saved))
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )
