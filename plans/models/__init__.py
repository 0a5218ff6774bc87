"""The plans' models, one module per area; import them from here."""

from plans.models.courses import (
    MAX_PLANNED_SESSIONS,
    MAX_SPACING_DAYS,
    MIN_HEALING_DAYS,
    Protocol,
    TreatmentPlan,
    TreatmentPlanQuerySet,
    TreatmentSession,
)
from plans.models.records import (
    MAX_DEPTH_MM,
    MIN_DEPTH_MM,
    Amendment,
    Photo,
    PhotoRemoval,
    Product,
    ProductAfter,
    Redness,
    SessionRecord,
    TreatedArea,
    _photo_path,
    _thumbnail_path,
)

__all__ = [
    "MAX_DEPTH_MM",
    "MAX_PLANNED_SESSIONS",
    "MAX_SPACING_DAYS",
    "MIN_HEALING_DAYS",
    "MIN_DEPTH_MM",
    "Amendment",
    "Photo",
    "PhotoRemoval",
    "Product",
    "ProductAfter",
    "Protocol",
    "Redness",
    "SessionRecord",
    "TreatedArea",
    "TreatmentPlan",
    "TreatmentPlanQuerySet",
    "TreatmentSession",
    # Named by migration 0003 as plans.models._photo_path / _thumbnail_path.
    "_photo_path",
    "_thumbnail_path",
]
