"""The clinic's models, one module per area; import them from here."""

from clinic.models.appointments import (
    Appointment,
    AppointmentEvent,
    choice_label,
    local_midnight,
)
from clinic.models.consultations import (
    CONTRAINDICATIONS,
    Area,
    ClinicalAccess,
    Consultation,
    ConsultationChange,
    Goal,
    answers_in_a_sentence,
    screened,
)
from clinic.models.hours import (
    ClosureDay,
    OpeningHours,
    Room,
    TimeOff,
    Weekday,
    WorkingHours,
    bookings_newly_outside,
    joined_blocks,
    stranded_error,
    validate_whole_minute,
    working_outside_opening,
)
from clinic.models.people import (
    Patient,
    Practitioner,
    validate_person_name,
    validate_plain_text,
    validate_readable_name,
)

__all__ = [
    "CONTRAINDICATIONS",
    "Appointment",
    "AppointmentEvent",
    "Area",
    "ClinicalAccess",
    "ClosureDay",
    "Consultation",
    "ConsultationChange",
    "Goal",
    "OpeningHours",
    "Patient",
    "Practitioner",
    "Room",
    "TimeOff",
    "Weekday",
    "WorkingHours",
    "answers_in_a_sentence",
    "screened",
    "bookings_newly_outside",
    "joined_blocks",
    "choice_label",
    "local_midnight",
    "stranded_error",
    "validate_person_name",
    "validate_plain_text",
    "validate_readable_name",
    "validate_whole_minute",
    "working_outside_opening",
]
