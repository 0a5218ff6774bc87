"""factory_boy factories shared by every app's tests."""

from datetime import date, datetime, time, timedelta

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from clinic import roles
from clinic.models import (
    Appointment,
    OpeningHours,
    Patient,
    Practitioner,
    Room,
    TimeOff,
    WorkingHours,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@staff.example")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))
            if extracted == roles.MANAGER:
                self.is_staff = True
                self.save(update_fields=["is_staff"])


class PractitionerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Practitioner

    user = factory.SubFactory(UserFactory, role=roles.PRACTITIONER)
    title = Practitioner.Title.AESTHETICIAN


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Room {n + 1}")


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = date(1990, 5, 17)
    email = factory.LazyAttributeSequence(
        lambda p, n: f"{p.first_name.lower()}.{n}@patients.example"
    )
    phone = "+44 7700 900123"
    email_consent = True


class AppointmentFactory(factory.django.DjangoModelFactory):
    """An appointment written straight to the table (no hours checks): for setup."""

    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    practitioner = factory.SubFactory(PractitionerFactory)
    room = factory.SubFactory(RoomFactory)
    start = factory.LazyFunction(
        lambda: timezone.make_aware(
            datetime.combine(timezone.localdate() + timedelta(days=1), time(10))
        )
    )
    end = factory.LazyAttribute(lambda a: a.start + timedelta(hours=1))
    kind = Appointment.Kind.CONSULTATION


class TimeOffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TimeOff

    practitioner = factory.SubFactory(PractitionerFactory)
    start = factory.LazyFunction(
        lambda: timezone.make_aware(
            datetime.combine(timezone.localdate() + timedelta(days=1), time(9))
        )
    )
    end = factory.LazyAttribute(lambda t: t.start + timedelta(hours=4))


def clinic_time(
    year: int, month: int, day: int, hour: int, minute: int = 0, *, fold: int = 0
) -> datetime:
    """A wall-clock time in the clinic's (current) zone, as an aware datetime.

    ``fold=1`` picks the second occurrence of an hour that happens twice.
    """
    return datetime(
        year,
        month,
        day,
        hour,
        minute,
        fold=fold,
        tzinfo=timezone.get_current_timezone(),
    )


def open_clinic(
    *practitioners: Practitioner,
    opens: time = time(9),
    closes: time = time(18),
    days: range = range(0, 6),
) -> None:
    """Opening hours Monday to Saturday, and the practitioners working all of them."""
    OpeningHours.objects.bulk_create(
        OpeningHours(weekday=day, opens=opens, closes=closes) for day in days
    )
    WorkingHours.objects.bulk_create(
        WorkingHours(practitioner=p, weekday=day, start=opens, end=closes)
        for p in practitioners
        for day in days
    )
