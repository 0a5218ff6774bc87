"""The plans app's forms, one module per area; import them from here."""

from plans.forms.plans import (
    CancelPlanForm,
    CancelSessionForm,
    ChangeResourcesForm,
    ExtendForm,
    MoveSessionForm,
    OverrideForm,
    PlanForm,
    ReasonForm,
    SeriesStartForm,
    SessionRowForm,
    SessionRowFormSet,
    default_first_date,
)
from plans.forms.records import (
    AmendForm,
    AreaFormSet,
    PhotoForm,
    RecordForm,
    RemovePhotoForm,
)

__all__ = [
    "AmendForm",
    "AreaFormSet",
    "CancelPlanForm",
    "CancelSessionForm",
    "ChangeResourcesForm",
    "ExtendForm",
    "MoveSessionForm",
    "OverrideForm",
    "PhotoForm",
    "PlanForm",
    "ReasonForm",
    "RecordForm",
    "RemovePhotoForm",
    "SeriesStartForm",
    "SessionRowForm",
    "SessionRowFormSet",
    "default_first_date",
]
