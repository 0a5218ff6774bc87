"""factory_boy factories for consultations and treatment plans."""

from datetime import UTC, datetime, timedelta

import factory

from clinic.models import Appointment, Area, Consultation
from clinic.tests.factories import (
    AppointmentFactory,
    PatientFactory,
    PractitionerFactory,
    RoomFactory,
    UserFactory,
)
from plans.models import Protocol, TreatmentPlan

# Consultations happened long ago, an hour apart, in a room no series can use.
CONSULTATIONS_FROM = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


class ConsultationFactory(factory.django.DjangoModelFactory):
    """An eligible consultation, tied to its (past) consultation appointment."""

    class Meta:
        model = Consultation

    patient = factory.SubFactory(PatientFactory)
    appointment = factory.SubFactory(
        AppointmentFactory,
        patient=factory.SelfAttribute("..patient"),
        kind=Appointment.Kind.CONSULTATION,
        status=Appointment.Status.COMPLETED,
        room=factory.SubFactory(RoomFactory, name="Consulting room", is_active=False),
        start=factory.Sequence(lambda n: CONSULTATIONS_FROM + timedelta(hours=n)),
    )
    # Every area screened, unless a test says otherwise: plans and records may
    # treat only the areas their consultation looked at.
    areas = factory.LazyFunction(lambda: list(Area.values))
    goals = factory.LazyFunction(lambda: ["lines"])
    # Asked every screening question, and no to each.
    active_infection = False
    isotretinoin = False
    pregnant = False
    keloid_tendency = False
    anticoagulants = False
    recent_sunburn = False
    decision = Consultation.Decision.ELIGIBLE
    decided_by = factory.SubFactory(UserFactory)
    decided_at = factory.LazyAttribute(lambda c: c.appointment.end)


def standard() -> Protocol:
    return Protocol.objects.get(name="Standard")


def surgical() -> Protocol:
    return Protocol.objects.get(name="Surgical scars and stretch marks")


class TreatmentPlanFactory(factory.django.DjangoModelFactory):
    """A draft Standard plan of six sessions; ``consented=True`` records consent."""

    class Meta:
        model = TreatmentPlan

    class Params:
        consented = factory.Trait(
            consent_by=factory.SubFactory(UserFactory),
            consented_at=factory.LazyAttribute(lambda p: p.consultation.decided_at),
        )

    patient = factory.SubFactory(PatientFactory)
    consultation = factory.SubFactory(
        ConsultationFactory, patient=factory.SelfAttribute("..patient")
    )
    protocol = factory.LazyFunction(standard)
    areas = factory.LazyFunction(lambda: ["face"])
    practitioner = factory.SubFactory(PractitionerFactory)
    planned_sessions = 6
    spacing_days = factory.LazyAttribute(lambda p: p.protocol.target_spacing_days)
