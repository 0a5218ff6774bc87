"""The series engine: propose and book a 10-session course for a practitioner
whose calendar is booked for the year ahead, timed through the plan services.

Each plan comes from an eligible consultation of its own patient, so the
figures include what the front desk's page would pay: the plan's counts, the
calendar snapshot and the engine (propose), and the locks, checks and inserts
of the whole series in its own transaction (book).
"""

import statistics
import sys
import time
from collections import Counter
from datetime import date, timedelta
from datetime import time as clock

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench import BenchmarkFailed, Figures
from bench.data import Clinic
from clinic.models import (
    Appointment,
    Area,
    Consultation,
    Goal,
    local_midnight,
    screened,
)
from clinic.scheduling import local_datetime
from plans import services
from plans.models import Protocol, TreatmentPlan
from plans.scheduling import Proposal, State

# Ten sessions is inside this protocol's range, so no exception reason is needed.
PROTOCOL = "Surgical scars and stretch marks"
SESSIONS = 10
WARMUPS = 1
PROPOSE_RUNS = 5
BOOK_RUNS = 5
# The booking benchmark tries first dates a week apart (the engine itself
# searches the week after each for the first session), for about two months
# so that the series stays inside the generated year.
SEARCH_STEP_DAYS = 7
SEARCH_ATTEMPTS = 8
# Inside the bench's morning shift on every working day, Saturdays included.
SESSION_TIME = clock(10)
# Before any shift of the bench's hours, so no generated appointment overlaps
# the consultations behind the plans.
CONSULTATION_TIME = clock(7)


def propose_empty(clinic: Clinic) -> Figures:
    ms, _, _ = _measure_propose(clinic, patient_index=0)
    return {"series_propose_10_ms_empty": ms}


def propose_full(clinic: Clinic) -> Figures:
    ms, queries, proposals = _measure_propose(clinic, patient_index=1)
    _describe(proposals, clinic)
    return {"series_propose_10_ms": ms, "series_propose_10_queries": queries}


def book_full(clinic: Clinic) -> Figures:
    """Book the same series BOOK_RUNS times, each time for a fresh plan of
    another patient, then once more to count its queries.

    Every booking commits, as a real one does; cancelling the plan afterwards
    (untimed) frees the slots, so each run books onto the same calendar.
    """
    plan = _new_plan(clinic, patient_index=2)
    proposals = _bookable_series(clinic, plan)
    timings = []
    for run in range(BOOK_RUNS + 1):
        if run:
            # Patients 0 and 1 hold the plans of the propose benchmarks. Each
            # patient has appointments of their own in the generated years: the
            # series is proposed for each plan (untimed), as the page would.
            plan = _new_plan(clinic, patient_index=2 + run)
            proposals = _bookable_series(clinic, plan, quiet=True)
        if run < BOOK_RUNS:
            started = time.perf_counter()
            _book(plan, proposals, clinic)
            timings.append(time.perf_counter() - started)
        else:
            with CaptureQueriesContext(connection) as queries:
                _book(plan, proposals, clinic)
        services.cancel_plan(
            plan=plan, reason="Benchmark run.", by=clinic.front_desk, now=clinic.now
        )
    return {
        "series_book_10_ms": _ms(statistics.median(timings)),
        "series_book_10_queries": len(queries.captured_queries),
    }


def _measure_propose(
    clinic: Clinic, *, patient_index: int
) -> tuple[float, int, list[Proposal]]:
    """The median time of PROPOSE_RUNS proposals in milliseconds (after WARMUPS),
    the number of queries of one, and its proposals."""
    plan = _new_plan(clinic, patient_index=patient_index)
    request = _request(clinic, days_ahead=1)
    for _ in range(WARMUPS):
        _propose(plan, request, clinic)
    timings = []
    for _ in range(PROPOSE_RUNS):
        started = time.perf_counter()
        _propose(plan, request, clinic)
        timings.append(time.perf_counter() - started)
    # Counted on a run of its own: capturing queries slows the run down.
    with CaptureQueriesContext(connection) as queries:
        proposals = _propose(plan, request, clinic)
    return _ms(statistics.median(timings)), len(queries.captured_queries), proposals


def _propose(
    plan: TreatmentPlan, request: services.SeriesRequest, clinic: Clinic
) -> list[Proposal]:
    proposals = services.propose_for_plan(plan=plan, request=request, now=clinic.now)
    if len(proposals) != SESSIONS:
        raise BenchmarkFailed(
            f"propose_for_plan proposed {len(proposals)} sessions, not {SESSIONS}"
        )
    return proposals


def _bookable_series(
    clinic: Clinic, plan: TreatmentPlan, *, quiet: bool = False
) -> list[Proposal]:
    """The first series from tomorrow on with a slot for every session, trying
    first dates a week apart as the front desk would.

    On the full calendar only about one day in three has an hour free for the
    practitioner, so a series may have a session without a slot in its window.
    """
    for attempt in range(SEARCH_ATTEMPTS):
        request = _request(clinic, days_ahead=1 + attempt * SEARCH_STEP_DAYS)
        # The practitioner's own room: where "any free room" puts the sessions
        # anyway (first by name, and free whenever the practitioner is), but
        # loaded much faster, which keeps the search short.
        request.room = clinic.rooms[0]
        proposals = _propose(plan, request, clinic)
        if all(p.is_bookable for p in proposals):
            if quiet:
                return proposals
            states = Counter(p.state for p in proposals)
            _progress(
                f"booking the series from {request.first_start:%Y-%m-%d} to "
                f"{timezone.localdate(proposals[-1].start)} "
                f"({states[State.MOVED]} of {SESSIONS} sessions moved; "
                f"{attempt} earlier first date(s) left a session without a slot)"
            )
            _warn_unless_busy(proposals, clinic)
            return proposals
    raise BenchmarkFailed(
        f"no series of {SESSIONS} sessions with a slot for each in "
        f"{SEARCH_ATTEMPTS} first dates a week apart"
    )


def _book(plan: TreatmentPlan, proposals: list[Proposal], clinic: Clinic) -> None:
    try:
        sessions = services.book_series(
            plan=plan,
            proposals=proposals,
            practitioner=clinic.practitioners[0],
            by=clinic.front_desk,
            now=clinic.now,
        )
    except services.PlanError as exc:
        raise BenchmarkFailed(
            f"book_series refused the proposed series: {' '.join(exc.messages)}"
        ) from exc
    if len(sessions) != SESSIONS:
        raise BenchmarkFailed(f"book_series booked {len(sessions)}, not {SESSIONS}")


def _new_plan(clinic: Clinic, *, patient_index: int) -> TreatmentPlan:
    """A draft plan with consent, from an eligible consultation in the past.

    Each patient's consultation is on a day of its own, so they don't overlap.
    """
    practitioner = clinic.practitioners[0]
    patient_id = _without_a_course(clinic)[patient_index]
    consulted_on = timezone.localdate(clinic.now) - timedelta(days=1 + patient_index)
    start = local_datetime(consulted_on, CONSULTATION_TIME)
    appointment = Appointment.objects.create(
        patient_id=patient_id,
        practitioner=practitioner,
        room=clinic.rooms[0],
        start=start,
        end=start + timedelta(minutes=30),
        kind=Appointment.Kind.CONSULTATION,
        status=Appointment.Status.COMPLETED,
        checked_in_at=start,
        booked_by=clinic.front_desk,
    )
    consultation = Consultation.objects.create(
        appointment=appointment,
        patient_id=patient_id,
        areas=[Area.BODY],
        goals=[Goal.SURGICAL_SCARS],
        **screened(),
        decision=Consultation.Decision.ELIGIBLE,
        decided_by=practitioner.user,
        decided_at=start,
    )
    protocol = Protocol.objects.get(name=PROTOCOL)
    return services.create_plan(
        consultation=consultation,
        protocol=protocol,
        practitioner=practitioner,
        planned_sessions=SESSIONS,
        spacing_days=protocol.target_spacing_days,
        areas=[Area.BODY],
        consent=True,
        by=practitioner.user,
        now=clinic.now,
    )


def _without_a_course(clinic: Clinic) -> list[int]:
    """The patients with no open plan, in order: the generated history gives
    some an open course for the area these plans treat, which one more would
    overlap (create_plan refuses it)."""
    under_way = set(TreatmentPlan.objects.open().values_list("patient_id", flat=True))
    return [pk for pk in clinic.patient_ids if pk not in under_way]


def _request(clinic: Clinic, *, days_ahead: int) -> services.SeriesRequest:
    """A series from ``days_ahead`` days after now (Sundays skipped: the bench
    clinic is closed), at SESSION_TIME, in any free room."""
    day = timezone.localdate(clinic.now) + timedelta(days=days_ahead)
    if day.weekday() == 6:
        day += timedelta(days=1)
    return services.SeriesRequest(
        first_start=local_datetime(day, SESSION_TIME),
        practitioner=clinic.practitioners[0],
        room=None,
        chosen={},
    )


def _describe(proposals: list[Proposal], clinic: Clinic) -> None:
    """Say on stderr what the engine did on the full calendar, and warn when the
    series missed the generated bookings (then it measured an empty calendar)."""
    states = Counter(p.state for p in proposals)
    _progress(
        f"series on the full calendar: {states[State.AS_PLANNED]} as planned, "
        f"{states[State.MOVED]} moved, {states[State.NO_SLOT]} without a slot "
        f"in the window"
    )
    for p in proposals:
        what = {
            State.AS_PLANNED: "as planned",
            State.MOVED: p.describe_shift(),
            State.NO_SLOT: "no slot",
        }
        _progress(
            f"  session {p.index + 1}: {timezone.localtime(p.start):%a %Y-%m-%d %H:%M}"
            f" {p.room}, {p.spacing_days or '-'} days after the one before"
            f" ({what.get(p.state, p.state)})"
        )
    _warn_unless_busy(proposals, clinic)
    if not states[State.MOVED]:
        _progress("warning: no session was moved, is the calendar really full?")


def _warn_unless_busy(proposals: list[Proposal], clinic: Clinic) -> None:
    booked_days = _days_with_bookings(clinic, proposals)
    if booked_days < len(proposals):
        _progress(
            f"warning: only {booked_days} of the {len(proposals)} session days "
            "hold generated bookings for the practitioner"
        )


def _days_with_bookings(clinic: Clinic, proposals: list[Proposal]) -> int:
    days: set[date] = {timezone.localdate(p.start) for p in proposals}
    booked = (
        Appointment.objects.active()
        .filter(
            practitioner=clinic.practitioners[0],
            start__gte=local_midnight(min(days)),
            start__lt=local_midnight(max(days) + timedelta(days=1)),
        )
        .values_list("start", flat=True)
    )
    return len(days & {timezone.localdate(start) for start in booked})


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
