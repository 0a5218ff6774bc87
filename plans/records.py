"""Session records: record, complete and sign, amend (photos: plans.photos).

A signed record is locked. Every later change is an amendment with a reason that
keeps each changed value before and after. Signing completes the appointment;
the record's end time is when the aftercare clock starts.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinic import services as booking
from clinic.models import Appointment, Area, Consultation
from clinic.roles import is_practitioner, staff_name
from clinic.scheduling import when_text
from plans.models import (
    Amendment,
    Product,
    SessionRecord,
    TreatedArea,
    TreatmentSession,
)
from plans.services import PlanError
from plans.services.lifecycle import later_consultations_and_refusals, not_screened

# The record fields an amendment may change, in the order they are shown.
AMENDABLE = [
    "device",
    "cartridge_lot",
    "numbing_agent",
    "numbing_other",
    "numbing_minutes",
    "redness",
    "pinpoint_bleeding",
    "adverse_events",
    "notes",
    "started_at",
    "ended_at",
]
# A recorded start or end this far from the booked time is a typing slip.
TIMES_NEAR_BOOKING = timedelta(hours=12)
LONGEST_SESSION = timedelta(hours=8)


@dataclass(frozen=True)
class AreaEntry:
    area: str
    depth_mm: Decimal
    passes: int


def previous_record(session: TreatmentSession) -> SessionRecord | None:
    """The latest signed record of an earlier session of the same plan."""
    return (
        SessionRecord.objects.filter(
            session__plan_id=session.plan_id,
            signed_at__isnull=False,
            session__appointment__start__lt=session.appointment.start,
        )
        .select_related("numbing_agent")
        .prefetch_related("areas", "products_after")
        .order_by("-session__appointment__start")
        .first()
    )


# A check-in clicked a little after the patient sat down is usual; more than this
# before it is likely a mistyped time.
CHECK_IN_SLACK = timedelta(minutes=30)
# Numbing alone takes longer: a shorter session is likely a mistyped time.
SHORTEST_LIKELY_SESSION = timedelta(minutes=15)


class TimesToCheck(PlanError):
    """Signing waits for the practitioner to confirm times that look wrong."""


def _hh_mm(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


def time_warnings(record: SessionRecord) -> list[str]:
    """Times that are allowed but look mistyped, flagged as aftercare runs from
    the end: an end before the patient was checked in, a start well before it
    (the check-in may have been clicked late), or a session of a few minutes."""
    warnings = []
    checked_in = record.session.appointment.checked_in_at
    # To the minute, as times are typed.
    arrived = checked_in and checked_in.replace(second=0, microsecond=0)
    started, ended = record.started_at, record.ended_at
    if arrived and started and started < arrived - CHECK_IN_SLACK:
        warnings.append(
            _(
                "The session is recorded as starting at %(start)s, before the "
                "patient was checked in (%(checked_in)s): check the times."
            )
            % {"start": _hh_mm(started), "checked_in": _hh_mm(checked_in)}
        )
    elif arrived and ended and ended < arrived:
        warnings.append(
            _(
                "The session is recorded as ending at %(end)s, before the patient "
                "was checked in (%(checked_in)s): check the times."
            )
            % {"end": _hh_mm(ended), "checked_in": _hh_mm(checked_in)}
        )
    if (
        record.started_at is not None
        and record.ended_at is not None
        and record.ended_at - record.started_at < SHORTEST_LIKELY_SESSION
    ):
        minutes = int((record.ended_at - record.started_at).total_seconds() // 60)
        warnings.append(
            ngettext(
                "The session is recorded as lasting %(n)s minute: check the times.",
                "The session is recorded as lasting %(n)s minutes: check the times.",
                minutes,
            )
            % {"n": minutes}
        )
    return warnings


def depth_warnings(
    entries: list[AreaEntry], previous: SessionRecord | None
) -> list[str]:
    """Areas needled deeper than at the previous session (allowed, but flagged)."""
    if previous is None:
        return []
    before = {a.area: a.depth_mm for a in previous.areas.all()}
    return [
        _("%(area)s: %(now)s mm is deeper than last time (%(before)s mm).")
        % {
            "area": Area(e.area).label,
            # Two decimals, as the record shows depths.
            "now": f"{e.depth_mm:.2f}",
            "before": f"{before[e.area]:.2f}",
        }
        for e in entries
        if e.area in before and e.depth_mm > before[e.area]
    ]


def check_session(session: TreatmentSession) -> None:
    status = session.appointment.status
    if status in Appointment.LOST_STATUSES:
        raise PlanError(
            _("This session was %(status)s: there is nothing to record.")
            % {"status": session.appointment.status_phrase}
        )


def _check_times(
    record: SessionRecord, now: datetime, *, allow_future: bool = False
) -> None:
    started, ended = record.started_at, record.ended_at
    if started and ended and ended <= started:
        raise PlanError(_("The end must be after the start."))
    appointment = record.session.appointment
    for moment in (started, ended):
        if moment is not None and not (
            appointment.start - TIMES_NEAR_BOOKING
            <= moment
            <= appointment.end + TIMES_NEAR_BOOKING
        ):
            raise PlanError(
                _(
                    "The session was booked for %(when)s: its recorded start and "
                    "end must lie within %(hours)s hours of that. Check the dates."
                )
                % {
                    "when": when_text(appointment.start),
                    "hours": int(TIMES_NEAR_BOOKING / timedelta(hours=1)),
                }
            )
    if started and ended and ended - started > LONGEST_SESSION:
        raise PlanError(
            _("A session can't last over %(hours)s hours: check the start and end.")
            % {"hours": int(LONGEST_SESSION / timedelta(hours=1))}
        )
    # A draft saved mid-session may carry the planned end; a signed one may not.
    if not allow_future and ended and ended > now:
        if timezone.localdate(appointment.start) > timezone.localdate(now):
            raise PlanError(
                _(
                    "This session is booked for %(when)s: it is signed once it "
                    "has taken place (a draft can be saved now)."
                )
                % {"when": when_text(appointment.start)}
            )
        raise PlanError(_("The end of the session can't be in the future."))


def treatable_areas(
    session: TreatmentSession, record: SessionRecord | None = None
) -> list[str]:
    """The areas a session may record (and photograph): those its consultation
    screened, and any its record (read if not given) holds already, kept from
    before the rule."""
    screened = list(session.plan.consultation.areas)
    if record is None:
        record = SessionRecord.objects.filter(session=session).first()
    if record is not None and record.pk is not None:
        # .all(): the record pages prefetch its areas.
        screened += [t.area for t in record.areas.all() if t.area not in screened]
    return screened


def unscreened_refusal(
    session: TreatmentSession,
    areas: list[str],
    record: SessionRecord | None = None,
) -> str:
    """Why areas the consultation didn't screen can't be recorded ("" if none)."""
    unscreened = not_screened(areas, treatable_areas(session, record))
    if not unscreened:
        return ""
    return unscreened + " " + _("Add the area to the consultation first.")


def _save_areas(record: SessionRecord, entries: list[AreaEntry]) -> None:
    if len({e.area for e in entries}) != len(entries):
        raise PlanError(_("Each area can be listed once."))
    refusal = unscreened_refusal(record.session, [e.area for e in entries], record)
    if refusal:
        raise PlanError(refusal)
    record.areas.all().delete()
    TreatedArea.objects.bulk_create(
        TreatedArea(record=record, area=e.area, depth_mm=e.depth_mm, passes=e.passes)
        for e in entries
    )


class StaleRecord(PlanError):
    """The record changed since the page that changes it was opened."""


NEW_RECORD = "new"


def seen_stamp(record: SessionRecord | None, appointment: Appointment) -> str:
    """What the record form remembers of the draft it showed, and of when its
    session was booked (see save_record): a session moved meanwhile starts its
    form from other times."""
    saved = (
        NEW_RECORD
        if record is None or record.pk is None
        else record.updated_at.isoformat()
    )
    return f"{saved}|{appointment.start.isoformat()}"


@transaction.atomic
def save_record(
    *,
    record: SessionRecord,
    entries: list[AreaEntry],
    products: list[Product],
    now: datetime | None = None,
    seen: str | None = None,
    by: AbstractBaseUser | None = None,
) -> SessionRecord:
    """Save a draft record (not yet signed), ``by`` whom (kept as the draft's
    last writer).

    ``seen``: seen_stamp() as the form showed it (when the draft was last
    saved, and the session's booked start); if the draft was saved or the
    session moved since, nothing is saved (the other save would be undone, or
    times typed from the old booking kept). Without ``seen``, a new
    record saved twice at once (a second click) becomes one record: the second
    save, waiting on the session's lock, finds the first and saves onto it.
    """
    now = now or timezone.now()
    # no_key: a session row that a new replacement session points at is locked
    # that lighter way too, so the two wait for each other rather than deadlock.
    session = (
        TreatmentSession.objects.select_for_update(no_key=True)
        .select_related("appointment")
        .get(pk=record.session_id)
    )
    locked = (
        SessionRecord.objects.select_for_update()
        .filter(session_id=record.session_id)
        .first()
    )
    if locked is not None and locked.is_signed:
        raise StaleRecord(
            _(
                "This record was signed while your page was open, so your changes "
                "were not saved: amend it to change it."
            )
        )
    if seen is not None and seen != seen_stamp(locked, session.appointment):
        raise StaleRecord(
            _(
                "This record was saved while your page was open (by a colleague, "
                "a second click, or the session's move, which moves its times), "
                "so your changes were not saved. Here it is as it is now: make "
                "your change again."
            )
        )
    if locked is not None:
        record.pk, record.created_at = locked.pk, locked.created_at
        record._state.adding = False
    # As it is now, locked: it may have been cancelled while the page was open.
    check_session(session)
    record.session = session
    _check_times(record, now, allow_future=True)
    if by is not None:
        record.last_saved_by = by
    record.save()
    _save_areas(record, entries)
    record.products_after.set(products)
    return record


@transaction.atomic
def sign_record(
    *,
    record: SessionRecord,
    by: AbstractBaseUser,
    now: datetime | None = None,
    despite_decision: bool = False,
    times_checked: bool = False,
    drafted_by: AbstractBaseUser | None = None,
    draft_read: bool = False,
    stood_in: bool = False,
) -> SessionRecord:
    """Complete the session and sign its record; the record is locked from now on.

    ``drafted_by``: who saved the draft last before the signer (as the signing
    page showed it); a colleague's draft is signed only once the signer has
    ticked that they read it (``draft_read``): the signature puts their name to
    what it says. A session booked with a colleague is signed once the signer
    has ticked that they treated the patient in their place (``stood_in``).

    ``despite_decision``: the practitioner has read that the plan's consultation
    no longer says eligible (changed after the plan began) and signs a session
    that took place all the same.

    ``times_checked``: the practitioner has checked times that time_warnings()
    questions (a start well before the check-in): the record is locked once
    signed, and aftercare runs from its end.
    """
    now = now or timezone.now()
    record = (
        SessionRecord.objects.select_for_update()
        .select_related("session__appointment", "session__plan__consultation")
        .get(pk=record.pk)
    )
    if record.is_signed:
        raise PlanError(_("This session is already completed and signed."))
    if not is_practitioner(by):
        raise PlanError(_("Only a practitioner can complete and sign a session."))
    # Every problem at once, not one per try.
    refused, problems = to_read_before_signing(
        record,
        by=by,
        despite_decision=despite_decision,
        drafted_by=drafted_by,
        draft_read=draft_read,
        stood_in=stood_in,
    )
    missing = []
    if not record.started_at or not record.ended_at:
        missing.append(_("the start and end times"))
    if not record.areas.exists():
        missing.append(_("at least one treated area with its needle depth"))
    if not record.redness:
        missing.append(_("the redness seen"))
    if missing:
        problems.append(
            _("Before signing, add %(what)s.")
            % {
                "what": _(" and ").join(
                    [", ".join(missing[:-1]), missing[-1]]
                    if len(missing) > 1
                    else missing
                )
            }
        )
    try:
        _check_times(record, now)
    except PlanError as error:
        problems += error.messages
    questioned = [] if times_checked else time_warnings(record)
    if questioned:
        problems.append(
            " ".join(questioned)
            + " "
            + _("If they are right, tick that you have checked them, and sign.")
        )
    if problems:
        # With a times' question, the page offers the tick to answer it.
        refusal = TimesToCheck if questioned else PlanError
        raise refusal(problems[0], messages=problems[1:])
    try:
        booking.complete_appointment(
            appointment=record.session.appointment,
            by=by,
            ended_at=record.ended_at,
            now=now,
        )
    except booking.BookingError as error:
        raise PlanError(error.messages[0]) from error
    record.signed_by = by
    record.signed_at = now
    if refused:
        record.signed_despite = refused
    record.save(
        update_fields=["signed_by", "signed_at", "signed_despite", "updated_at"]
    )
    return record


def to_read_before_signing(
    record: SessionRecord,
    *,
    by: AbstractBaseUser,
    despite_decision: bool,
    drafted_by: AbstractBaseUser | None,
    draft_read: bool,
    stood_in: bool = False,
) -> tuple[str, list[str]]:
    """What sign_record() asks the signer to read and tick first, whatever the
    record's values (said beside a form's own errors too): a session booked
    with a colleague, a colleague's draft, and a consultation that no longer
    says eligible. With the decision signed despite ("" if none)."""
    problems = []
    booked_with = record.session.appointment.practitioner
    if booked_with.user_id != by.pk and not stood_in:
        problems.append(
            _(
                "This session is booked with %(name)s: if you treated the patient "
                "in their place, tick that you did, and sign it in your name."
            )
            % {"name": booked_with}
        )
    if drafted_by is not None and drafted_by.pk != by.pk and not draft_read:
        problems.append(
            _(
                "%(name)s wrote this draft: read it, tick that you have, and sign "
                "it in your name (or save it as a draft for them to sign)."
            )
            % {"name": staff_name(drafted_by)}
        )
    consultation = record.session.plan.consultation
    # The plan's consultation, or a later one that refuses or refers the
    # patient (which holds the plan): read before signing a session that took
    # place all the same, and kept on the signed record.
    refusal = later_consultations_and_refusals([record.session.plan])[1].get(
        record.session.plan_id
    )
    if consultation.decision != consultation.Decision.ELIGIBLE:
        refused = consultation.decision
        said = _("The consultation this plan started from now says %(decision)s.")
    elif refusal is not None:
        refused = refusal.decision
        said = _("A later consultation of the patient says %(decision)s.")
    else:
        refused = ""
    if refused and not despite_decision:
        read_it = _(
            "Read it before signing; if the session took place, tick that you "
            "have, and sign."
        )
        problems.append(
            f"{said} {read_it}"
            % {"decision": Consultation.Decision(refused).label.lower()}
        )
    return refused, problems


def _display(record: SessionRecord, field: str) -> str:
    value = getattr(record, field)
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%d %b %Y %H:%M")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    display = getattr(record, f"get_{field}_display", None)
    return str(display() if display else value)


def _areas_text(entries) -> str:
    return (
        ", ".join(
            # Two decimals, as stored: "1" and "1.00" are the same depth.
            f"{Area(e.area).label} {e.depth_mm:.2f} mm x{e.passes}"
            for e in sorted(entries, key=lambda e: e.area)
        )
        or "—"
    )


@transaction.atomic
def amend_record(
    *,
    record: SessionRecord,
    changes: dict,
    entries: list[AreaEntry] | None,
    products: list[Product] | None,
    reason: str,
    by: AbstractBaseUser,
    now: datetime | None = None,
    seen: int | None = None,
    times_checked: bool = False,
) -> Amendment:
    """Change a signed record, keeping who, when, why and every value before/after.

    ``seen``: how many amendments the record had when the change was prepared; if
    someone amended it since, nothing is saved (their change would be undone).

    ``times_checked``: as for sign_record(), for a start amended to well before
    the check-in.
    """
    now = now or timezone.now()
    if not is_practitioner(by):
        raise PlanError(_("Only a practitioner can amend a signed record."))
    reason = reason.strip()
    if not reason:
        raise PlanError(_("An amendment needs a reason."))
    record = SessionRecord.objects.select_for_update().get(pk=record.pk)
    if not record.is_signed:
        raise PlanError(_("This record is not signed yet: edit it directly."))
    if seen is not None and record.amendments.count() != seen:
        raise StaleRecord(
            _(
                "Someone amended this record while you had it open (a colleague, "
                "or this form sent twice). Here it is as it is now: make your "
                "change again if it is still needed."
            )
        )
    diff = []
    for field in AMENDABLE:
        if field not in changes:
            continue
        before = _display(record, field)
        setattr(record, field, changes[field])
        after = _display(record, field)
        if before != after:
            label = str(SessionRecord._meta.get_field(field).verbose_name)
            diff.append(
                {"field": field, "label": label, "before": before, "after": after}
            )
    if entries is not None:
        before = _areas_text(record.areas.all())
        after = _areas_text(entries)
        if before != after:
            diff.append(
                {
                    "field": "areas",
                    "label": str(_("areas")),
                    "before": before,
                    "after": after,
                }
            )
    if products is not None:
        before = ", ".join(sorted(p.name for p in record.products_after.all())) or "—"
        after = ", ".join(sorted(p.name for p in products)) or "—"
        if before != after:
            diff.append(
                {
                    "field": "products_after",
                    "label": str(_("products applied after")),
                    "before": before,
                    "after": after,
                }
            )
    if not diff:
        raise PlanError(_("Nothing was changed."))
    if entries is not None and not entries:
        raise PlanError(_("A signed record keeps at least one treated area."))
    if record.started_at is None or record.ended_at is None:
        raise PlanError(_("A signed record keeps its start and end times."))
    _check_times(record, now)
    questioned = time_warnings(record)
    if (
        questioned
        and not times_checked
        and any(d["field"] in ("started_at", "ended_at") for d in diff)
    ):
        raise TimesToCheck(
            " ".join(questioned)
            + " "
            + _("If they are right, tick that you have checked them, and save.")
        )
    record.save()
    if entries is not None:
        _save_areas(record, entries)
    if products is not None:
        record.products_after.set(products)
    if any(change["field"] == "ended_at" for change in diff):
        # The aftercare clock starts at the recorded end: let it follow.
        booking.notify(
            "end_changed",
            [record.session.appointment],
            now=now,
            ended_at=record.ended_at,
        )
    return Amendment.objects.create(
        record=record, by=by, at=now, reason=reason, changes=diff
    )
