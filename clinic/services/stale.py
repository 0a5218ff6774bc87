"""Pages that change a row remember which version of it they showed, so that a
save from a page opened before a colleague's save doesn't silently undo it."""

from django.db import models
from django.utils.translation import gettext as _

from clinic.scheduling import Problem
from clinic.services.booking import BookingError

NEW = "new"


class StalePage(BookingError):
    """The row changed since the page that changes it was opened."""

    def __init__(self, message: str) -> None:
        super().__init__([Problem("stale", str(message))])


def seen_stamp(row: models.Model | None) -> str:
    """What a form remembers of the row it showed: its ``updated_at``, or NEW."""
    if row is None or row.pk is None:
        return NEW
    return row.updated_at.isoformat()


def check_seen(current: models.Model | None, seen: str | None, *, what: str) -> None:
    """Refuse when ``current`` (locked) is not the version the page showed.
    ``seen`` None: the caller has no page (a script, a test), nothing to check."""
    if seen is not None and seen != seen_stamp(current):
        raise StalePage(
            _(
                "%(what)s was saved by someone else while your page was open, so "
                "your changes were not saved. Here it is as it is now: make your "
                "change again."
            )
            % {"what": what}
        )
