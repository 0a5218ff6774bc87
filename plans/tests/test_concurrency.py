"""Two front-desk users confirm overlapping series at the same moment (PostgreSQL)."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User

from clinic import roles
from clinic.models import Appointment, Practitioner, Room
from clinic.scheduling import local_datetime
from clinic.tests.factories import PatientFactory, UserFactory, open_clinic
from clinic.tests.threads import at_once
from plans import records
from plans.models import SessionRecord, TreatmentPlan, TreatmentSession
from plans.scheduling import Proposal, State
from plans.services import (
    PlanError,
    SeriesRequest,
    StalePlan,
    book_series,
    cancel_plan,
    extend_plan,
    propose_for_plan,
)
from plans.tests.factories import TreatmentPlanFactory
from plans.tests.record_factories import add_session, entries, make_plan

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)
FIRST_DAY = date(2026, 11, 26)
ROUNDS = 4


@pytest.fixture(autouse=True)
def london(settings) -> None:
    settings.TIME_ZONE = "Europe/London"


@dataclass
class Outcome:
    booked: dict[int, list[TreatmentSession]] = field(default_factory=dict)
    refused: dict[int, PlanError] = field(default_factory=dict)
    crashed: list[BaseException] = field(default_factory=list)


def propose(plan: TreatmentPlan, first_start: datetime, room: Room) -> list[Proposal]:
    request = SeriesRequest(
        first_start=first_start,
        practitioner=plan.practitioner,
        room=room,
        chosen={},
    )
    return propose_for_plan(plan=plan, request=request, now=NOW)


def confirm_at_once(
    attempts: list[tuple[TreatmentPlan, list[Proposal], User]],
    practitioner: Practitioner,
) -> Outcome:
    """Book each plan's series in its own thread, all released together."""

    def confirm(plan: TreatmentPlan, proposals: list[Proposal], by: User):
        try:
            return plan.pk, book_series(
                plan=plan,
                proposals=proposals,
                practitioner=practitioner,
                by=by,
                now=NOW,
            )
        except PlanError as error:
            return plan.pk, error

    threads = at_once(*[lambda a=attempt: confirm(*a) for attempt in attempts])
    outcome = Outcome(crashed=threads.crashed)
    for pk, result in threads.results:
        if isinstance(result, PlanError):
            outcome.refused[pk] = result
        else:
            outcome.booked[pk] = result
    return outcome


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_of_two_overlapping_series_confirmed_at_once_one_is_booked_whole(
    practitioner, room, other_room, front_desk
):
    open_clinic(practitioner)
    colleague = UserFactory(username="frontdesk.two", role=roles.FRONT_DESK)

    for round_ in range(ROUNDS):
        # Each round at its own hour. In odd rounds the second series starts at
        # the first one's session 2, so only five of their six sessions clash.
        hour = 9 + 2 * round_
        offset = timedelta(days=28 * (round_ % 2))
        first, second = (
            TreatmentPlanFactory(
                patient=PatientFactory(), practitioner=practitioner, consented=True
            )
            for _ in range(2)
        )
        # Both pages were shown while the calendar was still free.
        first_series = propose(first, local_datetime(FIRST_DAY, time(hour)), room)
        second_series = propose(
            second, local_datetime(FIRST_DAY + offset, time(hour)), other_room
        )
        for series in (first_series, second_series):
            assert [p.state for p in series] == [State.AS_PLANNED] * 6

        outcome = confirm_at_once(
            [(first, first_series, front_desk), (second, second_series, colleague)],
            practitioner,
        )

        assert outcome.crashed == []
        assert len(outcome.booked) == len(outcome.refused) == 1
        [(winner_pk, sessions)] = outcome.booked.items()
        [(loser_pk, error)] = outcome.refused.items()
        assert [s.number for s in sessions] == [1, 2, 3, 4, 5, 6]
        assert str(error).startswith("Session ")
        assert str(error).endswith("can't be booked any more.")
        assert f"{practitioner} is already booked" in error.messages[1]
        # The winner's series is whole; the loser has nothing, not even the
        # sessions that did not clash.
        assert TreatmentSession.objects.filter(plan_id=winner_pk).count() == 6
        assert not TreatmentSession.objects.filter(plan_id=loser_pk).exists()
        loser = TreatmentPlan.objects.get(pk=loser_pk)
        assert loser.status == TreatmentPlan.Status.DRAFT
        assert not Appointment.objects.filter(
            patient_id=loser.patient_id, kind=Appointment.Kind.TREATMENT
        ).exists()

    treatments = Appointment.objects.filter(
        practitioner=practitioner, kind=Appointment.Kind.TREATMENT
    )
    assert treatments.count() == 6 * ROUNDS


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_new_record_saved_twice_at_once_is_one_record(practitioner, room):
    plan = make_plan(practitioner)
    session = add_session(plan, local_datetime(FIRST_DAY, time(10)), room)

    def save_draft(notes: str):
        record = SessionRecord(session_id=session.pk, notes=notes)
        return records.save_record(
            record=record,
            entries=entries({"face": ("1.00", 2)}),
            products=[],
            now=NOW + timedelta(days=3),
        )

    outcome = at_once(lambda: save_draft("first"), lambda: save_draft("second"))
    saved, crashed = outcome.results, outcome.crashed

    assert crashed == []
    assert len(saved) == 2
    [record] = SessionRecord.objects.filter(session=session)
    assert record.notes in ("first", "second")
    assert record.areas.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_add_a_session_sent_twice_at_once_adds_one(practitioner):
    plan = make_plan(practitioner, planned=6)

    def extend():
        return extend_plan(plan=plan, by=practitioner.user, seen=6)

    outcome = at_once(extend, extend)
    extended, crashed = outcome.results, outcome.crashed

    assert len(extended) == 1
    assert [type(error) for error in crashed] == [StalePlan]
    plan.refresh_from_db()
    assert plan.planned_sessions == 7


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_rest_of_a_plan_cancelled_twice_at_once_is_cancelled_once(
    practitioner, room, front_desk
):
    """Its own transaction, whoever calls it: the plan's row is locked, so the
    second finds it ended (outside one, PostgreSQL refuses the lock at once)."""
    plan = make_plan(practitioner)
    for week in range(2):
        add_session(
            plan, local_datetime(FIRST_DAY + timedelta(weeks=4 * week), time(10)), room
        )

    def cancel():
        return cancel_plan(plan=plan, reason="Moving abroad", by=front_desk, now=NOW)

    outcome = at_once(cancel, cancel)

    assert outcome.results == [2]
    assert [str(error) for error in outcome.crashed] == ["This plan has already ended."]
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.CANCELLED
    assert not Appointment.objects.filter(
        treatment_session__plan=plan, status=Appointment.Status.BOOKED
    ).exists()
