"""Treatment plans and session series: every change is one transaction.

Appointments are only ever created or moved through ``clinic.services``, so the
clash and hours rules, and the database's no-overlap guarantee, hold for series too.

lifecycle.py starts, extends, cancels and completes a plan; series.py proposes
and books a series; changes.py moves, changes and cancels booked sessions.
"""

from plans.services.changes import (
    MovePreview,
    PlannedMove,
    Scope,
    booked_sessions_from,
    cancel_session,
    change_resources_from,
    mark_session_no_show,
    move_sessions,
    preview_move,
    session_seen,
    sessions_seen,
)
from plans.services.lifecycle import (
    NEVER_BOOKED,
    PlanError,
    StalePlan,
    cancel_plan,
    complete_plan,
    create_plan,
    extend_plan,
    hold_reason,
    later_consultations,
    live_sessions,
    may_not_go_beyond,
    place_in_course,
    record_consent,
    unbooked_count,
    why_no_plan,
    why_on_hold,
    window_for,
)
from plans.services.series import (
    SeriesRequest,
    book_series,
    course_seen,
    last_live_session,
    last_live_start,
    live_appointments,
    next_working_day,
    practitioner_to_follow,
    propose_for_plan,
    stops_medication_too_late,
)

__all__ = [
    "MovePreview",
    "NEVER_BOOKED",
    "PlanError",
    "PlannedMove",
    "Scope",
    "SeriesRequest",
    "StalePlan",
    "book_series",
    "cancel_plan",
    "cancel_session",
    "change_resources_from",
    "complete_plan",
    "course_seen",
    "create_plan",
    "extend_plan",
    "hold_reason",
    "may_not_go_beyond",
    "last_live_session",
    "live_appointments",
    "last_live_start",
    "later_consultations",
    "next_working_day",
    "live_sessions",
    "mark_session_no_show",
    "place_in_course",
    "booked_sessions_from",
    "practitioner_to_follow",
    "move_sessions",
    "preview_move",
    "propose_for_plan",
    "record_consent",
    "session_seen",
    "sessions_seen",
    "stops_medication_too_late",
    "unbooked_count",
    "why_no_plan",
    "why_on_hold",
    "window_for",
]
