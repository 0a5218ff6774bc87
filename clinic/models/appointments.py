"""Appointments: who, where, when, and what became of them."""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from clinic.models.people import Patient, Practitioner, validate_plain_text


class AppointmentQuerySet(models.QuerySet):
    def active(self) -> "AppointmentQuerySet":
        """Appointments that hold their time slot."""
        return self.filter(status__in=Appointment.ACTIVE_STATUSES)

    def overlapping(self, start: datetime, end: datetime) -> "AppointmentQuerySet":
        return self.filter(start__lt=end, end__gt=start)

    def on_day(self, day: date) -> "AppointmentQuerySet":
        return self.filter(
            start__gte=local_midnight(day),
            start__lt=local_midnight(day + timedelta(days=1)),
        )

    def with_people(self) -> "AppointmentQuerySet":
        return self.select_related("patient", "practitioner__user", "room")

    def listed(self) -> "AppointmentQuerySet":
        """with_people(), reading only what a calendar or a day's list shows: a
        patient's whole row is many times the names, and a busy day lists
        a hundred and more."""
        return self.with_people().only(*LISTED_FIELDS)


# What listed() reads: the appointment, the patient's name, the practitioner's
# and the room's as __str__ gives them and whether they are still in use.
LISTED_FIELDS = (
    "start",
    "end",
    "status",
    "kind",
    "patient__first_name",
    "patient__last_name",
    "practitioner__title",
    "practitioner__is_active",
    "practitioner__user__first_name",
    "practitioner__user__last_name",
    "practitioner__user__username",
    "room__name",
    "room__is_active",
)

# (choices, value, language): label, filled by choice_label().
_LABELS: dict[tuple, str] = {}


def choice_label(choices: type[models.Choices], value) -> str:
    """The label of ``value`` among ``choices``, or the value itself when it is
    none of them: what ``get_FOO_display()`` gives, without rebuilding,
    hashing and translating every choice's label on each call, which on a busy
    day's page cost more than the rest of each row."""
    key = (choices, value, translation.get_language())
    label = _LABELS.get(key)
    if label is None:
        try:
            label = _LABELS[key] = str(choices(value).label)
        except ValueError:
            return value
    return label


# How long before its start a patient may be checked in (arrived early).
CHECK_IN_EARLIEST = timedelta(hours=2)


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in the clinic's time zone, as an aware datetime."""
    return datetime.combine(day, datetime.min.time(), timezone.get_current_timezone())


class Appointment(models.Model):
    class Kind(models.TextChoices):
        CONSULTATION = "consultation", _("Consultation")
        TREATMENT = "treatment", _("Treatment session")

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CHECKED_IN = "checked_in", _("Checked in")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("No-show")

    # Statuses that occupy the practitioner and the room. An allow-list, so a
    # status added later does not silently start or stop blocking the calendar.
    # Holding its slot.
    ACTIVE_STATUSES = (Status.BOOKED, Status.CHECKED_IN, Status.COMPLETED)
    # Still to happen: it can be cancelled or completed.
    OPEN_STATUSES = (Status.BOOKED, Status.CHECKED_IN)
    # It did not take place.
    LOST_STATUSES = (Status.CANCELLED, Status.NO_SHOW)

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="appointments"
    )
    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, related_name="appointments"
    )
    room = models.ForeignKey(
        "clinic.Room", on_delete=models.PROTECT, related_name="appointments"
    )
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.BOOKED
    )
    notes = models.TextField(
        _("notes"), blank=True, max_length=2000, validators=[validate_plain_text]
    )
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    override_reason = models.CharField(
        _("reason for booking outside hours"),
        max_length=300,
        blank=True,
        validators=[validate_plain_text],
    )
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    cancel_reason = models.CharField(
        _("reason for cancelling"),
        max_length=300,
        blank=True,
        validators=[validate_plain_text],
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["start", "id"]
        indexes = [
            models.Index(fields=["practitioner", "start"]),
            models.Index(fields=["room", "start"]),
            models.Index(fields=["start"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")),
                name="appointment_end_after_start",
                violation_error_message=_("The end must be after the start."),
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | ~Q(cancel_reason=""),
                name="appointment_cancel_has_reason",
                violation_error_message=_("A cancellation needs a reason."),
            ),
        ]
        # The no-overlap exclusion constraints live in migration
        # 0002_no_double_booking: they exist on PostgreSQL only.
        permissions = [
            ("override_hours", "Can book outside opening or working hours"),
            ("check_in_appointment", "Can check patients in and mark no-shows"),
        ]

    def __str__(self) -> str:
        local = timezone.localtime(self.start)
        return f"{self.get_kind_display()} - {self.patient} - {local:%a %d %b %Y %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("clinic:appointment_detail", args=[self.pk])

    def get_kind_display(self) -> str:
        return choice_label(self.Kind, self.kind)

    def get_status_display(self) -> str:
        return choice_label(self.Status, self.status)

    @property
    def check_in_opens(self) -> datetime:
        """From when the patient may be checked in (arrived early)."""
        return self.start - CHECK_IN_EARLIEST

    @property
    def status_phrase(self) -> str:
        """The status inside a sentence: "this one is cancelled", "this session
        was a no-show"."""
        if self.status == self.Status.NO_SHOW:
            return str(_("a no-show"))
        return self.get_status_display().lower()

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def plan_session(self):
        """The treatment plan's session this appointment books (the plans app's
        TreatmentSession), or None: a session moves with its plan."""
        return getattr(self, "treatment_session", None)

    @property
    def duration_minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


def _place_of_a_move(to) -> models.ForeignKey:
    """The practitioner or room before or after a move (only moves have one)."""
    return models.ForeignKey(
        to, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )


class AppointmentEvent(models.Model):
    """One change to an appointment, who made it and when: its history.

    Written by the booking services in the transaction of the change itself. A
    move keeps where and when the appointment was before and after; a
    cancellation or a booking outside hours keeps its reason.
    """

    class Action(models.TextChoices):
        BOOKED = "booked", _("Booked")
        MOVED = "moved", _("Moved")
        CANCELLED = "cancelled", _("Cancelled")
        CHECKED_IN = "checked_in", _("Checked in")
        CHECK_IN_UNDONE = "check_in_undone", _("Check-in taken back")
        NO_SHOW = "no_show", _("Marked as a no-show")
        NO_SHOW_UNDONE = "no_show_undone", _("No-show taken back")
        COMPLETED = "completed", _("Completed")

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="events"
    )
    action = models.CharField(_("what happened"), max_length=20, choices=Action.choices)
    at = models.DateTimeField(_("when"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    # Where and when a moved appointment was before the move and after it.
    moved_from_start = models.DateTimeField(null=True, blank=True)
    moved_from_end = models.DateTimeField(null=True, blank=True)
    moved_from_practitioner = _place_of_a_move(Practitioner)
    moved_from_room = _place_of_a_move("clinic.Room")
    moved_to_start = models.DateTimeField(null=True, blank=True)
    moved_to_end = models.DateTimeField(null=True, blank=True)
    moved_to_practitioner = _place_of_a_move(Practitioner)
    moved_to_room = _place_of_a_move("clinic.Room")
    reason = models.CharField(
        _("reason"), max_length=300, blank=True, validators=[validate_plain_text]
    )

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["appointment", "at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(action="moved")
                | Q(
                    moved_from_start__isnull=False,
                    moved_from_end__isnull=False,
                    moved_from_practitioner__isnull=False,
                    moved_from_room__isnull=False,
                    moved_to_start__isnull=False,
                    moved_to_end__isnull=False,
                    moved_to_practitioner__isnull=False,
                    moved_to_room__isnull=False,
                ),
                name="appointment_event_move_has_both_places",
            ),
        ]

    def __str__(self) -> str:
        at = timezone.localtime(self.at)
        return f"{self.get_action_display()}, {at:%a %d %b %Y %H:%M}"

    def get_action_display(self) -> str:
        return choice_label(self.Action, self.action)
