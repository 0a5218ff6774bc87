"""Plan patient emails with the bookings, and send them when due.

Delivery guarantee: a row is never dropped silently and never sent twice
silently. A worker that dies mid-send leaves its rows "sending" with an expired
lease; the next dispatch marks them "unknown" for staff to check and resend.

planning.py writes the rows with each booking change; dispatch.py claims and
sends due rows; outbox.py holds the staff's resend and cancel; optout.py the
signed unsubscribe links.
"""

from aftercare.services.dispatch import (
    DispatchReport,
    Late,
    backoff,
    booked_in_place,
    claim,
    dispatch_due,
    expire_leases,
    in_quiet_hours,
    late_emails,
    lease,
    message_id_for,
    moved_from,
)
from aftercare.services.optout import (
    UNSUBSCRIBE_SALT,
    on_patient_event,
    patient_for_token,
    resume_emails,
    unsubscribe,
    unsubscribe_token,
    unsubscribe_url,
)
from aftercare.services.outbox import (
    OutboxError,
    cancel,
    emails_to_check,
    resend,
    send_copy,
    timeline,
    why_not_copy,
    why_not_resend,
    with_held,
)
from aftercare.services.planning import (
    INCLUDED,
    cancel_pending,
    on_appointment_event,
    plan_aftercare,
    plan_booking,
    plan_cancellation,
    plan_move,
    retime_aftercare,
    retime_for_rule,
    rules,
    save_rule,
    versions_of,
    wall_clock_offset,
)
from aftercare.services.told import mark_starts_when_sent

__all__ = [
    "INCLUDED",
    "UNSUBSCRIBE_SALT",
    "DispatchReport",
    "Late",
    "OutboxError",
    "backoff",
    "booked_in_place",
    "cancel",
    "cancel_pending",
    "emails_to_check",
    "claim",
    "dispatch_due",
    "expire_leases",
    "in_quiet_hours",
    "late_emails",
    "lease",
    "mark_starts_when_sent",
    "message_id_for",
    "moved_from",
    "on_appointment_event",
    "on_patient_event",
    "patient_for_token",
    "plan_aftercare",
    "plan_booking",
    "plan_cancellation",
    "plan_move",
    "resend",
    "send_copy",
    "resume_emails",
    "retime_aftercare",
    "retime_for_rule",
    "save_rule",
    "rules",
    "timeline",
    "unsubscribe",
    "unsubscribe_token",
    "unsubscribe_url",
    "versions_of",
    "why_not_copy",
    "why_not_resend",
    "with_held",
    "wall_clock_offset",
]
