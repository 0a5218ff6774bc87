"""Lists of patient data in the settings, filtered only as their filters offer.

Django's admin lets any field of the model be filtered through the address
(``?topical_medication__icontains=tretinoin``): a search through clinical text
that no page offers and nothing logs. These lists take the filters they show,
their date drill-down, and what a related field's choices are limited by; any
other filter in the address is refused (a 400 page).
"""

from django.contrib.admin import widgets
from django.contrib.admin.filters import SimpleListFilter
from django.db.models.constants import LOOKUP_SEP


class FiltersAsOffered:
    def lookup_allowed(self, lookup, value, request=None) -> bool:
        if not super().lookup_allowed(lookup, value, request):
            return False
        return lookup.split(LOOKUP_SEP, 1)[0] in self._offered(
            request
        ) or self._limits_a_related_field(lookup, value)

    def _offered(self, request) -> set[str]:
        offered = {self.date_hierarchy} if self.date_hierarchy else set()
        for entry in self.get_list_filter(request):
            if isinstance(entry, str):
                offered.add(entry.split(LOOKUP_SEP, 1)[0])
            elif isinstance(entry, tuple | list):
                offered.add(entry[0].split(LOOKUP_SEP, 1)[0])
            elif issubclass(entry, SimpleListFilter):
                offered.add(entry.parameter_name)
        return offered

    def _limits_a_related_field(self, lookup, value) -> bool:
        # As Django's own check: a raw id field's pop-up list passes the
        # limit_choices_to of the field it fills.
        for limits in self.model._meta.related_fkey_lookups:
            if callable(limits):
                limits = limits()
            if (lookup, value) in widgets.url_params_from_lookup_dict(limits).items():
                return True
        return False
