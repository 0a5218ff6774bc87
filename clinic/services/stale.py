"""Pages that change a row remember which version of it they showed, so that a
save from a page opened before a colleague's save doesn't silently undo it.

The version is a fingerprint of the fields the page edits, not the row's
``updated_at``: a change elsewhere in the row (an unsubscribe, say) is no
colleague's edit to protect."""

import hashlib
from collections.abc import Iterable

from django.db import models
from django.utils.translation import gettext as _

from clinic.scheduling import Problem
from clinic.services.booking import BookingError

NEW = "new"


class StalePage(BookingError):
    """The row changed since the page that changes it was opened."""

    def __init__(self, message: str) -> None:
        super().__init__([Problem("stale", str(message))])


def seen_stamp(row: models.Model | None, fields: Iterable[str]) -> str:
    """What a form remembers of the row it showed: a fingerprint of ``fields``,
    or NEW before the row exists."""
    if row is None or row.pk is None:
        return NEW
    return _fingerprint([(name, getattr(row, name)) for name in fields])


def as_compared(value):
    """Text as a browser's text area sends it (lines ending \r\n) and as saved
    another way (\n) is the same text: no change to log or decide again."""
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


def _fingerprint(values: list) -> str:
    return hashlib.sha256(repr(values).encode()).hexdigest()[:32]


# What a page about an appointment shows of it: when, with whom, where, status.
APPOINTMENT_PLACE = ("start", "end", "practitioner_id", "room_id", "status")


def appointments_seen(appointments: Iterable[models.Model]) -> str:
    """What a page remembers of the appointments it shows (APPOINTMENT_PLACE)."""
    return _fingerprint(
        [[getattr(a, name) for name in APPOINTMENT_PLACE] for a in appointments]
    )


CHANGED_MEANWHILE = (
    "Someone changed this appointment while your page was open (moved it, checked "
    "the patient in, or this form was sent twice), so nothing was changed. The "
    "page now shows it as it is: do it again if it is still needed."
)


def check_appointments_seen(appointments: list, seen: str | None) -> None:
    """Refuse when the (locked) appointments are not as the page showed them;
    ``seen`` None: no page, nothing to check."""
    if seen is not None and seen != appointments_seen(appointments):
        raise StalePage(_(CHANGED_MEANWHILE))


def check_seen(
    current: models.Model | None,
    seen: str | None,
    *,
    fields: Iterable[str],
    what: str,
) -> None:
    """Refuse when ``current`` (locked) is not the version the page showed.
    ``seen`` None: the caller has no page (a script, a test), nothing to check."""
    if seen is not None and seen != seen_stamp(current, fields):
        raise StalePage(
            _(
                "Someone saved %(what)s while your page was open (a colleague, or "
                "this form sent twice), so this save was not made. The form shows "
                "what is saved now, with what you typed beside it: make your "
                "change again if it is still needed."
            )
            % {"what": what}
        )
