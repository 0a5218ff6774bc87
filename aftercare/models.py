"""Patient emails as data: the rules managers edit, and one outbox row per email.

The database holds the schedule; Celery only carries it out. A row is created,
re-timed or cancelled in the same transaction as the booking change that causes
it, and the dispatcher claims due rows, sends them and records the outcome.
"""

import re
import unicodedata
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from clinic.models import Appointment, Patient, choice_label, validate_plain_text


class Kind(models.TextChoices):
    CONFIRMATION = "confirmation", _("Booking confirmation")
    UPDATE = "update", _("Booking changed")
    CANCELLATION = "cancellation", _("Booking cancelled")
    PRE_CARE = "pre_care", _("Pre-care")
    REMINDER = "reminder", _("Appointment reminder")
    AFTERCARE_GUIDE = "aftercare_guide", _("Aftercare guide")
    AFTERCARE_12H = "aftercare_12h", _("Aftercare 12 h")
    AFTERCARE_24H = "aftercare_24h", _("Aftercare 24 h")
    AFTERCARE_48H = "aftercare_48h", _("Aftercare 48 h")
    AFTERCARE_10D = "aftercare_10d", _("Aftercare 10 days")


# Sent as soon as the change happens; never held back by quiet hours.
TRANSACTIONAL = (Kind.CONFIRMATION, Kind.UPDATE, Kind.CANCELLATION)
BEFORE_START = (Kind.PRE_CARE, Kind.REMINDER)
AFTERCARE = (
    Kind.AFTERCARE_GUIDE,
    Kind.AFTERCARE_12H,
    Kind.AFTERCARE_24H,
    Kind.AFTERCARE_48H,
    Kind.AFTERCARE_10D,
)

# How far from the appointment an email may be timed, either way.
MAX_OFFSET_MINUTES = 30 * 24 * 60
# Late by less than this, every email is still worth sending: beat dispatches
# every half minute, and a restarted worker needs a moment.
MIN_STALENESS_MINUTES = 10
MAX_STALENESS_MINUTES = 30 * 24 * 60
# Pre-care asks the patient to stop a skin medication 3 to 5 days before the
# session: it goes out at least this long before.
PRE_CARE_LATEST_MINUTES = -3 * 24 * 60


# What a manager's texts may fill in (see aftercare.emails.fill).
PLACEHOLDERS = (
    "first_name",
    "clinic_name",
    "clinic_phone",
    "date",
    "time",
    "practitioner",
    "kind",
    "medication_note",
    # A cancellation's last line: to book again, or, when a session was booked
    # in place of each, to call if its time doesn't suit.
    "rebook_note",
)
# {name} for a value; {{ and }} for a brace (as in Python's str.format). Any
# other brace is kept as written: one stray brace in a manager's text must not
# leave every placeholder of the email unfilled.
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


# Anything in single braces, to tell a manager what won't be filled in.
_IN_BRACES = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def has_stray_brace(text: str) -> bool:
    """A { or } that is neither doubled nor part of a {placeholder}."""
    return bool(set(_IN_BRACES.sub("", text)) & {"{", "}"})


# Placeholders that only one kind of email fills in with something true: a
# reminder asking to stop a medication "now", or to "book again", would alarm
# or mislead.
ONLY_IN = {"medication_note": "pre_care", "rebook_note": "cancellation"}


def placeholders_for(kind: str) -> tuple[str, ...]:
    """The placeholders an email of this kind fills in."""
    return tuple(name for name in PLACEHOLDERS if ONLY_IN.get(name, kind) == kind)


def unknown_placeholders(text: str, kind: str | None = None) -> list[str]:
    """What a text has in braces that no email (or none of ``kind``) fills in
    ({frist_name}, {first_name:>9}, {}), as written."""
    known = PLACEHOLDERS if kind is None else placeholders_for(kind)
    return sorted(
        {
            match.group(0)
            for match in _IN_BRACES.finditer(text)
            if match.group(1) is not None and match.group(1) not in known
        }
    )


class ReminderRule(models.Model):
    """When an email of one kind goes out and what it says (edited by managers).

    ``offset_minutes`` counts from the appointment's start for pre-care and
    reminders (negative: before) and from the session's recorded end for
    aftercare, as elapsed time: 12 h is 12 real hours across a clock change.
    Texts may use {first_name}, {clinic_name}, {clinic_phone}, {date}, {time},
    {practitioner}, {kind} and {medication_note}.
    """

    kind = models.CharField(
        _("email"), max_length=20, choices=Kind.choices, unique=True
    )
    enabled = models.BooleanField(
        _("send it"),
        default=True,
        help_text=_(
            "Switched off, no email of this kind goes out: those planned wait, "
            "and go out when it is on again if they are still worth sending."
        ),
    )
    offset_minutes = models.IntegerField(
        _("offset (minutes)"),
        default=0,
        validators=[
            MinValueValidator(-MAX_OFFSET_MINUTES),
            MaxValueValidator(MAX_OFFSET_MINUTES),
        ],
        help_text=_(
            "Before the start (negative) for pre-care and reminders; after the "
            "session's end for aftercare; 0 for booking emails, which go out at "
            "once. At most 30 days (43200 minutes) either way. A change also "
            "re-times the emails of this kind not yet sent; one whose new time "
            "has passed goes out at once if still worth sending."
        ),
    )
    staleness_minutes = models.PositiveIntegerField(
        _("still worth sending up to (minutes late)"),
        default=12 * 60,
        validators=[
            MinValueValidator(MIN_STALENESS_MINUTES),
            MaxValueValidator(MAX_STALENESS_MINUTES),
        ],
        help_text=_(
            "Later than this, the email is skipped rather than sent late (a "
            "pre-care for a session booked at shorter notice goes at once). "
            "From 10 minutes to 30 days (43200 minutes)."
        ),
    )
    subject = models.CharField(
        _("subject"), max_length=200, validators=[validate_plain_text]
    )
    body = models.TextField(
        _("text"), max_length=10000, validators=[validate_plain_text]
    )

    class Meta:
        ordering = ["kind"]
        verbose_name = _("email rule")
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    offset_minutes__gte=-MAX_OFFSET_MINUTES,
                    offset_minutes__lte=MAX_OFFSET_MINUTES,
                    staleness_minutes__gte=MIN_STALENESS_MINUTES,
                    staleness_minutes__lte=MAX_STALENESS_MINUTES,
                ),
                name="reminder_rule_times_in_range",
            ),
            # Before the start, after the end, or (booking emails) at once.
            models.CheckConstraint(
                condition=Q(kind__in=BEFORE_START, offset_minutes__lte=0)
                | Q(kind__in=AFTERCARE, offset_minutes__gte=0)
                | Q(kind__in=TRANSACTIONAL, offset_minutes=0),
                name="reminder_rule_offset_direction",
            ),
            models.CheckConstraint(
                condition=~Q(kind=Kind.PRE_CARE)
                | Q(offset_minutes__lte=PRE_CARE_LATEST_MINUTES),
                name="reminder_rule_pre_care_in_time",
            ),
        ]

    def __str__(self) -> str:
        return self.get_kind_display()

    def clean(self) -> None:
        unknown = {
            field: unknown_placeholders(getattr(self, field) or "", self.kind)
            for field in ("subject", "body")
        }
        errors = {
            field: ngettext(
                "%(names)s is not a placeholder this email fills in; use "
                "%(known)s (or {{ and }} for a brace).",
                "%(names)s are not placeholders this email fills in; use "
                "%(known)s (or {{ and }} for a brace).",
                len(names),
            )
            % {
                "names": ", ".join(names),
                "known": ", ".join(
                    f"{{{name}}}" for name in placeholders_for(self.kind)
                ),
            }
            for field, names in unknown.items()
            if names
        }
        for field in ("subject", "body"):
            visible = "".join(
                c
                for c in getattr(self, field) or ""
                if unicodedata.category(c) not in ("Cf", "Zs", "Cc")
            )
            if field not in errors and not visible:
                errors[field] = _("Write it in words: it is empty or invisible.")
        if "subject" not in errors and any(c in (self.subject or "") for c in "\r\n"):
            errors["subject"] = _("A subject is one line: take out the line break.")
        for field in ("subject", "body"):
            if field not in errors and has_stray_brace(getattr(self, field) or ""):
                errors[field] = _(
                    "A brace on its own is read by the patient as typed: write {{ "
                    "or }} for a brace, or finish the placeholder, such as "
                    "{first_name}."
                )
        if "subject" not in errors:
            sentences = [
                f"{{{name}}}" for name in ONLY_IN if f"{{{name}}}" in self.subject
            ]
            if sentences:
                # Whole sentences, and a medication's name on a lock screen.
                errors["subject"] = _(
                    "%(names)s is a sentence for the text, not the subject."
                ) % {"names": ", ".join(sentences)}
        if (
            self.kind == Kind.PRE_CARE
            and "body" not in errors
            and "{medication_note}" not in (self.body or "")
        ):
            errors["body"] = _(
                "Keep {medication_note} in the pre-care text: it asks a patient on "
                "a skin medication to stop it (and says nothing to the others)."
            )
        if errors:
            raise ValidationError(errors)
        if self.offset_minutes is None:
            return
        if self.kind == Kind.PRE_CARE and self.offset_minutes > PRE_CARE_LATEST_MINUTES:
            raise ValidationError(
                {
                    "offset_minutes": _(
                        "Pre-care asks the patient to stop a skin medication 3 to "
                        "5 days before the session: send it at least 3 days "
                        "(-4320 minutes) before."
                    )
                }
            )
        if self.kind in BEFORE_START and self.offset_minutes > 0:
            raise ValidationError(
                {
                    "offset_minutes": _(
                        "This email goes out before the appointment: use a "
                        "negative number of minutes (or 0 for at its start)."
                    )
                }
            )
        if self.kind in AFTERCARE and self.offset_minutes < 0:
            raise ValidationError(
                {
                    "offset_minutes": _(
                        "Aftercare follows the session's end: use 0 or more minutes."
                    )
                }
            )
        if self.kind in AFTERCARE:
            self._check_aftercare_order()
        if self.kind in TRANSACTIONAL and self.offset_minutes != 0:
            raise ValidationError(
                {
                    "offset_minutes": _(
                        "Booking emails go out as soon as the booking changes: "
                        "leave the offset at 0."
                    )
                }
            )

    def _check_aftercare_order(self) -> None:
        """Aftercare steps go out in their order: a step whose next one is due
        is skipped (never sent out of order), so a step moved past the next
        would be skipped for every patient."""
        offsets = dict(
            ReminderRule.objects.filter(kind__in=AFTERCARE)
            .exclude(kind=self.kind)
            .values_list("kind", "offset_minutes")
        )
        index = AFTERCARE.index(self.kind)
        earlier = [k for k in AFTERCARE[:index] if k in offsets]
        later = [k for k in AFTERCARE[index + 1 :] if k in offsets]
        if earlier and self.offset_minutes <= offsets[earlier[-1]]:
            step, minutes, side = earlier[-1], offsets[earlier[-1]], _("after")
        elif later and self.offset_minutes >= offsets[later[0]]:
            step, minutes, side = later[0], offsets[later[0]], _("before")
        else:
            return
        raise ValidationError(
            {
                "offset_minutes": _(
                    "Aftercare emails go out in order: this one goes %(side)s "
                    "%(step)s, which is at %(minutes)s minutes."
                )
                % {"side": side, "step": Kind(step).label, "minutes": minutes}
            }
        )

    @property
    def offset(self) -> timedelta:
        return timedelta(minutes=self.offset_minutes)

    @property
    def staleness(self) -> timedelta:
        return timedelta(minutes=self.staleness_minutes)


class ReminderQuerySet(models.QuerySet):
    def pending(self) -> "ReminderQuerySet":
        return self.filter(status=Reminder.Status.SCHEDULED)

    def due(self, now) -> "ReminderQuerySet":
        return self.pending().filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            due_at__lte=now,
        )


class CopyReason(models.TextChoices):
    ON_REQUEST = "on_request", _("on request")
    MEDICATION_CHANGED = (
        "medication",
        _("the medication to stop changed after it was sent"),
    )


class Reminder(models.Model):
    """One email the clinic will send, is sending, or has sent."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        SKIPPED = "skipped", _("Skipped")
        UNKNOWN = "unknown", _("Unknown: check")

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="reminders"
    )
    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="reminders"
    )
    kind = models.CharField(_("email"), max_length=20, choices=Kind.choices)
    # Each move of the appointment starts a new version of its schedule; the
    # unique key makes a second row for the same email of the same version
    # impossible, however often a change is retried.
    version = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(_("due"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.SCHEDULED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # ``attempts`` when staff last resent it: a resend gets the full number of
    # tries again, while ``attempts`` keeps counting every one.
    attempts_at_resend = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    skip_reason = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    # The address it went to, or was last tried at (refused, to be tried again,
    # unknown), kept as it was then: a patient's address may change later, and
    # staff see where each email really went. "" for one never tried, and for
    # those sent before addresses were kept.
    sent_to = models.EmailField(_("sent to"), blank=True, editable=False)
    # Other appointments the email is about (a whole series' confirmation).
    series = models.JSONField(default=list, blank=True)
    # Staff sent this email again on request ("I lost my confirmation"): a
    # copy of that sent row, at the same version, outside the once-per-version key.
    copy_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="copies",
    )
    # Why a copy was sent: the patient hears why, staff read it in the outbox.
    copy_reason = models.CharField(
        _("sent again"), max_length=20, choices=CopyReason.choices, blank=True
    )
    # A sent pre-care: the topical medication it asked to stop ("" for none);
    # a copy sent because the medication changed goes only if it names another.
    # None for other emails, and for pre-care sent before this was kept (not
    # known, which "" would not say).
    named_medication = models.CharField(  # noqa: DJ001
        max_length=300, null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReminderQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        # As the pages call them ("Emails"), not "reminders" in Settings.
        verbose_name = _("patient email")
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "kind", "version"],
                condition=Q(copy_of__isnull=True),
                name="reminder_once_per_version",
            ),
            # One copy on request waiting at a time, whoever asks for another.
            models.UniqueConstraint(
                fields=["copy_of"],
                condition=Q(copy_of__isnull=False, status__in=["scheduled", "sending"]),
                name="reminder_one_copy_on_its_way",
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="reminder_sent_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="sending") | Q(lease_until__isnull=False),
                name="reminder_sending_has_lease",
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"],
                name="reminder_scheduled_due",
                condition=Q(status="scheduled"),
            ),
            models.Index(
                fields=["lease_until"],
                name="reminder_sending_lease",
                condition=Q(status="sending"),
            ),
            # Today's count of emails for staff to check (failed, unknown). A
            # partial index would do, but SQLite doesn't use one for a query
            # whose values are bound parameters, as Django's are.
            models.Index(fields=["status"], name="reminder_status"),
            models.Index(fields=["patient", "due_at"]),
            # The outbox lists the newest first, page by page.
            models.Index(fields=["-due_at", "-id"], name="reminder_outbox_order"),
        ]
        permissions = [("resend_reminder", "Can resend or cancel patient emails")]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} to {self.patient} ({self.get_status_display()})"
        )

    def get_absolute_url(self) -> str:
        return reverse("aftercare:preview", args=[self.pk])

    @property
    def as_shown(self) -> str:
        """The email as a page shows it, sent back with an action on it: its
        status and when it last changed (a cancel and a resend since leave the
        status as it was, not the time)."""
        return f"{self.status}|{self.updated_at.isoformat()}"

    @property
    def appointment_ids(self) -> list[int]:
        """The appointments its email tells of: a series', or its own."""
        return self.series or [self.appointment_id]

    def get_kind_display(self) -> str:
        return choice_label(Kind, self.kind)

    def get_status_display(self) -> str:
        return choice_label(self.Status, self.status)
