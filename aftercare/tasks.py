"""Celery tasks: thin wrappers that fetch and call one service."""

from celery import shared_task

from aftercare import services


@shared_task(ignore_result=True)
def dispatch_due_reminders() -> dict:
    """Beat runs this every CLINIC_DISPATCH_INTERVAL seconds; bookings nudge it."""
    report = services.dispatch_due()
    return {
        "claimed": report.claimed,
        "sent": report.sent,
        "failed": report.failed,
        "retried": report.retried,
        "skipped": report.skipped,
        "unknown": report.unknown,
    }
