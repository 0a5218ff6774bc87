"""Booking service: the only code path that creates, moves or changes appointments.

Views, the admin and the series engine call these functions. Each runs in one
transaction. On PostgreSQL the exclusion constraints of migration
0002_no_double_booking are the final word on overlaps (a concurrent booking
that slipped past the friendly check becomes a clash error here); on SQLite the
IMMEDIATE transaction mode serialises writers so the check itself is exact.

booking.py checks slots and books them; changes.py moves, cancels, checks in,
marks no-shows and completes; each writes a line of the appointment's history
(history.py). consultations.py records consultations and who opened a clinical
record; patients.py registers patients one at a time.
"""

from clinic.services.booking import (
    ANOTHER_CONSULTATION,
    BookingError,
    Slot,
    availability_for,
    book_appointment,
    book_appointments,
    can_override_hours,
    check_booking,
    check_patients_free,
    check_slot,
    has_a_consultation,
    hold,
    hold_calendars,
    next_open_day,
    notify,
)
from clinic.services.changes import (
    CHECKED_IN_AND_OVER,
    CONSULTATION_TOOK_PLACE,
    NOTHING_CHANGES,
    SESSION_RECORDED,
    TREATMENTS_MOVE_WITH_THEIR_PLAN,
    Move,
    cancel_appointment,
    cancel_appointments,
    check_in_appointment,
    complete_appointment,
    consultation_took_place,
    mark_no_show,
    move_appointments,
    reschedule_appointment,
    time_is_over,
    took_place,
    undo_check_in,
    undo_no_show,
    why_not_cancellable,
)
from clinic.services.consultations import (
    attach_consultations_in_force,
    consultation_held_at,
    consultation_in_force,
    log_clinical_access,
    record_consultation,
)
from clinic.services.history import history_of
from clinic.services.patients import (
    hold_registration_lock,
    keep_change,
    save_patient_details,
    search_patients,
    search_words,
)
from clinic.services.stale import StalePage, appointments_seen

__all__ = [
    "ANOTHER_CONSULTATION",
    "CHECKED_IN_AND_OVER",
    "CONSULTATION_TOOK_PLACE",
    "SESSION_RECORDED",
    "NOTHING_CHANGES",
    "TREATMENTS_MOVE_WITH_THEIR_PLAN",
    "BookingError",
    "Move",
    "Slot",
    "StalePage",
    "appointments_seen",
    "availability_for",
    "book_appointment",
    "book_appointments",
    "check_booking",
    "can_override_hours",
    "check_patients_free",
    "cancel_appointment",
    "attach_consultations_in_force",
    "cancel_appointments",
    "consultation_held_at",
    "consultation_in_force",
    "check_in_appointment",
    "check_slot",
    "consultation_took_place",
    "time_is_over",
    "took_place",
    "why_not_cancellable",
    "complete_appointment",
    "has_a_consultation",
    "hold",
    "hold_calendars",
    "history_of",
    "hold_registration_lock",
    "log_clinical_access",
    "mark_no_show",
    "move_appointments",
    "next_open_day",
    "notify",
    "record_consultation",
    "reschedule_appointment",
    "keep_change",
    "save_patient_details",
    "search_patients",
    "search_words",
    "undo_check_in",
    "undo_no_show",
]
