"""Patient emails: subject, text and HTML from three templates per message.

The words of each email come from its ReminderRule (managers edit them), with a
fixed set of placeholders; the layout, the appointment details and the
unsubscribe footer come from templates/emails/.
"""

import copy
import re
from datetime import datetime, timedelta
from email.mime.text import MIMEText
from typing import NamedTuple

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.utils.html import linebreaks
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from aftercare.calendar import calendar_files
from aftercare.models import (
    ONLY_IN,
    PLACEHOLDER,
    TRANSACTIONAL,
    CopyReason,
    Kind,
    Reminder,
    ReminderRule,
    placeholders_for,
)
from clinic.models import Appointment, Practitioner, Room
from clinic.services.consultations import consultation_in_force


def fill(text: str, values: dict) -> str:
    """The text with its {names} filled in: names only, no lookups or format
    specs ({first_name:>999999999} would build a gigabyte string); an unknown
    name stays as written."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        return str(values[name]) if name in values else match.group(0)

    return PLACEHOLDER.sub(value, text)


CLINICAL_HIDDEN = "[clinical detail: visible to practitioners only]"


def clinical_detail(reminder: Reminder) -> str:
    """What of the consultation's clinical record the email tells: the topical
    medication to stop before a session, or "" (one query)."""
    consultation = consultation_in_force(reminder.appointment)
    return consultation.topical_medication if consultation is not None else ""


# The shortest pause in a topical skin medication before a session.
MEDICATION_PAUSE = timedelta(days=3)


def _values(
    reminder: Reminder,
    *,
    hide_clinical: bool = False,
    with_medication: bool = True,
    now: datetime | None = None,
) -> dict:
    """The placeholders' values. ``with_medication``: the text names it (the
    medication is read only then); ``now``: when the email goes out (its due
    time when that is later, for a preview)."""
    appointment = reminder.appointment
    patient = reminder.patient
    start = timezone.localtime(appointment.start)
    sent = max(reminder.due_at, now or timezone.now())
    medication_note = ""
    if with_medication and (medication := clinical_detail(reminder)):
        if hide_clinical:
            medication = CLINICAL_HIDDEN
        if appointment.start - sent >= MEDICATION_PAUSE:
            medication_note = (
                f"Please stop {medication} 3 to 5 days before "
                "your session, as agreed at your consultation."
            )
        else:
            # Booked at short notice: the advice can't be followed as it stands.
            # The text's own last line gives the number to call.
            medication_note = (
                f"Please stop {medication} now: it is stopped 3 to 5 days before "
                "a session, as agreed at your consultation, and your session is "
                "sooner than that, so please also call us about it before your "
                "visit."
            )
    return {
        "first_name": patient.first_name,
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "date": formats.date_format(start, "l j F Y"),
        "time": start.strftime("%H:%M"),
        "practitioner": str(appointment.practitioner),
        "kind": appointment.get_kind_display().lower(),
        "medication_note": medication_note,
    }


def phone_link(number: str) -> str:
    """A number a phone can call from a tel: link: "+44 (0)20 7946 0000" is
    +442079460000 (the "(0)" is dialled from within the country only)."""
    number = number.replace("(0)", "")
    return "".join(c for c in number if c.isdigit() or c == "+")


def make_message(
    name: str, to: str, ctx: dict, *, headers: dict | None = None, connection=None
) -> EmailMultiAlternatives:
    subject = render_to_string(f"emails/{name}-subject.txt", ctx)
    # Never let a newline in a subject start a new header.
    subject = " ".join(subject.splitlines()).strip()
    text = render_to_string(f"emails/{name}-body.txt", ctx)
    html = render_to_string(f"emails/{name}-body.html", ctx)
    message = EmailMultiAlternatives(
        subject,
        text,
        settings.DEFAULT_FROM_EMAIL,
        [to],
        headers=headers or {},
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    return message


class Before(NamedTuple):
    """Where an appointment was as the patient last heard."""

    start: datetime
    end: datetime
    practitioner: Practitioner | None
    room: Room | None

    def is_where(self, appointment: Appointment) -> bool:
        """The appointment is still there (same times, practitioner and room)."""
        return (
            self.start == appointment.start
            and self.end == appointment.end
            and self.practitioner is not None
            and self.practitioner.pk == appointment.practitioner_id
            and self.room is not None
            and self.room.pk == appointment.room_id
        )


def _as_told(appointment: Appointment, before: Before | None) -> Appointment:
    """The appointment with the time, practitioner and room the patient last
    heard of (a copy: the stored one is left alone)."""
    if before is None:
        return appointment
    told = copy.copy(appointment)
    told.start, told.end = before.start, before.end
    if before.practitioner is not None:
        told.practitioner = before.practitioner
    if before.room is not None:
        told.room = before.room
    return told


def _was(appointment: Appointment, before: Before | None) -> dict:
    """What an update names beside an appointment's new details: the time it
    was, and with whom or where, each only when it changed."""
    if before is None:
        return {"was_time": None, "was_end": None, "was_with": ""}
    other_practitioner = (
        before.practitioner is not None
        and before.practitioner.pk != appointment.practitioner_id
    )
    other_room = before.room is not None and before.room.pk != appointment.room_id
    if other_practitioner and other_room:
        was_with = _("with %(who)s in %(room)s") % {
            "who": before.practitioner,
            "room": before.room,
        }
    elif other_practitioner:
        was_with = _("with %(who)s") % {"who": before.practitioner}
    elif other_room:
        was_with = _("in %(room)s") % {"room": before.room}
    else:
        was_with = ""
    # A new length alone changes the time too: named with its end.
    moved = before.start != appointment.start or before.end != appointment.end
    return {
        "was_time": before.start if moved else None,
        "was_end": before.end if moved else None,
        "was_with": was_with,
    }


# Leads a pre-care email sent again because a later consultation changed the
# medication to stop.
MEDICATION_CHANGED_NOTE = _lazy(
    "This email replaces our earlier one: what to stop using before your "
    "session has changed since we wrote."
)


def reminder_message(
    reminder: Reminder,
    *,
    rule: ReminderRule | None,
    series: list[Appointment],
    sequences: dict[int, int] | None = None,
    unsubscribe_url: str,
    message_id: str,
    connection=None,
    now: datetime | None = None,
    hide_clinical: bool = False,
    moved_from: dict[int, "Before"] | None = None,
    in_place: dict[int, Appointment] | None = None,
) -> EmailMultiAlternatives:
    """The email as the patient gets it; ``hide_clinical`` for staff previews by
    those who may not see the consultation's clinical details.

    ``sequences``: each appointment's current schedule version, for the calendar
    file of an email about several (the email's own version otherwise).
    ``moved_from``: where a changed booking's appointments were as the patient
    last heard (by appointment), which an update names beside what changed.
    ``in_place``: what was booked in place of a cancelled appointment (by the
    cancelled one), which a cancellation names beside it."""
    now = now or timezone.now()
    own = placeholders_for(reminder.kind)
    values = _values(
        reminder,
        hide_clinical=hide_clinical,
        with_medication=rule is not None
        and "medication_note" in own
        and "medication_note" in f"{rule.subject}{rule.body}",
        now=now,
    )
    if reminder.kind != Kind.CANCELLATION:
        # An appointment cancelled since has had its own cancellation email.
        series = [a for a in series if a.status in Appointment.ACTIVE_STATUSES]
    appointments = series or [reminder.appointment]
    if reminder.kind == Kind.CANCELLATION and moved_from:
        # Moved, then cancelled before the patient heard of the move: the
        # cancellation is of the booking they know.
        appointments = [_as_told(a, moved_from.get(a.pk)) for a in appointments]
    before = moved_from if reminder.kind == Kind.UPDATE and moved_from else {}
    booked_instead = in_place if reminder.kind == Kind.CANCELLATION and in_place else {}
    # Every cancelled one has a session booked in its place: nothing to book.
    values["rebook_note"] = (
        _("If the new time doesn't suit you, please call us on %(phone)s.")
        if all(booked_instead.get(a.pk) for a in appointments)
        else _("To book again, please call us on %(phone)s.")
    ) % {"phone": settings.CLINIC_PHONE}
    # Another kind's placeholder, in a text saved before each kind had its own
    # (a reminder to stop a medication "now", to "book again"), says nothing.
    values |= {name: "" for name in ONLY_IN if name not in own}
    subject = fill(rule.subject, values) if rule else reminder.get_kind_display()
    text = fill(rule.body, values) if rule else ""
    if reminder.copy_reason == CopyReason.MEDICATION_CHANGED:
        subject = _("Updated: %(subject)s") % {"subject": subject}
        text = f"{MEDICATION_CHANGED_NOTE}\n\n{text}" if text else text
    rows = [
        {
            "appointment": a,
            **_was(a, before.get(a.pk)),
            "in_place": booked_instead.get(a.pk),
        }
        for a in appointments
    ]
    ctx = {
        "reminder": reminder,
        "patient": reminder.patient,
        "subject": subject,
        "text": text,
        # Escaped first, then paragraphs: safe to put into the HTML part.
        "html_text": mark_safe(linebreaks(text, autoescape=True)),  # noqa: S308
        "rows": rows,
        "show_appointments": reminder.kind in TRANSACTIONAL
        or reminder.kind == Kind.REMINDER,
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        # A number a phone can call: digits and the leading + only.
        "clinic_phone_link": phone_link(settings.CLINIC_PHONE),
        "clinic_email": settings.CLINIC_EMAIL,
        "clinic_address": settings.CLINIC_ADDRESS,
        "unsubscribe_url": unsubscribe_url,
    }
    message = make_message(
        "reminder",
        reminder.patient.email,
        ctx,
        headers={
            "Message-ID": message_id,
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
        connection=connection,
    )
    if reminder.kind in TRANSACTIONAL:
        cancel = reminder.kind == Kind.CANCELLATION
        for calendar_file in calendar_files(
            appointments,
            patient=reminder.patient,
            sequences={
                a.pk: (sequences or {}).get(a.pk, reminder.version)
                for a in appointments
            },
            cancel=cancel,
            now=now,
        ):
            part = MIMEText(calendar_file.content.decode(), "calendar", "utf-8")
            part.set_param("method", "CANCEL" if cancel else "REQUEST")
            part.add_header(
                "Content-Disposition", "attachment", filename=calendar_file.filename
            )
            message.attach(part)
    return message
