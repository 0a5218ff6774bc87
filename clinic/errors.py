"""Emails to the people who run the app when a page or a task fails.

Django's own error emails carry the request's form data, query string and
headers: a patient's name, date of birth or notes typed into the form that
failed. These carry what the people fixing it need and no patient data: the
error's type and traceback (code lines; no variables, and no message, which
may quote a patient's row), the method and path without the query string, and
which member of staff it was.
"""

import logging
import traceback
from urllib.parse import urlsplit

from django.conf import settings
from django.core import mail
from django.views.debug import SafeExceptionReporterFilter


class SettingsFilter(SafeExceptionReporterFilter):
    """Django's filter, which hides settings by name (KEY, PASS, ...), and also
    the password inside a URL setting: DATABASE_URL, EMAIL_URL,
    CELERY_BROKER_URL."""

    def cleanse_setting(self, key, value):
        value = super().cleanse_setting(key, value)
        if isinstance(value, str) and "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                return self.cleansed_substitute
            if password:
                return value.replace(f":{password}@", f":{self.cleansed_substitute}@")
        return value


class ErrorEmailHandler(logging.Handler):
    """Mails an ERROR record to ADMINS (set CLINIC_ADMINS); never raises."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        # A task's failure comes once, from report_task_failure(): Celery's own
        # record of it reaches this handler only where Celery runs in-process.
        if not settings.ADMINS or record.name.startswith("celery."):
            return
        try:
            subject, body = self.message(record)
            mail.mail_admins(subject, body, fail_silently=True)
        except Exception:  # noqa: BLE001 - a failing report must not fail the page
            self.handleError(record)

    def message(self, record: logging.LogRecord) -> tuple[str, str]:
        request = getattr(record, "request", None)
        lines = [record.getMessage(), ""]
        if request is not None:
            user = getattr(request, "user", None)
            staff = user.get_username() if user and user.is_authenticated else "-"
            lines += [
                f"Request: {request.method} {request.path}",
                f"Signed in as: {staff}",
                "",
            ]
        lines.append(f"Where: {record.name} ({record.pathname}:{record.lineno})")
        if record.exc_info:
            lines += ["", self._traceback(record)]
        first_line = (record.getMessage().splitlines() or [""])[0]
        return f"{record.levelname}: {first_line}"[:200], "\n".join(lines)

    def _traceback(self, record: logging.LogRecord) -> str:
        """Where it failed: each exception's type and code lines, causes too.

        Not the exceptions' messages: PostgreSQL's name the failing row ("DETAIL:
        Failing row contains (..., Mary, Seacole, ...)"), and a refusal names
        the patient. Nor the frames' variables."""
        parts = []
        error: BaseException | None = record.exc_info[1]
        seen: set[int] = set()
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            stack = "".join(traceback.format_tb(error.__traceback__))
            kind = type(error)
            parts.append(
                f"Traceback (most recent call last):\n{stack}"
                f"{kind.__module__}.{kind.__qualname__} (message left out)"
            )
            if error.__cause__ is not None:
                error = error.__cause__
            elif not error.__suppress_context__:
                error = error.__context__
            else:
                error = None
        return "\n\nCaused by:\n".join(parts)


def report_task_failure(sender=None, exception=None, einfo=None, **kwargs) -> None:
    """Celery's task_failure signal: mail it as a page's error would be. (A
    worker replaces the root logger's handlers with its own, so the handler in
    LOGGING never sees a task's error there.)"""
    name = getattr(sender, "name", "a task")
    record = logging.LogRecord(
        name="clinic.tasks",
        level=logging.ERROR,
        pathname=__file__,
        lineno=0,
        msg="Task %s failed: %s",
        args=(name, type(exception).__name__),
        exc_info=(type(exception), exception, getattr(einfo, "tb", None)),
    )
    ErrorEmailHandler().handle(record)


class RefusalInOneLine(logging.Filter):
    """A refused request (400: a tampered request Django calls suspicious; 403:
    a page or action outside someone's role) is one line in the log, not a
    traceback: tracebacks are for errors, and a log full of refusals hides them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in (400, 403):
            record.exc_info = None
            record.exc_text = None
        return True
