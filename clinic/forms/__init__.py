"""The clinic's forms, one module per area; import them from here."""

from clinic.forms.appointments import (
    BookAppointmentForm,
    BookFromCalendarForm,
    CalendarForm,
    CancelForm,
    RescheduleForm,
    booking_from_calendar,
)
from clinic.forms.consultations import ConsultationForm
from clinic.forms.fields import (
    BOOKING_HORIZON_DAYS,
    CHANGED_ON_ITS_WAY,
    CheckboxesField,
    DateInput,
    HiddenErrorsShown,
    InUseChoiceField,
    LocalDateTimeField,
    MinuteField,
    ModelMultipleChoiceField,
    PageVersionField,
    TimeInput,
    combine_local_start,
    optional_reason_in_words,
    reason_in_words,
)
from clinic.forms.patients import PatientForm, PatientSearchForm, clean_person_name

__all__ = [
    "BOOKING_HORIZON_DAYS",
    "CHANGED_ON_ITS_WAY",
    "BookAppointmentForm",
    "BookFromCalendarForm",
    "CalendarForm",
    "CancelForm",
    "CheckboxesField",
    "ConsultationForm",
    "DateInput",
    "HiddenErrorsShown",
    "InUseChoiceField",
    "LocalDateTimeField",
    "MinuteField",
    "ModelMultipleChoiceField",
    "PatientForm",
    "PatientSearchForm",
    "PageVersionField",
    "RescheduleForm",
    "booking_from_calendar",
    "TimeInput",
    "clean_person_name",
    "combine_local_start",
    "optional_reason_in_words",
    "reason_in_words",
]
