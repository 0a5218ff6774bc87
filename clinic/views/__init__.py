"""The clinic's pages, one module per area; urls.py names them by module.

plans and aftercare decorate their views with ``clinic.views.staff_view`` and
send users back with ``safe_next``.
"""

from clinic.views.common import (
    form_errors_from,
    id_from,
    posted_as_seen_now,
    safe_next,
    staff_view,
    tell_by_phone,
    unsaved_values,
)

__all__ = [
    "form_errors_from",
    "id_from",
    "posted_as_seen_now",
    "safe_next",
    "staff_view",
    "tell_by_phone",
    "unsaved_values",
]
