from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinic.models import (
    Appointment,
    ClosureDay,
    Consultation,
    Patient,
    PatientChange,
    WorkingHours,
    screened,
)
from clinic.tests.factories import (
    AppointmentFactory,
    PatientFactory,
    PractitionerFactory,
    RoomFactory,
    TimeOffFactory,
    open_clinic,
)
from clinic.tests.pages import hidden_value, post_as_page

# A Wednesday morning in the clinic's zone; bookings go to the next days.
NOW = datetime(2026, 11, 25, 8, 30)


@pytest.fixture
def frozen_now():
    with time_machine.travel(timezone.make_aware(NOW), tick=False):
        yield timezone.make_aware(NOW)


@pytest.fixture
def clinic_open(practitioner, other_practitioner, room, other_room):
    open_clinic(practitioner, other_practitioner)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


THURSDAY = date(2026, 11, 26)
# A calendar column's empty state: not "Free" in a patient's name (Freeman).
FREE = '<p class="empty-state small mb-0">Free</p>'


def booking_data(who, where, **overrides) -> dict:
    data = {
        "practitioner": who.pk,
        "room": where.pk,
        "date": "2026-11-26",
        "start_time": "10:00",
        "duration": "60",
        "notes": "",
    }
    data.update(overrides)
    return data


def as_posted(values: dict) -> dict:
    """A form's initial values as its page sends them: ticked boxes as "on",
    unticked ones and empty values left out."""
    return {
        k: ("on" if v is True else v)
        for k, v in values.items()
        if v not in (None, False)
    }


# Access ------------------------------------------------------------------------

PAGES = [
    ("clinic:dashboard", {}),
    ("clinic:patient_list", {}),
    ("clinic:patient_create", {}),
    ("clinic:calendar_day", {}),
    ("clinic:calendar_week", {}),
]


@pytest.mark.parametrize("name,kwargs", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, db, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_every_object_page_needs_sign_in(client, patient, practitioner, room):
    appointment = AppointmentFactory(
        patient=patient, practitioner=practitioner, room=room
    )
    for name, pk in [
        ("clinic:patient_detail", patient.pk),
        ("clinic:patient_edit", patient.pk),
        ("clinic:appointment_book", patient.pk),
        ("clinic:appointment_detail", appointment.pk),
        ("clinic:appointment_reschedule", appointment.pk),
        ("clinic:appointment_cancel", appointment.pk),
    ]:
        response = client.get(reverse(name, args=[pk]))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("login"))


def test_a_user_without_a_role_is_told_why_they_cant_get_in(client, outsider):
    client.force_login(outsider)
    response = client.get(reverse("clinic:dashboard"))
    assert response.status_code == 403
    assert "no clinic role" in response.content.decode()
    assert client.get(reverse("clinic:patient_list")).status_code == 403
    assert client.get(reverse("clinic:calendar_day")).status_code == 403


def test_practitioners_see_patients_but_cannot_register_or_book(
    client, practitioner, patient
):
    client.force_login(practitioner.user)
    assert client.get(reverse("clinic:patient_list")).status_code == 200
    assert client.get(patient.get_absolute_url()).status_code == 200
    assert client.get(reverse("clinic:patient_create")).status_code == 403
    assert (
        client.get(reverse("clinic:patient_edit", args=[patient.pk])).status_code == 403
    )
    assert (
        client.get(reverse("clinic:appointment_book", args=[patient.pk])).status_code
        == 403
    )


def test_practitioners_cannot_check_patients_in(client, practitioner, patient, room):
    appointment = AppointmentFactory(practitioner=practitioner, room=room)
    client.force_login(practitioner.user)
    response = client.post(
        reverse("clinic:appointment_check_in", args=[appointment.pk])
    )
    assert response.status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED


def test_unknown_ids_are_404(client, front_desk):
    client.force_login(front_desk)
    assert (
        client.get(reverse("clinic:patient_detail", args=[999999])).status_code == 404
    )
    assert (
        client.get(reverse("clinic:appointment_detail", args=[999999])).status_code
        == 404
    )
    assert (
        client.post(reverse("clinic:appointment_book", args=[999999])).status_code
        == 404
    )


def test_forms_are_protected_against_cross_site_requests(front_desk):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(front_desk)
    response = client.post(
        reverse("clinic:patient_create"),
        {"first_name": "Eve", "last_name": "Mallory", "date_of_birth": "1990-01-01"},
    )
    assert response.status_code == 403
    assert "expired" in response.content.decode()
    assert not Patient.objects.filter(last_name="Mallory").exists()


def test_status_changes_refuse_get_requests(client, front_desk, practitioner, room):
    appointment = AppointmentFactory(practitioner=practitioner, room=room)
    client.force_login(front_desk)
    response = client.get(reverse("clinic:appointment_check_in", args=[appointment.pk]))
    assert response.status_code == 405
    assert "Use the buttons on the page" in response.content.decode()


# Dashboard -----------------------------------------------------------------------


def test_front_desk_sees_todays_arrivals_with_check_in(
    client, front_desk, practitioner, room, frozen_now
):
    AppointmentFactory(
        practitioner=practitioner,
        room=room,
        patient__first_name="Grace",
        patient__last_name="Hopper",
        start=at(NOW.date(), 10),
    )
    later = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(NOW.date(), 11)
    )
    AppointmentFactory(practitioner=practitioner, room=room, start=at(THURSDAY, 11))
    client.force_login(front_desk)
    response = client.get(reverse("clinic:dashboard"))
    body = response.content.decode()
    assert "Today&#x27;s arrivals" in body or "Today's arrivals" in body
    assert "Grace Hopper" in body
    # 08:30: check-in is open for 10:00, from 09:00 for 11:00.
    assert body.count(">Check in</button>") == 1
    assert "Check-in from 09:00" in body
    assert len(response.context["arrivals"]) == 2
    detail = client.get(reverse("clinic:appointment_detail", args=[later.pk]))
    assert "Check-in from 09:00" in detail.content.decode()
    assert ">Check in</button>" not in detail.content.decode()


@pytest.mark.usefixtures("frozen_now")
def test_another_days_calendar_offers_no_check_in(
    client, front_desk, practitioner, room
):
    booked = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(THURSDAY, 11)
    )
    client.force_login(front_desk)

    thursday = client.get(reverse("clinic:calendar_day"), {"date": THURSDAY})

    assert str(booked.patient) in thursday.content.decode()
    assert "Check in" not in thursday.content.decode()


def test_an_arrival_whose_time_has_passed_can_be_marked_a_no_show_from_today(
    client, front_desk, practitioner, room, frozen_now
):
    late = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(NOW.date(), 8, 10)
    )
    later = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(NOW.date(), 10, 30)
    )
    client.force_login(front_desk)

    body = client.get(reverse("clinic:dashboard")).content.decode()

    assert reverse("clinic:appointment_no_show", args=[late.pk]) in body
    assert reverse("clinic:appointment_no_show", args=[later.pk]) not in body
    assert reverse("clinic:appointment_check_in", args=[later.pk]) in body


def test_practitioners_see_their_own_day(
    client, practitioner, other_practitioner, room, other_room, frozen_now
):
    mine = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(NOW.date(), 10)
    )
    AppointmentFactory(
        practitioner=other_practitioner, room=other_room, start=at(NOW.date(), 10)
    )
    # Cancelled: off their day, as My day has it.
    AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=at(NOW.date(), 14),
        status=Appointment.Status.CANCELLED,
        cancel_reason="Unwell.",
    )
    client.force_login(practitioner.user)
    response = client.get(reverse("clinic:dashboard"))
    assert response.context["my_day"] == [mine]
    assert "arrivals" not in response.context
    # Where the sessions are recorded, a click away.
    assert f'href="{reverse("plans:my_day")}">Open My day</a>' in (
        response.content.decode()
    )


def test_managers_see_the_clinic_overview(client, manager, practitioner, frozen_now):
    AppointmentFactory(practitioner=practitioner, start=at(NOW.date(), 10))
    # Seen ahead of its time, and cancelled: neither is still booked.
    AppointmentFactory(
        practitioner=practitioner, start=at(NOW.date(), 11), status="completed"
    )
    AppointmentFactory(
        practitioner=practitioner,
        start=at(NOW.date(), 12),
        status="cancelled",
        cancel_reason="Unwell.",
    )
    AppointmentFactory(
        practitioner=practitioner, start=at(NOW.date() + timedelta(days=3), 10)
    )
    client.force_login(manager)
    response = client.get(reverse("clinic:dashboard"))
    overview = response.context["overview"]
    assert overview["today"]["Booked"] == 1
    assert overview["today"]["Completed"] == 1
    assert overview["next_week"] == 2
    assert "Configure the clinic" in response.content.decode()
    # A colleague with no hours today is said not to work, not to be free.
    idle = PractitionerFactory()
    page = client.get(reverse("clinic:dashboard")).content.decode()
    assert f"{idle.get_title_display()} · not working today" in page


def test_managers_see_who_is_in_today(client, manager, frozen_now):
    """Working, away for part or all of the day, or not at all: and on a
    closure day, closed, not "0 appointments" for everyone."""
    busy, part_away, away, idle = PractitionerFactory.create_batch(4)
    open_clinic(busy, part_away, away)
    today = NOW.date()
    AppointmentFactory(practitioner=busy, start=at(today, 10))
    TimeOffFactory(
        practitioner=part_away,
        start=at(today, 13),
        end=at(today, 18),
        reason="Dentist",
    )
    TimeOffFactory(
        practitioner=away, start=at(today, 0), end=at(today, 23, 59), reason="Leave"
    )
    client.force_login(manager)

    page = client.get(reverse("clinic:dashboard")).content.decode()
    assert f"{busy.get_title_display()} · 1 appointment<" in page
    assert "0 appointments<span" in page
    assert "Time off 13:00-18:00: Dentist" in page
    assert "away today<span" in page
    assert "Time off all day: Leave" in page
    assert "not working today<" in page
    assert "Clinic closed" not in page

    ClosureDay.objects.create(date=today, reason="Staff training")
    page = client.get(reverse("clinic:dashboard")).content.decode()
    assert "Clinic closed: Staff training" in page
    # Nobody is said to be free or away on a day the clinic is closed; the
    # appointment booked before the closure still shows.
    assert page.count("clinic closed") == 3
    assert "1 appointment<" in page


def test_the_dashboard_uses_a_fixed_number_of_queries(
    client, front_desk, practitioner, room, frozen_now, django_assert_max_num_queries
):
    for hour in range(9, 17):
        AppointmentFactory(
            practitioner=practitioner, room=room, start=at(NOW.date(), hour)
        )
    client.force_login(front_desk)
    # With the two of the emails' notices (late, and to check).
    with django_assert_max_num_queries(10):
        response = client.get(reverse("clinic:dashboard"))
    assert len(response.context["arrivals"]) == 8


# Patients ------------------------------------------------------------------------


def test_front_desk_registers_a_patient(client, front_desk):
    client.force_login(front_desk)
    response = client.post(
        reverse("clinic:patient_create"),
        {
            "first_name": "  Mary ",
            "last_name": "Seacole",
            "date_of_birth": "1985-11-23",
            "email": "Mary.Seacole@Example.com",
            "phone": "+44 7700  900456",
            "preferred_contact": "email",
            "email_consent": "on",
            "skin_type": "5",
            "notes": "",
        },
    )
    patient = Patient.objects.get(last_name="Seacole")
    assert response.status_code == 302
    assert response["Location"] == patient.get_absolute_url()
    assert patient.first_name == "Mary"
    assert patient.email == "mary.seacole@example.com"
    assert patient.phone == "+44 7700 900456"
    assert patient.skin_type == 5


@pytest.mark.parametrize(
    ("typed", "saved"),
    [
        ("Ann\u200b", "Ann"),
        ("\u2060Ann", "Ann"),
        ("Ann\u00adie", "Annie"),
        ("\u200fSara\u200e", "Sara"),
        ("Zo\u00eb\ufeff", "Zo\u00eb"),
    ],
)
def test_invisible_marks_copied_with_a_name_are_taken_out(
    client, front_desk, typed, saved
):
    """Direction marks, a zero-width space, a soft hyphen: pasted from a letter,
    they can't be found to remove."""
    client.force_login(front_desk)
    response = post_as_page(
        client,
        reverse("clinic:patient_create"),
        {
            "first_name": "Lena",
            "last_name": typed,
            "date_of_birth": "1990-01-01",
            "email": "lena@example.com",
            "preferred_contact": "email",
        },
    )

    assert response.status_code == 302, response.context["form"].errors
    assert Patient.objects.get(first_name="Lena").last_name == saved


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("email", "not-an-email", "valid email"),
        ("phone", "call me", "phone number"),
        ("date_of_birth", "2999-01-01", "can&#x27;t be in the future"),
        ("date_of_birth", "31/02/1990", "valid date"),
        # Every symbol to take out at once, markup with the rest.
        ("last_name", "Zed<b>X</b>", "Remove / &lt; &gt; from the name"),
        ("last_name", "<script>alert(1)</script>", "Remove / 1 &lt; &gt; from"),
        ("first_name", "Ann{x}", "Remove { } from the name"),
        ("first_name", "Anna2", "Remove 2 from the name: a person&#x27;s name holds"),
        ("first_name", "Ann Lee!", "Remove ! from the name"),
        ("first_name", "Zoë 😀", "Remove 😀 from the name"),
        ("last_name", "Mary & Jo", "Remove &amp; from the name"),
        ("skin_type", "9", "choices offered"),
        ("first_name", "\u200b\u200b", "control or invisible characters"),
        ("first_name", "...", "at least one letter"),
        ("last_name", "Zo\u00eb\u200d", "control or invisible characters"),
        ("last_name", "Zo\u034f\u00eb", "control or invisible characters"),
        ("first_name", "\u3164", "control or invisible characters"),
        ("first_name", "Ann\u2800", "control or invisible characters"),
    ],
)
def test_bad_patient_details_get_a_clear_message_and_nothing_is_saved(
    client, front_desk, field, value, message
):
    client.force_login(front_desk)
    data = {
        "first_name": "Bad",
        "last_name": "Input",
        "date_of_birth": "1990-01-01",
        "email": "bad@example.com",
        "phone": "",
        "preferred_contact": "email",
        "skin_type": "",
    }
    data[field] = value
    response = client.post(reverse("clinic:patient_create"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Patient.objects.filter(last_name="Input").exists()
    assert Patient.objects.count() == 0


def patient_data(**overrides) -> dict:
    return {
        "first_name": "Grace",
        "last_name": "Hopper",
        "date_of_birth": "1990-01-01",
        "email": "grace@example.com",
        "phone": "",
        "preferred_contact": "email",
        "skin_type": "",
    } | overrides


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("(07700) 900.444", True),
        ("+44 (0)7700 900-444", True),
        ("07700 900444", True),
        ("(((((((", False),
        ("call me", False),
        ("(((((()1", False),
        ("+(------)1", False),
        ("(0) ....... 1", False),
    ],
)
def test_a_phone_is_registered_as_search_finds_it(client, front_desk, typed, kept):
    """Brackets and dots, as search accepts them."""
    client.force_login(front_desk)

    response = client.post(reverse("clinic:patient_create"), patient_data(phone=typed))

    assert Patient.objects.filter(phone=typed).exists() is kept
    if not kept:
        assert "dots or brackets" in response.content.decode()


def test_names_are_kept_on_one_line_with_single_spaces(client, front_desk):
    client.force_login(front_desk)

    client.post(
        reverse("clinic:patient_create"),
        patient_data(first_name="  Mary \t Jane ", last_name="Van\n der  Berg"),
    )

    patient = Patient.objects.get()
    assert (patient.first_name, patient.last_name) == ("Mary Jane", "Van der Berg")


def test_registering_someone_twice_asks_first(client, front_desk):
    client.force_login(front_desk)
    url = reverse("clinic:patient_create")
    client.post(url, patient_data())
    first = Patient.objects.get()

    # The same form sent again, or the same person at another visit.
    again = client.post(url, patient_data(first_name="grace", email=""))

    assert again.status_code == 200
    page = again.content.decode()
    assert (
        f'<a href="{first.get_absolute_url()}">Grace Hopper</a>, born 1 Jan 1990'
        in (page)
    )
    assert 'type="checkbox" name="different_person"' in page
    assert Patient.objects.count() == 1
    namesake = client.post(
        url, patient_data(different_person="on", email="grace.h@example.org")
    )
    assert namesake.status_code == 302
    assert Patient.objects.count() == 2


@pytest.mark.parametrize(
    "typed",
    [
        "Jose\u0301",  # the accent as a separate mark
        "\uff2a\uff4f\uff53\u00e9",  # full-width letters from an input method
        "JOS\u00c9",  # capitals beyond a-z, which SQLite alone doesn't fold
        "Jo\u200cs\u00e9",  # a joiner between letters shapes, it doesn't name
    ],
)
def test_a_name_typed_in_another_unicode_spelling_is_the_same_name(
    client, front_desk, typed
):
    client.force_login(front_desk)
    url = reverse("clinic:patient_create")
    client.post(url, patient_data(first_name="Jos\u00e9"))

    again = client.post(url, patient_data(first_name=typed))

    assert "is registered already" in again.content.decode()
    assert Patient.objects.get().first_name == "Jos\u00e9"


def test_an_accent_written_as_a_sign_stays_as_typed(client, front_desk):
    client.force_login(front_desk)

    client.post(
        reverse("clinic:patient_create"), patient_data(last_name="D\u00b4Angelo")
    )

    assert Patient.objects.get().last_name == "D\u00b4Angelo"


@pytest.mark.parametrize(
    ("born", "registered"), [("1900-03-01", True), ("1900-02-28", False)]
)
def test_registering_on_29_february_checks_the_age_too(
    client, front_desk, born, registered
):
    # 120 years before 29 February 2020 has no 29 February: 1900 was no leap year.
    with time_machine.travel(datetime(2020, 2, 29, 12, 0), tick=False):
        client.force_login(front_desk)
        response = client.post(
            reverse("clinic:patient_create"), patient_data(date_of_birth=born)
        )

    assert response.status_code == (302 if registered else 200)
    assert Patient.objects.exists() == registered


@pytest.mark.parametrize(
    ("born", "registered"),
    [("2026-11-27", False), ("2026-01-01", False), ("2025-11-27", True)],
)
def test_a_date_of_birth_under_a_year_ago_is_questioned(
    client, front_desk, born, registered
):
    """Today's date, or this year's, typed as the year of birth by a slip."""
    with time_machine.travel(datetime(2026, 11, 27, 12, 0), tick=False):
        client.force_login(front_desk)
        response = client.post(
            reverse("clinic:patient_create"), patient_data(date_of_birth=born)
        )

    assert Patient.objects.exists() == registered
    if not registered:
        assert response.context["form"].errors["date_of_birth"] == [
            "Check the date: that makes the patient less than a year old."
        ]


def test_the_admin_checks_names_too(client, manager):
    manager.is_staff = True
    manager.save(update_fields=["is_staff"])
    client.force_login(manager)

    response = client.post(
        reverse("admin:clinic_patient_add"),
        patient_data(first_name="\u200b\u200b", preferred_contact="email"),
    )

    assert response.status_code == 200
    assert "Remove the control or invisible characters" in response.content.decode()
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    "typed", ["O\u2019brien", "OBrien", "O\u2018Brien", "O-Brien", "O\u00b4Brien"]
)
def test_a_name_typed_as_heard_is_the_same_name(client, front_desk, typed):
    """As search finds it: a second registration would split their history."""
    client.force_login(front_desk)
    url = reverse("clinic:patient_create")
    client.post(url, patient_data(last_name="O'Brien"))

    again = client.post(url, patient_data(last_name=typed))

    assert "is registered already" in again.content.decode()
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        (("Chloé", "Dubois"), ("Chloe", "Dubois")),
        (("Fatima", "Al-Sayed"), ("Fatima", "Al Sayed")),
        (("Ji-woo", "Park"), ("Ji woo", "Park")),
        (("Ji-woo", "Park"), ("Park", "Ji-woo")),
        (("Zoë", "Ünal"), ("ZOE", "Unal")),
    ],
)
def test_the_same_name_spelt_or_ordered_otherwise_is_asked_about(
    client, front_desk, stored, typed
):
    client.force_login(front_desk)
    url = reverse("clinic:patient_create")
    client.post(url, patient_data(first_name=stored[0], last_name=stored[1]))

    again = client.post(url, patient_data(first_name=typed[0], last_name=typed[1]))

    assert "is registered already" in again.content.decode()
    assert Patient.objects.count() == 1


def test_editing_a_namesake_asks_nothing_again(client, front_desk):
    client.force_login(front_desk)
    url = reverse("clinic:patient_create")
    post_as_page(client, url, patient_data())
    post_as_page(client, url, patient_data(different_person="on"))
    namesake = Patient.objects.order_by("pk").last()

    response = post_as_page(
        client,
        reverse("clinic:patient_edit", args=[namesake.pk]),
        patient_data(phone="+44 7700 900777"),
    )

    assert response.status_code == 302
    namesake.refresh_from_db()
    assert namesake.phone == "+44 7700 900777"


def test_a_namesake_with_another_birthday_is_registered_without_asking(
    client, front_desk
):
    client.force_login(front_desk)
    url = reverse("clinic:patient_create")
    client.post(url, patient_data())

    response = client.post(
        url, patient_data(date_of_birth="1991-01-01", email="g.hopper@example.org")
    )

    assert response.status_code == 302
    assert Patient.objects.count() == 2


def test_another_patients_email_address_is_asked_about(client, front_desk):
    client.force_login(front_desk)
    url = reverse("clinic:patient_create")
    client.post(url, patient_data(email="family@example.com"))
    first = Patient.objects.get()
    child = {"first_name": "Ada", "date_of_birth": "2010-05-05"}

    asked = client.post(url, patient_data(email="Family@Example.COM", **child))
    bad = client.post(url, patient_data(email="x@y", email_consent="on", **child))
    shared = client.post(
        url, patient_data(email="family@example.com", shared_email="on", **child)
    )

    page = asked.content.decode()
    assert f'<a href="{first.get_absolute_url()}">Grace Hopper</a> has this email' in (
        page
    )
    assert 'type="checkbox" name="shared_email"' in page
    # An invalid address is said once, not also "reminders need an address".
    assert bad.context["form"].errors["email"] == ["Enter a valid email address."]
    assert shared.status_code == 302
    assert Patient.objects.filter(email__iexact="family@example.com").count() == 2


@pytest.mark.parametrize("method", ["options", "put", "delete", "trace"])
def test_staff_pages_answer_only_get_and_post(client, front_desk, method):
    client.force_login(front_desk)

    response = client.generic(method.upper(), reverse("clinic:patient_create"))

    assert response.status_code == 405
    assert Patient.objects.count() == 0


def test_email_reminders_need_an_email_address(client, front_desk):
    client.force_login(front_desk)
    response = client.post(
        reverse("clinic:patient_create"),
        {
            "first_name": "No",
            "last_name": "Email",
            "date_of_birth": "1990-01-01",
            "phone": "+44 7700 900999",
            "preferred_contact": "phone",
            "email_consent": "on",
        },
    )
    assert "Email reminders need an email address." in response.content.decode()
    assert not Patient.objects.filter(last_name="Email").exists()


def test_front_desk_edits_a_patient(client, front_desk, patient):
    client.force_login(front_desk)
    data = {
        "first_name": patient.first_name,
        "last_name": "King",
        "date_of_birth": "1965-12-10",
        "email": patient.email,
        "phone": patient.phone,
        "preferred_contact": "sms",
        "email_consent": "on",
        "skin_type": "2",
        "notes": "Prefers mornings.",
    }
    response = post_as_page(
        client, reverse("clinic:patient_edit", args=[patient.pk]), data
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.last_name == "King"
    assert patient.notes == "Prefers mornings."


def test_a_change_of_a_patients_details_is_kept_with_who_made_it(
    client, front_desk, manager, patient, frozen_now
):
    """Where emails go is traceable: an address changed and changed back
    still shows, with who did it and when."""
    client.force_login(front_desk)
    url = reverse("clinic:patient_edit", args=[patient.pk])
    kept = patient.email
    data = as_posted(client.get(url).context["form"].initial)

    post_as_page(client, url, data | {"email": "elsewhere@example.com"})
    post_as_page(client, url, as_posted(client.get(url).context["form"].initial))
    post_as_page(
        client,
        url,
        as_posted(client.get(url).context["form"].initial)
        | {"email": kept, "skin_type": "3"},
    )

    first, second = PatientChange.objects.filter(patient=patient).order_by("id")
    # Saved again unchanged: nothing to keep.
    assert PatientChange.objects.filter(patient=patient).count() == 2
    assert (first.by, first.at) == (front_desk, frozen_now)
    assert first.changes == [
        {
            "field": "email",
            "label": "email",
            "before": kept,
            "after": "elsewhere@example.com",
        }
    ]
    assert [c["field"] for c in second.changes] == ["email", "skin_type"]
    assert second.changes[1]["after"] == "Type III - sometimes burns, tans gradually"
    page = client.get(patient.get_absolute_url()).content.decode()
    assert "Details changed: 2 times" in page
    assert f"Email: “{kept}” → “elsewhere@example.com”" in page
    # Saved in the settings too, by the manager.
    client.force_login(manager)
    manager.is_staff = True
    manager.save()
    admin_url = reverse("admin:clinic_patient_change", args=[patient.pk])
    form = client.get(admin_url).context["adminform"].form
    client.post(admin_url, as_posted(form.initial) | {"phone": "+44 20 7946 0999"})
    latest = PatientChange.objects.filter(patient=patient).first()
    assert (latest.by, latest.changes[0]["field"]) == (manager, "phone")
    # Every change, in full, in the settings (the page shows the latest).
    listed = client.get(reverse("admin:clinic_patientchange_changelist"))
    assert listed.status_code == 200
    assert listed.content.decode().count(str(patient)) >= 3
    opened = client.get(
        reverse("admin:clinic_patientchange_change", args=[first.pk])
    ).content.decode()
    assert f"Email: “{kept}” → “elsewhere@example.com”" in opened
    assert 'name="_save"' not in opened


def test_notes_saved_again_from_a_browser_are_no_change_of_details(
    client, front_desk, patient
):
    """A text area sends its lines ending in CRLF; notes stored with LF (seeded,
    or saved another way) read the same: nothing to keep."""
    Patient.objects.filter(pk=patient.pk).update(notes="Prefers mornings.\nNo latex.")
    client.force_login(front_desk)
    url = reverse("clinic:patient_edit", args=[patient.pk])
    data = as_posted(client.get(url).context["form"].initial)

    post_as_page(client, url, data | {"notes": "Prefers mornings.\r\nNo latex."})

    assert not PatientChange.objects.filter(patient=patient).exists()


def test_a_patients_page_lists_the_latest_changes_and_says_where_the_rest_are(
    client, front_desk, patient, frozen_now
):
    long_notes = "Prefers mornings.\n" + "x" * 300 + " Allergic to lidocaine."
    for n in range(31):
        PatientChange.objects.create(
            patient=patient,
            at=frozen_now,
            changes=[
                {
                    "field": "notes",
                    "label": "notes",
                    "before": "",
                    "after": long_notes if n == 30 else f"{n}",
                }
            ],
        )
    client.force_login(front_desk)

    page = client.get(patient.get_absolute_url()).content.decode()

    assert "Details changed: the latest 30, older ones under Settings" in page
    # A long note in full, not cut where a change may be.
    assert "Allergic to lidocaine.”" in page


def test_an_edit_refused_names_the_patient_as_saved_not_as_typed(
    client, front_desk, patient
):
    client.force_login(front_desk)
    saved = str(patient)

    response = post_as_page(
        client,
        reverse("clinic:patient_edit", args=[patient.pk]),
        patient_data(first_name="Anna", last_name="Smith", email="not an address"),
    )

    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    page = response.content.decode()
    assert f"Edit {saved}</h1>" in page
    assert "Edit Anna Smith" not in page
    assert 'value="Anna"' in page  # what was typed stays in the form


def test_an_edit_page_opened_before_a_colleagues_save_does_not_undo_it(
    client, front_desk, patient
):
    url = reverse("clinic:patient_edit", args=[patient.pk])
    client.force_login(front_desk)
    form = client.get(url).context["form"]
    mine = {**form.initial, "notes": "Prefers mornings."}
    mine = as_posted(mine)
    colleague = Client()
    colleague.force_login(front_desk)
    theirs = {**mine, "phone": "+44 7700 900999", "notes": ""}
    later = timezone.now() + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        assert post_as_page(colleague, url, theirs).status_code == 302

    with time_machine.travel(later + timedelta(minutes=1), tick=False):
        response = post_as_page(client, url, mine)

    assert response.status_code == 200
    assert "Someone saved" in response.content.decode()
    patient.refresh_from_db()
    assert patient.phone == "+44 7700 900999"
    assert patient.notes == ""
    # Today's details in the form; what they typed beside it, where it differs.
    form = response.context["form"]
    assert not form.is_bound
    assert form.initial["phone"] == "+44 7700 900999"
    assert dict(response.context["unsaved"]) == {
        "Phone": mine["phone"],
        "Notes": "Prefers mornings.",
    }
    # The page's script says which fields were typed in: the phone, which the
    # colleague changed and this page only sent back as it showed it, is left
    # out, so copying from the list can't undo the colleague's save.
    with time_machine.travel(later + timedelta(minutes=2), tick=False):
        scripted = post_as_page(client, url, {**mine, "changed_fields": "notes"})
    assert scripted.context["unsaved"] == [("Notes", "Prefers mornings.")]


@pytest.mark.parametrize(
    "query",
    [
        "lovelace",
        "ADA LOVE",
        "Lovelace, Ada",
        "ada.lovelace@",
        "7700900123",
        "+44 7700 9001",
    ],
)
def test_patients_are_found_by_name_email_or_phone(client, front_desk, query):
    PatientFactory(
        first_name="Ada",
        last_name="Lovelace",
        email="ada.lovelace@example.com",
        phone="+44 7700 900123",
    )
    PatientFactory(
        first_name="Charles",
        last_name="Babbage",
        email="charles@example.com",
        phone="+44 7700 111222",
    )
    client.force_login(front_desk)
    response = client.get(reverse("clinic:patient_list"), {"q": query})
    names = [p.last_name for p in response.context["page"].object_list]
    assert names == ["Lovelace"]


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        (stored, query)
        for stored in ("+44 (0)7700-900123", "+44 7700 900123")
        for query in (
            "7700900123",
            "7700-900123",
            "900.123",
            # The national way, and an international prefix written with 00.
            "07700900123",
            "07700 900123",
            "(07700) 900-123",
            "0044 7700 900123",
        )
    ]
    + [("+44 (0)7700-900123", "+44 (0)7700 900123")],
)
def test_a_phone_is_found_whatever_separates_its_digits(
    client, front_desk, stored, query
):
    PatientFactory(last_name="Lovelace", phone=stored)
    PatientFactory(last_name="Babbage", phone="+44 7700 111222")
    client.force_login(front_desk)

    response = client.get(reverse("clinic:patient_list"), {"q": query})

    assert [p.last_name for p in response.context["page"].object_list] == ["Lovelace"]


def test_a_search_too_long_says_so_instead_of_listing_everyone(
    client, front_desk, patient
):
    client.force_login(front_desk)

    response = client.get(reverse("clinic:patient_list"), {"q": "Ada " * 30})

    page = response.content.decode()
    assert "at most 100 characters" in page
    assert list(response.context["page"].object_list) == []
    assert "No patients yet" not in page


@pytest.mark.parametrize(
    ("query", "found"), [("00", ["Lovelace"]), ("0 0", ["Lovelace"]), ("0044", [])]
)
def test_a_short_international_prefix_is_only_digits(client, front_desk, query, found):
    # Not "+", which every international number holds: "00" finds numbers
    # with 00 in them, as any digits do.
    PatientFactory(last_name="Lovelace", phone="+44 7700 900123")
    PatientFactory(last_name="Babbage", phone="+44 7712 345678")
    client.force_login(front_desk)

    response = client.get(reverse("clinic:patient_list"), {"q": query})

    assert [p.last_name for p in response.context["page"].object_list] == found


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        # Stored the national way, looked up the international way.
        ("07700 900123", "+44 7700 900123"),
        ("07700 900123", "0044 7700 900123"),
        # A trunk 0 written after the country code.
        ("+44 7700 900123", "+44 07700 900123"),
        # A name and a number in groups, and a direction mark pasted along.
        ("+44 7700 900123", "Lovelace 07700 900123"),
        ("+44 7700 900123", "Lovelace\u200f"),
        # The start of a number written the national way.
        ("+44 7700 900123", "07700"),
        # The trunk 0 in brackets, spaced apart from the rest.
        ("+44 7700 900123", "+44 (0) 7700 900123"),
        ("+44 7700 900123", "+44 (0) 7700 900 123"),
        ("+44 7700 900123", "+44 - 7700 900123"),
    ],
)
def test_a_phone_is_found_whichever_way_it_was_stored_or_typed(
    client, front_desk, stored, query
):
    PatientFactory(last_name="Lovelace", phone=stored)
    PatientFactory(last_name="Babbage", phone="+1 212 555 0188")
    client.force_login(front_desk)

    response = client.get(reverse("clinic:patient_list"), {"q": query})

    assert [p.last_name for p in response.context["page"].object_list] == ["Lovelace"]


@pytest.mark.parametrize("query", [",", " , ", ",,"])
def test_a_search_of_commas_is_no_search(client, front_desk, patient, query):
    client.force_login(front_desk)

    response = client.get(reverse("clinic:patient_list"), {"q": query})

    assert response.context["query"] == ""
    assert list(response.context["page"].object_list) == [patient]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("obrien", ["O'Brien"]),
        ("O’Brien", ["O'Brien"]),
        ("jiwoo park", ["Park"]),
        ("ji-woo", ["Park"]),
        ("johnsmythe", ["St. John-Smythe"]),
        ("st john", ["St. John-Smythe"]),
        # Typed as one word.
        ("stjohn", ["St. John-Smythe"]),
        ("stjohnsmythe", ["St. John-Smythe"]),
        ("st john smythe", ["St. John-Smythe"]),
        # Across two names ("Anne St."): a short word isn't taken as joined.
        ("nest", []),
        ("obrian", []),
        # Typed on another keyboard: the modifier apostrophe, a Unicode hyphen,
        # a left quote, a backtick, an acute accent, an en dash.
        ("oʼbrien", ["O'Brien"]),
        ("ji‐woo", ["Park"]),
        ("O\u2018Brien", ["O'Brien"]),
        ("O`Brien", ["O'Brien"]),
        ("O\u00b4Brien", ["O'Brien"]),
        ("ji\u2013woo", ["Park"]),
    ],
)
def test_names_are_found_as_heard_without_their_apostrophes_and_hyphens(
    client, front_desk, query, found
):
    PatientFactory(first_name="Robert", last_name="O'Brien", email="rob@example.com")
    PatientFactory(first_name="Ji-woo", last_name="Park", email="jp@example.com")
    PatientFactory(
        first_name="Anne", last_name="St. John-Smythe", email="anne@example.com"
    )
    client.force_login(front_desk)

    response = client.get(reverse("clinic:patient_list"), {"q": query})

    listed = sorted(p.last_name for p in response.context["page"].object_list)
    assert listed == found


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("ünal", ["Ünal"]),
        ("UNAL", ["Ünal"]),
        ("zoe", ["Ünal"]),
        ("ZOË", ["Ünal"]),
        ("CHLOÉ", ["Dubois"]),
        ("chloe dubois", ["Dubois"]),
        ("garcia", ["García"]),
        ("GARCÍA", ["García"]),
        ("strasse", ["Straße"]),
        ("zoé", ["Ünal"]),
        ("lukasiewicz", ["O'Brien-Łukasiewicz"]),
        ("soren", ["O'Brien-Łukasiewicz"]),
        ("Łukasiewicz", ["O'Brien-Łukasiewicz"]),
    ],
)
def test_names_are_found_in_any_case_and_without_their_accents(
    client, front_desk, query, found
):
    # Emails that don't hold the names, so only the names can match.
    PatientFactory(first_name="Zoë", last_name="Ünal", email="z1@example.com")
    PatientFactory(first_name="Chloé", last_name="Dubois", email="c2@example.com")
    PatientFactory(first_name="Isabella", last_name="García", email="i3@example.com")
    PatientFactory(first_name="Hans", last_name="Straße", email="h4@example.com")
    PatientFactory(
        first_name="Søren", last_name="O'Brien-Łukasiewicz", email="s5@example.com"
    )
    client.force_login(front_desk)

    response = client.get(reverse("clinic:patient_list"), {"q": query})

    listed = sorted(p.last_name for p in response.context["page"].object_list)
    assert listed == found


def test_a_renamed_patient_is_found_by_the_new_name_only(client, front_desk):
    patient = PatientFactory(first_name="Zoë", last_name="Ünal", email="z@x.org")
    patient.last_name = "Öztürk"
    patient.save(update_fields=["last_name"])
    client.force_login(front_desk)
    url = reverse("clinic:patient_list")

    assert list(client.get(url, {"q": "ozturk"}).context["page"].object_list) == [
        patient
    ]
    assert not client.get(url, {"q": "unal"}).context["page"].object_list


def test_a_search_with_no_match_says_so(client, front_desk, patient):
    client.force_login(front_desk)
    response = client.get(reverse("clinic:patient_list"), {"q": "zzzz"})
    assert "No patient matches" in response.content.decode()


def test_the_search_counts_its_matches_in_words(client, front_desk):
    PatientFactory(last_name="Lovelace")
    client.force_login(front_desk)
    url = reverse("clinic:patient_list")
    assert "1 patient matches" in client.get(url, {"q": "Lovelace"}).content.decode()
    PatientFactory(last_name="Lovelace")
    assert "2 patients match" in client.get(url, {"q": "Lovelace"}).content.decode()


def test_the_patient_list_is_paginated_with_a_fixed_number_of_queries(
    client, front_desk, django_assert_max_num_queries
):
    PatientFactory.create_batch(30)
    client.force_login(front_desk)
    with django_assert_max_num_queries(7):
        response = client.get(reverse("clinic:patient_list"))
    assert len(response.context["page"].object_list) == 25
    second = client.get(reverse("clinic:patient_list"), {"page": "2"})
    assert len(second.context["page"].object_list) == 5
    # A nonsense page number shows a page rather than an error.
    assert (
        client.get(reverse("clinic:patient_list"), {"page": "abc"}).status_code == 200
    )


# Booking -------------------------------------------------------------------------


def test_front_desk_books_a_consultation(
    client, front_desk, patient, practitioner, room, clinic_open, frozen_now
):
    client.force_login(front_desk)
    form = client.get(reverse("clinic:appointment_book", args=[patient.pk]))
    assert form.context["form"]["duration"].value() == 30  # a consultation's usual
    assert form.context["form"]["date"].value() == THURSDAY  # tomorrow
    ClosureDay.objects.create(date=THURSDAY, reason="Staff training")
    form = client.get(reverse("clinic:appointment_book", args=[patient.pk]))
    # Not a day the clinic is closed: the next it opens.
    assert form.context["form"]["date"].value() == THURSDAY + timedelta(days=1)
    ClosureDay.objects.filter(date=THURSDAY).delete()
    response = post_as_page(
        client,
        reverse("clinic:appointment_book", args=[patient.pk]),
        booking_data(practitioner, room, notes="First visit"),
    )
    appointment = Appointment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == appointment.get_absolute_url()
    assert appointment.start == at(THURSDAY, 10)
    assert appointment.end == at(THURSDAY, 11)
    assert appointment.kind == Appointment.Kind.CONSULTATION
    assert appointment.booked_by == front_desk
    assert appointment.notes == "First visit"


@pytest.mark.parametrize(
    ("email", "consent", "why"),
    [
        ("", False, "no email address"),
        ("ada@example.com", False, "no consent to emails"),
        ("ada@example.com", True, None),
    ],
)
def test_booking_for_a_patient_who_gets_no_emails_says_to_tell_them_otherwise(
    client, front_desk, practitioner, room, clinic_open, frozen_now, email, consent, why
):
    patient = PatientFactory(
        first_name="Ada", last_name="Lovelace", email=email, email_consent=consent
    )
    client.force_login(front_desk)

    response = post_as_page(
        client,
        reverse("clinic:appointment_book", args=[patient.pk]),
        booking_data(practitioner, room),
        follow=True,
    )

    said = [str(m) for m in response.context["messages"]]
    assert said[0].startswith("Consultation booked for Ada Lovelace")
    if why is None:
        assert len(said) == 1
    else:
        assert said[1] == (
            f"Ada Lovelace gets no emails ({why}): tell them by phone or in person."
        )


def test_a_clash_is_a_form_error_naming_the_other_booking(
    client, front_desk, patient, practitioner, room, other_room, clinic_open, frozen_now
):
    AppointmentFactory(
        practitioner=practitioner,
        room=other_room,
        start=at(THURSDAY, 9, 30),
        patient__first_name="Grace",
        patient__last_name="Hopper",
    )
    client.force_login(front_desk)
    response = post_as_page(
        client,
        reverse("clinic:appointment_book", args=[patient.pk]),
        booking_data(practitioner, room),
    )
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert any(
        str(practitioner) in e and "09:30-10:30" in e and "Grace Hopper" in e
        for e in errors
    )
    assert Appointment.objects.count() == 1


def test_a_room_or_practitioner_taken_out_of_use_while_the_form_was_open_is_named(
    client, front_desk, patient, practitioner, room, clinic_open, frozen_now
):
    from clinic.models import Practitioner, Room

    client.force_login(front_desk)
    url = reverse("clinic:appointment_book", args=[patient.pk])
    Room.objects.filter(pk=room.pk).update(is_active=False)
    Practitioner.objects.filter(pk=practitioner.pk).update(is_active=False)

    response = post_as_page(client, url, booking_data(practitioner, room))
    tampered = post_as_page(client, url, booking_data(practitioner, room, room="x"))

    form = response.context["form"]
    assert form.errors["room"] == ["Room 1 is no longer in use: pick another room."]
    assert form.errors["practitioner"] == [
        f"{practitioner} no longer takes bookings: pick another practitioner."
    ]
    assert tampered.context["form"].errors["room"] == [
        "Pick one of the choices offered: that one is not among them."
    ]
    assert not Appointment.objects.exists()


def test_a_room_clash_names_the_room(
    client,
    front_desk,
    patient,
    practitioner,
    other_practitioner,
    room,
    clinic_open,
    frozen_now,
):
    AppointmentFactory(
        practitioner=other_practitioner, room=room, start=at(THURSDAY, 10, 30)
    )
    client.force_login(front_desk)
    response = post_as_page(
        client,
        reverse("clinic:appointment_book", args=[patient.pk]),
        booking_data(practitioner, room),
    )
    errors = response.context["form"].non_field_errors()
    assert any("Room 1 is already booked" in e and "10:30-11:30" in e for e in errors)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"date": "2026-11-20"}, "already passed"),
        ({"start_time": "07:00"}, "outside opening hours"),
        ({"date": "2026-11-29"}, "closed on Sundays"),
        ({"end": "x", "duration": "17"}, "choices offered"),
        ({"start_time": "25:00"}, "valid time"),
        ({"start_time": "14:00:59.999999"}, "hours and minutes"),
        ({"practitioner": "999999"}, "choices offered"),
        ({"room": "abc"}, "choices offered"),
        ({"date": "2031-01-01"}, "three years ahead"),
        # Past the five years a calendar page reaches: the same limit.
        ({"date": "2033-01-01"}, "three years ahead"),
    ],
)
def test_bad_bookings_get_a_clear_message_and_book_nothing(
    client,
    front_desk,
    patient,
    practitioner,
    room,
    clinic_open,
    frozen_now,
    overrides,
    message,
):
    client.force_login(front_desk)
    response = post_as_page(
        client,
        reverse("clinic:appointment_book", args=[patient.pk]),
        booking_data(practitioner, room, **overrides),
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Appointment.objects.exists()


def test_a_closure_day_is_refused_with_its_reason(
    client, front_desk, patient, practitioner, room, clinic_open, frozen_now
):
    ClosureDay.objects.create(date=THURSDAY, reason="Staff training")
    client.force_login(front_desk)
    response = post_as_page(
        client,
        reverse("clinic:appointment_book", args=[patient.pk]),
        booking_data(practitioner, room),
    )
    assert "closed on Thu 26 Nov 2026 (Staff training)" in response.content.decode()
    assert not Appointment.objects.exists()


def test_front_desk_is_not_offered_the_override(
    client, front_desk, patient, practitioner, room, clinic_open, frozen_now
):
    client.force_login(front_desk)
    response = client.post(
        reverse("clinic:appointment_book", args=[patient.pk]),
        booking_data(practitioner, room, start_time="19:00", override_reason="VIP"),
    )
    assert "override_reason" not in response.context["form"].fields
    assert not Appointment.objects.exists()


def test_a_manager_books_outside_hours_with_a_stored_reason(
    client, manager, patient, practitioner, room, clinic_open, frozen_now
):
    client.force_login(manager)
    url = reverse("clinic:appointment_book", args=[patient.pk])
    refused = post_as_page(
        client, url, booking_data(practitioner, room, start_time="19:00")
    )
    assert "outside opening hours" in refused.content.decode()
    assert not Appointment.objects.exists()

    post_as_page(
        client,
        url,
        booking_data(
            practitioner, room, start_time="19:00", override_reason="Only evening free"
        ),
    )
    appointment = Appointment.objects.get()
    assert appointment.override_reason == "Only evening free"
    assert appointment.override_by == manager


def test_a_nonexistent_local_time_is_refused(
    client, front_desk, patient, practitioner, room, settings
):
    settings.TIME_ZONE = "America/New_York"
    open_clinic(practitioner, opens=time(0), closes=time(23), days=range(7))
    now = datetime(2027, 3, 1, 9, tzinfo=timezone.get_fixed_timezone(-300))
    with time_machine.travel(now, tick=False):
        client.force_login(front_desk)
        response = client.post(
            reverse("clinic:appointment_book", args=[patient.pk]),
            booking_data(practitioner, room, date="2027-03-14", start_time="02:30"),
        )
    assert "does not exist" in response.content.decode()
    assert not Appointment.objects.exists()


# Changing appointments --------------------------------------------------------------


def test_front_desk_moves_an_appointment(
    client, front_desk, practitioner, other_room, clinic_open, frozen_now
):
    appointment = AppointmentFactory(practitioner=practitioner, start=at(THURSDAY, 10))
    client.force_login(front_desk)
    response = post_as_page(
        client,
        reverse("clinic:appointment_reschedule", args=[appointment.pk]),
        booking_data(practitioner, other_room, date="2026-11-27", start_time="14:00"),
    )
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.start == at(date(2026, 11, 27), 14)
    assert appointment.room == other_room


def test_moving_or_cancelling_for_a_patient_without_emails_says_to_tell_them(
    client, front_desk, practitioner, other_room, clinic_open, frozen_now
):
    appointment = AppointmentFactory(
        practitioner=practitioner,
        start=at(THURSDAY, 10),
        patient__first_name="Noel",
        patient__last_name="Nomail",
        patient__email="",
        patient__email_consent=False,
    )
    client.force_login(front_desk)
    told = "Noel Nomail gets no emails (no email address): tell them by phone"

    moved = post_as_page(
        client,
        reverse("clinic:appointment_reschedule", args=[appointment.pk]),
        booking_data(practitioner, other_room, date="2026-11-27", start_time="14:00"),
        follow=True,
    )
    cancelled = post_as_page(
        client,
        reverse("clinic:appointment_cancel", args=[appointment.pk]),
        {"reason": "Patient called."},
        follow=True,
    )

    for response in (moved, cancelled):
        assert any(str(m).startswith(told) for m in response.context["messages"]), (
            response.content.decode()[:300]
        )


def test_a_move_from_a_page_opened_before_another_move_is_refused(
    client, front_desk, manager, practitioner, other_room, clinic_open, frozen_now
):
    """Two desks on one appointment: the second move would silently undo the first."""
    appointment = AppointmentFactory(practitioner=practitioner, start=at(THURSDAY, 10))
    url = reverse("clinic:appointment_reschedule", args=[appointment.pk])
    client.force_login(manager)
    managers_page = hidden_value(client.get(url), "seen")
    client.force_login(front_desk)
    first = booking_data(
        practitioner, other_room, date="2026-11-27", start_time="14:00"
    )
    assert (
        client.post(
            url, {**first, "seen": hidden_value(client.get(url), "seen")}
        ).status_code
        == 302
    )

    client.force_login(manager)
    second = booking_data(
        practitioner, other_room, date="2026-11-26", start_time="09:00"
    )
    response = client.post(url, {**second, "seen": managers_page}, follow=True)

    assert "Someone changed this appointment while your page was open" in (
        response.content.decode()
    )
    appointment.refresh_from_db()
    assert appointment.start == at(date(2026, 11, 27), 14)
    assert appointment.events.filter(action="moved").count() == 1
    # What the manager typed stays on the page, to be sent again from it.
    form = response.context["form"]
    assert (form["date"].value(), form["start_time"].value()) == (
        "2026-11-26",
        "09:00",
    )
    assert (
        client.post(url, {**second, "seen": hidden_value(response, "seen")}).status_code
        == 302
    )


def test_cancelling_from_a_page_opened_before_a_check_in_is_refused(
    client, front_desk, manager, practitioner, clinic_open, frozen_now
):
    appointment = AppointmentFactory(practitioner=practitioner, start=at(THURSDAY, 10))
    url = reverse("clinic:appointment_cancel", args=[appointment.pk])
    client.force_login(manager)
    seen = hidden_value(client.get(url), "seen")
    Appointment.objects.filter(pk=appointment.pk).update(
        status=Appointment.Status.CHECKED_IN, checked_in_at=at(THURSDAY, 9, 55)
    )

    response = client.post(
        url, {"reason": "Patient called.", "seen": seen}, follow=True
    )

    assert "Someone changed this appointment while your page was open" in (
        response.content.decode()
    )
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN


def test_a_change_of_room_alone_says_so(
    client, front_desk, practitioner, room, other_room, clinic_open, frozen_now
):
    appointment = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(THURSDAY, 10)
    )
    client.force_login(front_desk)

    response = post_as_page(
        client,
        reverse("clinic:appointment_reschedule", args=[appointment.pk]),
        booking_data(practitioner, other_room),
        follow=True,
    )

    page = response.content.decode()
    assert f"with {practitioner} in {other_room}." in page
    assert "Moved to" not in page


def test_a_change_of_length_alone_says_so(
    client, front_desk, practitioner, room, clinic_open, frozen_now
):
    appointment = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(THURSDAY, 10)
    )
    client.force_login(front_desk)

    response = post_as_page(
        client,
        reverse("clinic:appointment_reschedule", args=[appointment.pk]),
        booking_data(practitioner, room, duration="30"),
        follow=True,
    )

    page = response.content.decode()
    assert "10:00-10:30 (the length changed)." in page
    assert "Moved to" not in page


def test_moving_into_a_clash_changes_nothing(
    client, front_desk, practitioner, room, other_room, clinic_open, frozen_now
):
    appointment = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(THURSDAY, 10)
    )
    AppointmentFactory(
        practitioner=practitioner, room=other_room, start=at(THURSDAY, 14)
    )
    client.force_login(front_desk)
    response = post_as_page(
        client,
        reverse("clinic:appointment_reschedule", args=[appointment.pk]),
        booking_data(practitioner, room, start_time="14:30"),
    )
    assert response.status_code == 200
    assert "already booked" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.start == at(THURSDAY, 10)


def test_front_desk_cancels_with_a_reason(client, front_desk, practitioner, frozen_now):
    appointment = AppointmentFactory(practitioner=practitioner, start=at(THURSDAY, 10))
    client.force_login(front_desk)
    url = reverse("clinic:appointment_cancel", args=[appointment.pk])
    refused = post_as_page(client, url, {"reason": "   "})
    assert refused.status_code == 200
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED

    post_as_page(client, url, {"reason": "Patient is unwell"})
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert appointment.cancel_reason == "Patient is unwell"


WITHOUT_PAGE_VERSION = "This page was changed on its way here"


def test_a_move_or_cancellation_without_the_pages_version_changes_nothing(
    client, front_desk, practitioner, other_room, clinic_open, frozen_now
):
    """A post that leaves out which version the page showed (never a browser's)
    is refused like a tampered one, not saved without the stale-page check."""
    appointment = AppointmentFactory(practitioner=practitioner, start=at(THURSDAY, 10))
    booked_in = appointment.room
    client.force_login(front_desk)
    move = client.post(
        reverse("clinic:appointment_reschedule", args=[appointment.pk]),
        booking_data(practitioner, other_room, date="2026-11-27", start_time="14:00"),
    )
    cancel = client.post(
        reverse("clinic:appointment_cancel", args=[appointment.pk]),
        {"reason": "Patient is unwell"},
    )

    for response in (move, cancel):
        assert response.status_code == 200
        assert WITHOUT_PAGE_VERSION in response.content.decode()
    appointment.refresh_from_db()
    assert (appointment.start, appointment.room, appointment.status) == (
        at(THURSDAY, 10),
        booked_in,
        Appointment.Status.BOOKED,
    )


def test_a_booking_or_patient_edit_without_the_pages_version_saves_nothing(
    client, front_desk, patient, practitioner, room, clinic_open, frozen_now
):
    client.force_login(front_desk)
    book = client.post(
        reverse("clinic:appointment_book", args=[patient.pk]),
        booking_data(practitioner, room),
    )
    edit = client.post(
        reverse("clinic:patient_edit", args=[patient.pk]),
        {
            "first_name": patient.first_name,
            "last_name": "King",
            "date_of_birth": "1965-12-10",
            "email": patient.email,
            "phone": patient.phone,
            "preferred_contact": "sms",
            "notes": "",
        },
    )

    for response in (book, edit):
        assert response.status_code == 200
        assert WITHOUT_PAGE_VERSION in response.content.decode()
    assert not Appointment.objects.exists()
    patient.refresh_from_db()
    assert patient.last_name != "King"


def test_a_treatment_session_is_not_moved_from_its_appointment_page(
    client, front_desk, practitioner, frozen_now
):
    from plans.models import TreatmentSession
    from plans.tests.factories import TreatmentPlanFactory

    session = AppointmentFactory(
        practitioner=practitioner, start=at(THURSDAY, 10), kind="treatment"
    )
    plan = TreatmentPlanFactory(patient=session.patient)
    TreatmentSession.objects.create(plan=plan, number=1, appointment=session)
    client.force_login(front_desk)
    reschedule = reverse("clinic:appointment_reschedule", args=[session.pk])

    page = client.get(session.get_absolute_url()).content.decode()
    response = client.get(reschedule, follow=True)

    assert reschedule not in page
    assert f'href="{plan.get_absolute_url()}"' in page
    assert "Move it from the plan" in page
    assert response.redirect_chain == [(plan.get_absolute_url(), 302)]
    assert "A treatment session is moved from its treatment plan" in (
        response.content.decode()
    )


def test_a_treatment_sessions_page_leads_to_its_plan_and_record_whatever_its_state(
    client, front_desk, practitioner, frozen_now
):
    from plans.models import TreatmentSession
    from plans.tests.factories import TreatmentPlanFactory

    session = AppointmentFactory(
        practitioner=practitioner,
        start=at(NOW.date(), 7),
        kind="treatment",
        status=Appointment.Status.CHECKED_IN,
    )
    plan = TreatmentPlanFactory(patient=session.patient)
    treatment = TreatmentSession.objects.create(
        plan=plan, number=3, appointment=session
    )
    record = reverse("plans:record", args=[treatment.pk])

    client.force_login(practitioner.user)
    page = client.get(session.get_absolute_url()).content.decode()
    assert f'href="{plan.get_absolute_url()}"' in page
    assert "Standard plan</a>" in page
    assert f'href="{record}"' in page
    client.force_login(front_desk)
    page = client.get(session.get_absolute_url()).content.decode()
    assert f'href="{plan.get_absolute_url()}"' in page
    assert f'href="{record}"' not in page


def test_an_appointment_whose_time_is_over_is_not_offered_a_move(
    client, front_desk, practitioner, frozen_now
):
    from clinic.services import BookingError, reschedule_appointment

    over = AppointmentFactory(
        practitioner=practitioner, start=at(NOW.date(), 7), kind="consultation"
    )
    client.force_login(front_desk)

    page = client.get(over.get_absolute_url()).content.decode()

    assert reverse("clinic:appointment_reschedule", args=[over.pk]) not in page
    assert "Mark as no-show" in page
    with pytest.raises(BookingError, match="is over: if the patient didn't come"):
        reschedule_appointment(
            appointment=over,
            start=at(THURSDAY, 10),
            end=at(THURSDAY, 10) + timedelta(hours=1),
            practitioner=practitioner,
            room=over.room,
            by=front_desk,
        )


def test_a_consultation_that_took_place_offers_no_cancel_or_no_show(
    client, front_desk, practitioner, frozen_now
):
    visit = AppointmentFactory(
        practitioner=practitioner, start=at(NOW.date(), 7), kind="consultation"
    )
    Consultation.objects.create(
        appointment=visit,
        patient=visit.patient,
        **screened(),
        decision=Consultation.Decision.ELIGIBLE,
        decided_by=practitioner.user,
        decided_at=visit.end,
    )
    client.force_login(front_desk)

    page = client.get(visit.get_absolute_url()).content.decode()

    assert reverse("clinic:appointment_cancel", args=[visit.pk]) not in page
    assert reverse("clinic:appointment_no_show", args=[visit.pk]) not in page
    for name in ("clinic:appointment_cancel", "clinic:appointment_reschedule"):
        response = client.get(reverse(name, args=[visit.pk]), follow=True)
        assert response.redirect_chain == [(visit.get_absolute_url(), 302)]
        assert "it took place" in response.content.decode()


def test_check_in_and_no_show_from_the_day_view(
    client, front_desk, practitioner, room, frozen_now
):
    later = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(NOW.date(), 10)
    )
    earlier = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(NOW.date(), 7)
    )
    client.force_login(front_desk)
    day_url = reverse("clinic:calendar_day") + "?date=2026-11-25"
    page = client.get(day_url).content.decode()
    assert reverse("clinic:appointment_check_in", args=[later.pk]) in page
    assert reverse("clinic:appointment_no_show", args=[earlier.pk]) in page

    response = client.post(
        reverse("clinic:appointment_check_in", args=[later.pk]), {"next": day_url}
    )
    assert response["Location"] == day_url
    client.post(reverse("clinic:appointment_no_show", args=[earlier.pk]))
    later.refresh_from_db()
    earlier.refresh_from_db()
    assert later.status == Appointment.Status.CHECKED_IN
    assert earlier.status == Appointment.Status.NO_SHOW


def test_a_future_appointment_cant_be_a_no_show(
    client, front_desk, practitioner, frozen_now
):
    appointment = AppointmentFactory(practitioner=practitioner, start=at(THURSDAY, 10))
    client.force_login(front_desk)
    response = client.post(
        reverse("clinic:appointment_no_show", args=[appointment.pk]), follow=True
    )
    assert "once its start time has passed" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED


def test_next_never_redirects_off_site(client, front_desk, practitioner, frozen_now):
    appointment = AppointmentFactory(
        practitioner=practitioner, start=at(NOW.date(), 11)
    )
    client.force_login(front_desk)
    response = client.post(
        reverse("clinic:appointment_check_in", args=[appointment.pk]),
        {"next": "https://evil.example/"},
    )
    assert response["Location"] == appointment.get_absolute_url()


# Calendar ------------------------------------------------------------------------


def test_the_day_view_shows_columns_by_practitioner_and_by_room(
    client, front_desk, practitioner, other_practitioner, room, other_room, frozen_now
):
    AppointmentFactory(
        practitioner=practitioner, room=other_room, start=at(THURSDAY, 9)
    )
    client.force_login(front_desk)
    by_practitioner = client.get(reverse("clinic:calendar_day"), {"date": "2026-11-26"})
    columns = dict(by_practitioner.context["columns"])
    assert len(columns[practitioner]) == 1
    assert columns[other_practitioner] == []

    by_room = client.get(
        reverse("clinic:calendar_day"), {"date": "2026-11-26", "by": "room"}
    )
    columns = dict(by_room.context["columns"])
    assert len(columns[other_room]) == 1
    assert columns[room] == []


def test_calendar_pages_ignore_nonsense_in_the_address(client, front_desk, db):
    client.force_login(front_desk)
    for url in ["clinic:calendar_day", "clinic:calendar_week"]:
        response = client.get(
            reverse(url), {"date": "yesterday", "practitioner": "x", "room": "-1"}
        )
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("url", "query", "message"),
    [
        ("clinic:calendar_day", {"date": "1900-01-01"}, "Showing today."),
        ("clinic:calendar_week", {"date": "3000-01-01"}, "Showing this week."),
        (
            "clinic:calendar_week",
            {"room": "987654"},
            "The address names no room of the list: pick one from it.",
        ),
        (
            "clinic:calendar_week",
            {"practitioner": "999999"},
            "The address names no practitioner of the list: pick one from it.",
        ),
    ],
)
def test_a_calendar_address_it_cant_show_says_what_it_shows_instead(
    client, front_desk, db, url, query, message
):
    client.force_login(front_desk)

    page = client.get(reverse(url), query).content.decode()

    assert message in page
    assert "Pick one of the choices offered" not in page


def test_the_week_in_the_menu_opens_a_week(client, front_desk, db):
    client.force_login(front_desk)

    page = client.get(reverse("clinic:dashboard")).content.decode()

    assert f'href="{reverse("clinic:calendar_week")}">Week</a>' in page


def test_the_week_view_shows_one_practitioners_week(
    client, front_desk, practitioner, other_practitioner, frozen_now
):
    monday = date(2026, 11, 23)
    AppointmentFactory(practitioner=practitioner, start=at(monday, 10))
    AppointmentFactory(
        practitioner=practitioner, start=at(monday + timedelta(days=6), 10)
    )
    AppointmentFactory(
        practitioner=practitioner, start=at(monday + timedelta(days=7), 10)
    )
    AppointmentFactory(practitioner=other_practitioner, start=at(monday, 10))
    client.force_login(front_desk)
    response = client.get(
        reverse("clinic:calendar_week"),
        {"practitioner": practitioner.pk, "date": "2026-11-26"},
    )
    week = response.context["week"]
    assert [d["date"] for d in week][0] == monday
    assert [len(d["appointments"]) for d in week] == [1, 0, 0, 0, 0, 0, 1]


def test_a_practitioner_no_longer_taking_bookings_keeps_their_name_on_their_days(
    client,
    front_desk,
    manager,
    practitioner,
    other_practitioner,
    clinic_open,
    frozen_now,
):
    """Their appointments of the days before they stopped stay under their
    name on the day calendar, their weeks stay to be read, and the manager's
    Today still counts them on a day they work."""
    from clinic.models import Practitioner

    today = date(2026, 11, 25)
    AppointmentFactory(practitioner=practitioner, start=at(today, 10))
    Practitioner.objects.filter(pk=practitioner.pk).update(is_active=False)
    client.force_login(front_desk)

    day = client.get(reverse("clinic:calendar_day"), {"date": "2026-11-25"})
    next_day = client.get(reverse("clinic:calendar_day"), {"date": "2026-11-26"})
    week = client.get(
        reverse("clinic:calendar_week"),
        {"practitioner": practitioner.pk, "date": "2026-11-25"},
    )
    client.force_login(manager)
    load = client.get(reverse("clinic:dashboard")).context["overview"]["load"]

    shown = {resource: items for resource, items in day.context["columns"]}
    assert set(shown) == {practitioner, other_practitioner}
    assert len(shown[practitioner]) == 1
    assert [r for r, _ in next_day.context["columns"]] == [other_practitioner]
    assert week.context["subject"] == practitioner
    assert not week.context["address_errors"]
    page = week.content.decode()
    assert f"{practitioner} (no longer takes bookings)</option>" in page
    assert "no longer takes bookings</span>: 23 Nov" in page  # the heading
    # Thursday to Saturday: nothing booked, and nothing to book (closed Sunday).
    assert page.count("No longer takes bookings</p>") == 3
    assert {p: p.today for p in load} == {practitioner: 1, other_practitioner: 0}


def test_practitioners_land_on_their_own_week(client, practitioner):
    client.force_login(practitioner.user)
    response = client.get(reverse("clinic:calendar"))
    assert response["Location"] == (
        reverse("clinic:calendar_week") + f"?practitioner={practitioner.pk}"
    )
    week = client.get(reverse("clinic:calendar_week"))
    assert week.context["subject"] == practitioner


def test_the_front_desk_lands_on_the_first_practitioners_week(
    client, front_desk, practitioner, other_practitioner
):
    first = min(
        [practitioner, other_practitioner],
        key=lambda p: (p.user.last_name, p.user.first_name, p.pk),
    )
    client.force_login(front_desk)

    week = client.get(reverse("clinic:calendar_week"))

    assert week.context["subject"] == first
    assert "Pick a practitioner or a room" not in week.content.decode()


def test_the_week_view_of_a_room(client, front_desk, practitioner, room, frozen_now):
    AppointmentFactory(practitioner=practitioner, room=room, start=at(THURSDAY, 10))
    client.force_login(front_desk)
    response = client.get(reverse("clinic:calendar_week"), {"room": room.pk})
    assert response.context["subject"] == room
    assert sum(len(d["appointments"]) for d in response.context["week"]) == 1


def test_calendar_queries_dont_grow_with_the_bookings(
    client, front_desk, practitioner, room, frozen_now, django_assert_max_num_queries
):
    client.force_login(front_desk)
    for day in range(23, 30):
        for hour in (9, 11, 13, 15):
            AppointmentFactory(
                practitioner=practitioner,
                room=room,
                start=at(date(2026, 11, day), hour),
            )
    # Two of them read the practitioner's working hours and time off.
    with django_assert_max_num_queries(13):
        week = client.get(
            reverse("clinic:calendar_week"), {"practitioner": practitioner.pk}
        )
    assert sum(len(d["appointments"]) for d in week.context["week"]) == 28
    # Two of them read the practitioners' time off and working hours.
    with django_assert_max_num_queries(11):
        client.get(reverse("clinic:calendar_day"), {"date": "2026-11-26"})


# Health ------------------------------------------------------------------------------


def test_healthz_reports_ok_without_sign_in(client, db):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


def test_healthz_answers_a_load_balancers_head_request(client, db):
    assert client.head(reverse("healthz")).status_code == 200
    assert client.post(reverse("healthz")).status_code == 405


def test_healthz_names_a_broken_broker(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "error"}


def test_healthz_names_a_broken_database(client, db, monkeypatch):
    from clinic.views import system

    def broken() -> None:
        raise RuntimeError("database is down")

    monkeypatch.setattr(system, "_check_database", broken)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json() == {"database": "error", "broker": "ok"}


def test_pages_allow_only_the_apps_own_scripts(client, front_desk):
    client.force_login(front_desk)
    policy = client.get(reverse("clinic:dashboard"))["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    # The sign-in page too, before anyone is signed in.
    client.logout()
    assert client.get(reverse("login"))["Content-Security-Policy"] == policy


def test_the_browsers_favicon_request_finds_the_icon(client, db):
    response = client.get("/favicon.ico")
    # Not permanent: the icon's file name changes with its content.
    assert response.status_code == 302
    assert response["Location"].endswith("img/favicon.svg")


@pytest.mark.parametrize(
    "name", ["clinic:dashboard", "clinic:patient_list", "clinic:calendar_week"]
)
def test_pages_answer_head_as_link_checkers_and_monitors_ask(
    client, front_desk, name, frozen_now
):
    client.force_login(front_desk)

    response = client.head(reverse(name))

    assert response.status_code == 200
    assert response.content == b""


def test_healthz_answers_plain_http_when_https_is_enforced(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get(reverse("clinic:dashboard")).status_code == 301


def test_a_patients_cancelled_appointment_is_not_listed_as_upcoming(
    client, front_desk, patient, practitioner, room, frozen_now
):
    tomorrow = timezone.make_aware(datetime(2026, 11, 26, 10))
    booked = AppointmentFactory(
        patient=patient, practitioner=practitioner, room=room, start=tomorrow
    )
    cancelled = AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        room=room,
        start=tomorrow + timedelta(days=1),
        status=Appointment.Status.CANCELLED,
        cancel_reason="Unwell.",
    )
    client.force_login(front_desk)

    page = client.get(reverse("clinic:patient_detail", args=[patient.pk]))

    assert list(page.context["upcoming"]) == [booked]
    assert list(page.context["past"]) == [cancelled]


def test_the_front_desk_takes_a_mistaken_check_in_or_no_show_back(
    client, front_desk, practitioner, room, frozen_now
):
    appointment = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(NOW.date(), 8, 10)
    )
    page = appointment.get_absolute_url()
    client.force_login(front_desk)
    client.post(reverse("clinic:appointment_check_in", args=[appointment.pk]))
    assert "Undo check-in" in client.get(page).content.decode()

    response = client.post(
        reverse("clinic:appointment_undo_check_in", args=[appointment.pk]),
        follow=True,
    )
    assert "is no longer checked in" in response.content.decode()
    client.post(reverse("clinic:appointment_no_show", args=[appointment.pk]))
    assert "Undo no-show" in client.get(page).content.decode()
    response = client.post(
        reverse("clinic:appointment_undo_no_show", args=[appointment.pk]),
        follow=True,
    )

    assert "is no longer a no-show" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED


def test_an_appointment_checked_in_and_over_is_not_cancelled(
    client, front_desk, practitioner, room, mailoutbox
):
    """The patient was here: cancelling would tell them a visit they had is off
    (and take a treatment session out of its course)."""
    appointment = AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=at(NOW.date(), 7),
        status=Appointment.Status.CHECKED_IN,
        checked_in_at=at(NOW.date(), 6, 55),
    )
    url = reverse("clinic:appointment_cancel", args=[appointment.pk])
    client.force_login(front_desk)
    with time_machine.travel(at(NOW.date(), 7, 30), tick=False):
        # While it is under way it may still be called off.
        assert (
            'href="' + url
            in client.get(appointment.get_absolute_url()).content.decode()
        )

    with time_machine.travel(timezone.make_aware(NOW), tick=False):
        page = client.get(appointment.get_absolute_url()).content.decode()
        response = post_as_page(
            client, url, {"reason": "Entered by mistake"}, page=url, follow=True
        )

    assert 'href="' + url not in page
    assert "time is over: it took place" in (response.content.decode())
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN
    assert mailoutbox == []


def test_a_cancel_refused_as_the_appointment_changed_meanwhile_says_the_reason_back(
    client, front_desk, practitioner, room, frozen_now
):
    import html

    from clinic.services import reschedule_appointment

    open_clinic(practitioner)
    appointment = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(THURSDAY, 10)
    )
    url = reverse("clinic:appointment_cancel", args=[appointment.pk])
    client.force_login(front_desk)
    seen = html.unescape(hidden_value(client.get(url), "seen"))
    # Meanwhile, at the other desk.
    reschedule_appointment(
        appointment=appointment,
        start=at(THURSDAY, 11),
        end=at(THURSDAY, 12),
        practitioner=practitioner,
        room=room,
        by=front_desk,
    )

    response = client.post(
        url, {"reason": "Patient rang to cancel", "seen": seen}, follow=True
    )

    [message] = [str(m) for m in response.context["messages"]]
    assert message.endswith("The reason you typed: “Patient rang to cancel”.")
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED


def test_a_booked_appointment_whose_time_is_over_is_marked_missed_not_cancelled(
    client, front_desk, practitioner, room, mailoutbox
):
    """A cancellation would email the patient about a visit already past."""
    appointment = AppointmentFactory(
        practitioner=practitioner, room=room, start=at(NOW.date(), 7)
    )
    url = reverse("clinic:appointment_cancel", args=[appointment.pk])
    client.force_login(front_desk)

    with time_machine.travel(timezone.make_aware(NOW), tick=False):
        page = client.get(appointment.get_absolute_url()).content.decode()
        response = post_as_page(
            client, url, {"reason": "Did not come"}, page=url, follow=True
        )

    assert 'href="' + url not in page
    assert "Mark as no-show" in page
    assert "mark a no-show instead" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED
    assert mailoutbox == []


def test_a_booking_pages_day_from_the_address_is_taken_only_when_it_is_one(
    client, front_desk, patient, clinic_open, frozen_now
):
    client.force_login(front_desk)
    url = reverse("clinic:appointment_book", args=[patient.pk])

    def first_day(day: str):
        return client.get(url, {"date": day}).context["form"].initial["date"]

    assert first_day("2026-12-01") == date(2026, 12, 1)
    tomorrow = first_day("")
    assert tomorrow > NOW.date()
    for bad in ("garbage", "2026-13-45", "1999-01-01"):
        assert first_day(bad) == tomorrow


def test_booking_a_second_consultation_points_at_the_first(
    client, front_desk, practitioner, room, patient, frozen_now
):
    first = AppointmentFactory(
        patient=patient, practitioner=practitioner, room=room, start=at(THURSDAY, 11)
    )
    client.force_login(front_desk)
    url = reverse("clinic:appointment_book", args=[patient.pk])

    page = client.get(url).content.decode()

    assert "already has a consultation booked" in page
    assert "Move that one instead" in page
    assert first.get_absolute_url() in page
    AppointmentFactory(
        patient=patient, practitioner=practitioner, room=room, start=at(THURSDAY, 14)
    )
    assert "Move one of them instead" in client.get(url).content.decode()
    Appointment.objects.exclude(pk=first.pk).delete()
    # Under way (checked in early): it can't be moved instead.
    first.status = Appointment.Status.CHECKED_IN
    first.checked_in_at = frozen_now
    first.save()
    assert "already has" not in client.get(url).content.decode()
    first.status = Appointment.Status.CANCELLED
    first.cancel_reason = "Unwell."
    first.save()
    assert "already has" not in client.get(url).content.decode()


def test_text_direction_and_control_characters_are_taken_out_of_what_is_sent(
    client, front_desk, patient
):
    client.force_login(front_desk)
    url = reverse("clinic:patient_edit", args=[patient.pk])
    form = client.get(url).context["form"]
    data = as_posted(form.initial)

    saved = client.post(
        url,
        {
            **data,
            "last_name": f"{patient.last_name}\x07",
            "notes": (
                "Prefers \u202emornings\u2066 ok\u200f\x1b[0m\x0bFrom Word:\tyes\x00"
            ),
        },
    )
    found = client.get(
        reverse("clinic:patient_list"), {"q": "\u202e" + patient.last_name + "\x00"}
    )

    assert saved.status_code == 302
    patient.refresh_from_db()
    # A right-to-left mark, which text in some languages needs, stays; a line
    # break of another kind is a space; a tab stays.
    assert patient.notes == "Prefers mornings ok\u200f[0m From Word:\tyes"
    assert "\x07" not in patient.last_name
    assert found.context["query"] == patient.last_name
    assert list(found.context["page"].object_list) == [patient]


def test_a_choice_no_list_offers_is_refused_without_repeating_it(
    client, front_desk, patient
):
    client.force_login(front_desk)
    url = reverse("clinic:patient_edit", args=[patient.pk])
    form = client.get(url).context["form"]
    data = as_posted(form.initial)
    sent = "9" * 5000

    response = client.post(url, {**data, "skin_type": sent})

    assert response.status_code == 200
    assert response.context["form"].errors["skin_type"] == [
        "Pick one of the choices offered: that one is not among them."
    ]
    assert sent not in response.content.decode()


def test_a_form_cut_off_on_its_way_is_refused_not_crashed(client, front_desk):
    from django.http import UnreadablePostError

    class CutOff:
        def read(self, *args):
            raise UnreadablePostError("The client went away.")

        readline = read

    client.force_login(front_desk)
    client.handler.enforce_csrf_checks = True
    request_body = {
        "wsgi.input": CutOff(),
        "CONTENT_LENGTH": "1000",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
    }

    response = client.generic("POST", reverse("clinic:patient_create"), **request_body)

    assert response.status_code == 403


def test_a_consultation_booked_at_another_desk_meanwhile_is_asked_about(
    client, front_desk, practitioner, room, other_room, patient, clinic_open, frozen_now
):
    # One the page shows already: not "booked meanwhile".
    AppointmentFactory(
        patient=patient, practitioner=practitioner, room=room, start=at(THURSDAY, 15)
    )
    url = reverse("clinic:appointment_book", args=[patient.pk])
    client.force_login(front_desk)
    page = client.get(url)
    # Meanwhile, at the other desk.
    AppointmentFactory(
        patient=patient, practitioner=practitioner, room=room, start=at(THURSDAY, 11)
    )
    data = booking_data(practitioner, other_room, date="2026-11-27") | {
        "ahead": hidden_value(page, "ahead")
    }

    asked = client.post(url, data)
    asked_again = client.post(url, data)
    booked = client.post(url, data | {"another": "on"})

    assert asked.status_code == asked_again.status_code == 200
    assert "was booked for a consultation while this page was open (Thu 26 Nov " in (
        asked.content.decode()
    )
    question = asked.content.decode().split("while this page was open (")[1]
    assert question.split(")")[0].endswith("11:00")
    assert 'name="another"' in asked.content.decode()
    # Said once: not again in the note the page opens with.
    assert "already has consultations booked" not in asked.content.decode()
    assert booked.status_code == 302
    assert patient.appointments.count() == 3


def test_a_second_consultation_books_only_with_the_tick_the_page_offers(
    client, front_desk, practitioner, room, other_room, patient, clinic_open, frozen_now
):
    """Shown above the form or not, a second consultation is usually a slip (a
    time corrected after Back, say): it takes the tick."""
    AppointmentFactory(
        patient=patient, practitioner=practitioner, room=room, start=at(THURSDAY, 11)
    )
    url = reverse("clinic:appointment_book", args=[patient.pk])
    client.force_login(front_desk)
    page = client.get(url)
    assert 'type="checkbox" name="another"' in page.content.decode()
    data = booking_data(practitioner, other_room, date="2026-11-27") | {
        "ahead": hidden_value(page, "ahead")
    }

    asked = client.post(url, data)
    assert asked.status_code == 200
    assert "already has a consultation booked (Thu 26 Nov 2026, 11:00)" in (
        asked.content.decode()
    )
    assert patient.appointments.count() == 1
    assert client.post(url, data | {"another": "on"}).status_code == 302
    assert patient.appointments.count() == 2


def test_a_second_consultation_the_tick_cant_book_says_why_at_once(
    client,
    front_desk,
    practitioner,
    other_practitioner,
    room,
    other_room,
    patient,
    clinic_open,
    frozen_now,
):
    """At the time of the one ahead, or outside the hours: said with the
    question, not only after the tick."""
    AppointmentFactory(
        patient=patient, practitioner=practitioner, room=room, start=at(THURSDAY, 11)
    )
    url = reverse("clinic:appointment_book", args=[patient.pk])
    client.force_login(front_desk)
    page = client.get(url)
    ahead = {"ahead": hidden_value(page, "ahead")}

    same_time = client.post(
        url, booking_data(other_practitioner, other_room, start_time="11:00") | ahead
    ).content.decode()
    too_early = client.post(
        url, booking_data(practitioner, other_room, start_time="06:00") | ahead
    ).content.decode()

    assert "The patient has another appointment then" in same_time
    assert "already has a consultation booked" in same_time
    assert "outside opening hours" in too_early
    assert "already has a consultation booked" in too_early
    assert patient.appointments.count() == 1


def test_the_patient_list_says_whether_each_patient_gets_emails(client, front_desk):
    PatientFactory(last_name="Agrees", email="a@example.com", email_consent=True)
    PatientFactory(last_name="Declines", email="d@example.com", email_consent=False)
    PatientFactory(last_name="Offline", email="", email_consent=False)
    client.force_login(front_desk)

    page = client.get(reverse("clinic:patient_list")).content.decode()

    rows = {
        name: page.split(name, 1)[1].split("</tr>", 1)[0]
        for name in ("Agrees", "Declines", "Offline")
    }
    assert "By email" in rows["Agrees"]
    assert "No consent" in rows["Declines"]
    assert "No email address" in rows["Offline"]


@pytest.mark.parametrize("asked", ["abc", "99999", "-1"])
def test_the_access_log_says_when_no_patient_has_the_number_asked(
    client, manager, asked
):
    client.force_login(manager)

    page = client.get(reverse("clinic:access_log"), {"patient": asked})

    assert page.status_code == 200
    assert "No patient has that number" in page.content.decode()
    assert "No patient has that number" not in (
        client.get(reverse("clinic:access_log")).content.decode()
    )


def works(practitioner, weekday: int, *blocks: tuple[int, int]) -> None:
    from clinic.models import WorkingHours

    for start, end in blocks:
        WorkingHours.objects.create(
            practitioner=practitioner, weekday=weekday, start=time(start), end=time(end)
        )


def away(practitioner, start: datetime, end: datetime, reason: str) -> None:
    """Time off between two naive times on the clinic's clock."""
    from clinic.models import TimeOff

    TimeOff.objects.create(
        practitioner=practitioner,
        start=timezone.make_aware(start),
        end=timezone.make_aware(end),
        reason=reason,
    )


def open_and_working(practitioner) -> None:
    """Open Monday to Saturday, 09:00-18:00, and the practitioner working then."""
    from clinic.models import OpeningHours

    for weekday in range(6):
        OpeningHours.objects.create(weekday=weekday, opens=time(9), closes=time(18))
        works(practitioner, weekday, (9, 18))


def calendar_columns(client, name: str, **params) -> list[str]:
    """The calendar page's columns (days of a week, or practitioners of a day)."""
    page = client.get(reverse(name), params).content.decode()
    return page.split('<section class="calendar-col')[1:]


def test_a_week_asked_for_a_practitioner_and_a_room_is_the_practitioners(
    client, front_desk, practitioner, other_practitioner, room, frozen_now
):
    """Both in the address (a room's week, then a practitioner picked): the
    practitioner's week, saying so, its cards naming rooms."""
    AppointmentFactory(practitioner=practitioner, room=room, start=at(THURSDAY, 10))
    AppointmentFactory(
        practitioner=other_practitioner, room=room, start=at(THURSDAY, 12)
    )
    client.force_login(front_desk)

    page = client.get(
        reverse("clinic:calendar_week"),
        {"practitioner": practitioner.pk, "room": room.pk, "date": "2026-11-26"},
    ).content.decode()

    assert "Pick a practitioner or a room, not both" in page
    assert f'<h1 class="h3 mb-0">{practitioner}:' in page
    thursday = page.split('<section class="calendar-col')[4]
    assert thursday.count('class="appt ') == 1
    assert f"Consultation · {room}" in thursday


def test_a_practitioners_week_says_when_they_work_and_free_only_then(
    client, front_desk, practitioner
):
    """Open Monday to Saturday; the practitioner works Monday and Tuesday, with
    Tuesday afternoon off. A day they don't work is not "Free"."""
    from clinic.models import OpeningHours

    for weekday in range(6):
        OpeningHours.objects.create(weekday=weekday, opens=time(9), closes=time(18))
    works(practitioner, 0, (9, 13), (14, 18))
    works(practitioner, 1, (9, 18))
    tuesday = date(2026, 12, 1)
    away(
        practitioner,
        datetime.combine(tuesday, time(13)),
        datetime.combine(tuesday, time(18)),
        "Dentist",
    )
    client.force_login(front_desk)

    columns = calendar_columns(
        client, "clinic:calendar_week", practitioner=practitioner.pk, date="2026-11-30"
    )

    assert "Works 09:00-13:00, 14:00-18:00" in columns[0]
    assert FREE in columns[0]
    assert "Time off 13:00-18:00: Dentist" in columns[1]
    assert "Not working" in columns[2] and FREE not in columns[2]
    assert FREE not in columns[6]  # Sunday: closed


def test_a_day_that_is_over_is_not_called_free(client, front_desk, practitioner):

    open_and_working(practitioner)
    thursday = timezone.make_aware(datetime(2026, 12, 3, 12))
    with time_machine.travel(thursday, tick=False):
        client.force_login(front_desk)
        columns = calendar_columns(
            client,
            "clinic:calendar_week",
            practitioner=practitioner.pk,
            date="2026-11-30",
        )

    for monday_to_wednesday in columns[:3]:
        assert "Nothing booked" in monday_to_wednesday
        assert FREE not in monday_to_wednesday
    for thursday_to_saturday in columns[3:6]:
        assert FREE in thursday_to_saturday


def test_a_day_whose_only_appointments_were_cancelled_or_missed_is_still_free(
    client, front_desk, practitioner, room
):
    from clinic.models import Appointment

    open_and_working(practitioner)

    def on(day: int, status: str) -> None:
        start = timezone.make_aware(datetime(2026, 12, day, 10))
        AppointmentFactory(
            practitioner=practitioner,
            room=room,
            start=start,
            end=start + timedelta(hours=1),
            status=status,
            cancel_reason="Unwell." if status == Appointment.Status.CANCELLED else "",
        )

    on(1, Appointment.Status.CANCELLED)
    on(2, Appointment.Status.NO_SHOW)
    on(3, Appointment.Status.BOOKED)
    on(3, Appointment.Status.CANCELLED)
    monday_morning = timezone.make_aware(datetime(2026, 11, 30, 8))
    with time_machine.travel(monday_morning, tick=False):
        client.force_login(front_desk)
        columns = calendar_columns(
            client,
            "clinic:calendar_week",
            practitioner=practitioner.pk,
            date="2026-11-30",
        )

    assert "Cancelled" in columns[1] and FREE in columns[1]
    assert FREE in columns[2]
    assert FREE not in columns[3]


def test_the_day_calendar_says_who_is_not_working_or_away_rather_than_nothing_booked(
    client, front_desk, practitioner, other_practitioner
):
    from clinic.models import OpeningHours

    OpeningHours.objects.create(weekday=1, opens=time(9), closes=time(18))
    works(practitioner, 1, (9, 18))
    tuesday = date(2026, 12, 1)
    client.force_login(front_desk)

    columns = calendar_columns(client, "clinic:calendar_day", date=tuesday.isoformat())
    working = next(c for c in columns if str(practitioner) in c)
    not_working = next(c for c in columns if str(other_practitioner) in c)
    assert "Nothing booked." in working
    # A cancelled appointment alone leaves the column saying so too.
    start = timezone.make_aware(datetime.combine(tuesday, time(10)))
    AppointmentFactory(
        practitioner=practitioner,
        start=start,
        end=start + timedelta(hours=1),
        status="cancelled",
        cancel_reason="Unwell.",
    )
    columns = calendar_columns(client, "clinic:calendar_day", date=tuesday.isoformat())
    working = next(c for c in columns if str(practitioner) in c)
    assert "Cancelled" in working and "Nothing else booked." in working
    assert "Not working." in not_working and "Nothing booked" not in not_working

    away(
        practitioner,
        datetime.combine(tuesday, time(0)),
        datetime.combine(tuesday + timedelta(days=1), time(0)),
        "Course",
    )
    columns = calendar_columns(client, "clinic:calendar_day", date=tuesday.isoformat())
    working = next(c for c in columns if str(practitioner) in c)
    assert "Away." in working and "Nothing booked" not in working


def test_time_off_in_several_rows_over_all_working_hours_is_away(
    client, front_desk, practitioner
):
    """Not only one row from midnight to midnight: 08:00-18:00 over 09:00-17:00
    hours, or a morning and an afternoon back to back."""
    from clinic.models import ClosureDay, OpeningHours

    for weekday in (1, 4):
        OpeningHours.objects.create(weekday=weekday, opens=time(8), closes=time(18))
        works(practitioner, weekday, (9, 13), (14, 17))
    tuesday, friday = date(2026, 12, 1), date(2026, 12, 4)
    away(
        practitioner,
        datetime.combine(tuesday, time(8)),
        datetime.combine(tuesday, time(18)),
        "Course",
    )
    away(
        practitioner,
        datetime.combine(friday, time(0)),
        datetime.combine(friday, time(12)),
        "Off",
    )
    away(
        practitioner,
        datetime.combine(friday, time(12)),
        datetime.combine(friday + timedelta(days=1), time(0)),
        "Off",
    )
    client.force_login(front_desk)

    for day in (tuesday, friday):
        [column] = calendar_columns(client, "clinic:calendar_day", date=day.isoformat())
        assert "Away." in column and "Nothing booked" not in column
    week = calendar_columns(
        client, "clinic:calendar_week", practitioner=practitioner.pk, date="2026-11-30"
    )
    assert "Away" in week[1] and FREE not in week[1]
    assert "Away" in week[4] and FREE not in week[4]

    ClosureDay.objects.create(date=tuesday, reason="Staff training")
    [column] = calendar_columns(client, "clinic:calendar_day", date=tuesday.isoformat())
    assert "Closed." in column


def test_a_practitioners_day_away_is_not_free(client, front_desk, practitioner):
    from clinic.models import OpeningHours

    OpeningHours.objects.create(weekday=0, opens=time(9), closes=time(18))
    works(practitioner, 0, (9, 18))
    monday = date(2026, 11, 30)
    away(
        practitioner,
        datetime.combine(monday, time(0)),
        datetime.combine(monday + timedelta(days=2), time(0)),
        "Holiday",
    )
    client.force_login(front_desk)

    monday_column = calendar_columns(
        client,
        "clinic:calendar_week",
        practitioner=practitioner.pk,
        date=monday.isoformat(),
    )[0]

    assert "Time off all day: Holiday" in monday_column
    assert "Away" in monday_column
    assert FREE not in monday_column


@pytest.mark.parametrize("until", [time(0), time(23, 59)])
def test_time_off_to_the_days_last_minute_is_all_day(
    client, front_desk, practitioner, until
):
    """Typed "to 23:59" or to midnight: the week and the day say all day."""
    open_and_working(practitioner)
    tuesday = date(2026, 12, 1)
    midnight = until == time(0)
    away(
        practitioner,
        datetime.combine(tuesday, time(0)),
        datetime.combine(tuesday + timedelta(days=midnight), until),
        "Course",
    )
    away(
        practitioner,
        datetime.combine(tuesday + timedelta(days=1), time(14)),
        datetime.combine(tuesday + timedelta(days=1 + midnight), until),
        "Dentist",
    )
    client.force_login(front_desk)

    week = calendar_columns(
        client,
        "clinic:calendar_week",
        practitioner=practitioner.pk,
        date=tuesday.isoformat(),
    )
    [day] = [
        c
        for c in calendar_columns(client, "clinic:calendar_day", date="2026-12-01")
        if str(practitioner) in c
    ]

    assert "Time off all day: Course" in week[1]
    assert "Time off all day: Course" in day
    assert "Time off 14:00-24:00: Dentist" in week[2]


def test_a_practitioner_away_for_all_their_hours_is_not_free(
    client, front_desk, practitioner
):
    """Away 08:00-19:00, working 09:00-18:00: not a whole day, but no free time."""
    from clinic.models import OpeningHours

    OpeningHours.objects.create(weekday=2, opens=time(8), closes=time(20))
    works(practitioner, 2, (9, 18))
    wednesday = date(2026, 12, 9)
    away(
        practitioner,
        datetime.combine(wednesday, time(8)),
        datetime.combine(wednesday, time(19)),
        "Training",
    )
    client.force_login(front_desk)

    column = calendar_columns(
        client,
        "clinic:calendar_week",
        practitioner=practitioner.pk,
        date=wednesday.isoformat(),
    )[2]

    assert "Time off 08:00-19:00: Training" in column
    assert "Away" in column and FREE not in column


def test_a_rooms_week_is_free_whenever_the_clinic_is_open(client, front_desk, room):
    from clinic.models import OpeningHours

    OpeningHours.objects.create(weekday=2, opens=time(9), closes=time(18))
    client.force_login(front_desk)

    columns = calendar_columns(
        client, "clinic:calendar_week", room=room.pk, date="2026-11-30"
    )

    assert FREE in columns[2]
    assert not any("Not working" in column for column in columns)


def test_the_day_calendar_shows_who_is_away_and_when(
    client, front_desk, practitioner, other_practitioner
):
    day = date(2026, 12, 2)
    away(
        practitioner,
        datetime.combine(day, time(13)),
        datetime.combine(day, time(17, 30)),
        "Dentist",
    )
    client.force_login(front_desk)

    columns = calendar_columns(client, "clinic:calendar_day", date=day.isoformat())

    [theirs] = [c for c in columns if str(practitioner) in c]
    [others] = [c for c in columns if str(other_practitioner) in c]
    assert "Time off 13:00-17:30: Dentist" in theirs
    assert "Time off" not in others


def test_a_patient_under_18_is_marked_as_needing_a_guardians_consent(
    client, front_desk
):
    today = timezone.localdate()
    child = PatientFactory(date_of_birth=today - timedelta(days=15 * 365 + 30))
    # 18 a few days ago, whatever leap days lie between.
    adult = PatientFactory(date_of_birth=today - timedelta(days=18 * 365 + 10))
    client.force_login(front_desk)

    assert f"is {child.age}:</strong> under 18, microneedling needs the consent" in (
        client.get(child.get_absolute_url()).content.decode()
    )
    assert (child.age, adult.age) == (15, 18)
    assert "under 18" not in client.get(adult.get_absolute_url()).content.decode()


BOOK_FROM_CALENDAR = "Book a consultation"


def every_kind_of_day(practitioner, *, monday: date) -> None:
    """Open Monday to Saturday, the practitioner working Monday to Friday;
    Thursday closed (staff training), Friday away all day (a course)."""
    open_and_working(practitioner)
    WorkingHours.objects.filter(practitioner=practitioner, weekday=5).delete()
    ClosureDay.objects.create(date=monday + timedelta(days=3), reason="Staff training")
    friday = datetime.combine(monday + timedelta(days=4), time(0))
    away(practitioner, friday, friday + timedelta(days=1), "Course")


@pytest.mark.usefixtures("frozen_now")
def test_a_week_offers_to_book_a_consultation_on_each_day_one_can_be(
    client, front_desk, practitioner
):
    """Wednesday 25 Nov is today: Monday and Tuesday are over, Thursday closed,
    Friday away, Saturday not worked, Sunday shut."""
    every_kind_of_day(practitioner, monday=date(2026, 11, 23))
    client.force_login(front_desk)

    columns = calendar_columns(
        client, "clinic:calendar_week", practitioner=practitioner.pk, date="2026-11-25"
    )

    offered = [BOOK_FROM_CALENDAR in column for column in columns]
    assert offered == [False, False, True, False, False, False, False]
    link = (
        f"{reverse('clinic:patient_list')}?book=2026-11-25&amp;"
        f"practitioner={practitioner.pk}"
    )
    assert link in columns[2]
    # A room's week offers every open day, in that room.
    room = RoomFactory()
    columns = calendar_columns(
        client, "clinic:calendar_week", room=room.pk, date="2026-11-25"
    )
    offered = [BOOK_FROM_CALENDAR in column for column in columns]
    assert offered == [False, False, True, False, True, True, False]
    assert f"?book=2026-11-27&amp;room={room.pk}" in columns[4]
    # Once the clinic has closed, today is not offered any more.
    with time_machine.travel(
        timezone.make_aware(datetime(2026, 11, 25, 18)), tick=False
    ):
        columns = calendar_columns(
            client, "clinic:calendar_week", room=room.pk, date="2026-11-25"
        )
    assert [BOOK_FROM_CALENDAR in column for column in columns][2:4] == [False, False]
    # Practitioners book nothing: not offered.
    client.force_login(practitioner.user)
    columns = calendar_columns(
        client, "clinic:calendar_week", practitioner=practitioner.pk, date="2026-11-25"
    )
    assert not any(BOOK_FROM_CALENDAR in column for column in columns)


@pytest.mark.usefixtures("frozen_now")
def test_a_day_offers_to_book_with_each_practitioner_who_works_it(
    client, front_desk, practitioner, other_practitioner
):
    open_and_working(practitioner)
    client.force_login(front_desk)

    columns = calendar_columns(client, "clinic:calendar_day", date="2026-11-27")
    past = calendar_columns(client, "clinic:calendar_day", date="2026-11-24")

    [theirs] = [c for c in columns if str(practitioner) in c]
    [not_working] = [c for c in columns if str(other_practitioner) in c]
    assert f"?book=2026-11-27&amp;practitioner={practitioner.pk}" in theirs
    assert BOOK_FROM_CALENDAR not in not_working
    assert not any(BOOK_FROM_CALENDAR in column for column in past)


@pytest.mark.usefixtures("frozen_now")
def test_the_patient_list_books_each_patient_on_the_day_picked(
    client, front_desk, practitioner
):
    open_and_working(practitioner)
    PatientFactory(first_name="Ada", last_name="Lovelace")
    client.force_login(front_desk)
    query = {"book": "2026-11-27", "practitioner": practitioner.pk}

    page = client.get(reverse("clinic:patient_list"), {"q": "Lovelace", **query})

    body = page.content.decode()
    patient = Patient.objects.get(last_name="Lovelace")
    booking = (
        f"{reverse('clinic:appointment_book', args=[patient.pk])}?date=2026-11-27&amp;"
        f"practitioner={practitioner.pk}"
    )
    assert "Booking a consultation on <strong>Friday 27 November 2026</strong>" in body
    assert f"with {practitioner}" in body
    assert booking in body
    # Searching again keeps the day; registering carries it on.
    assert '<input type="hidden" name="book" value="2026-11-27">' in body
    assert (
        f"{reverse('clinic:patient_create')}?book=2026-11-27&amp;practitioner=" in body
    )
    form = client.get(booking.replace("&amp;", "&")).context["form"]
    assert form["date"].value() == date(2026, 11, 27)
    assert str(form["practitioner"].value()) == str(practitioner.pk)


@pytest.mark.usefixtures("frozen_now")
@pytest.mark.parametrize(
    ("query", "said"),
    [
        ({"book": "2026-11-24"}, "That day is over."),
        ({"book": "next week"}, "The day to book on is not a date."),
        ({"book": "2026-11-27", "practitioner": "99999"}, "takes no bookings"),
        ({"book": "2026-11-27", "room": "x"}, "That room is not in use."),
        ({"book": "9999-12-31"}, "Book at most three years ahead."),
    ],
)
def test_a_booking_link_that_cant_be_followed_says_why(client, front_desk, query, said):
    PatientFactory(last_name="Lovelace")
    client.force_login(front_desk)

    response = client.get(reverse("clinic:patient_list"), query)

    body = response.content.decode()
    assert response.status_code == 200
    assert "This link to book from the calendar can't be used" in body
    assert said in body
    assert "Lovelace" in body
    assert "/book/?" not in body


@pytest.mark.usefixtures("frozen_now")
def test_registering_someone_registered_already_from_the_calendar_books_them(
    client, front_desk, practitioner
):
    open_and_working(practitioner)
    client.force_login(front_desk)
    client.post(reverse("clinic:patient_create"), patient_data())
    grace = Patient.objects.get()

    again = client.post(
        f"{reverse('clinic:patient_create')}?book=2026-11-27&"
        f"practitioner={practitioner.pk}",
        patient_data(first_name="grace", last_name="HOPPER"),
    ).content.decode()

    booking = (
        f"{reverse('clinic:appointment_book', args=[grace.pk])}?date=2026-11-27&amp;"
        f"practitioner={practitioner.pk}"
    )
    assert f'<a href="{booking}">Grace Hopper</a>, born 1 Jan 1990, is registered' in (
        again
    )
    assert "book the consultation for them from there" in again
    assert Patient.objects.count() == 1


@pytest.mark.usefixtures("frozen_now")
def test_a_booking_link_to_a_day_closed_since_says_so(client, front_desk, practitioner):
    """A calendar tab left open while a manager closed the day, or added time
    off: the link says so before a patient is looked for."""
    every_kind_of_day(practitioner, monday=date(2026, 11, 30))
    client.force_login(front_desk)

    def said(day: str) -> str:
        query = {"book": day, "practitioner": practitioner.pk}
        page = client.get(reverse("clinic:patient_list"), query).content.decode()
        assert "This link to book from the calendar can't be used" in page
        return page

    assert "closed on Thursday 3 December 2026 (Staff training)" in said("2026-12-03")
    assert f"{practitioner} is away on Friday 4 December 2026." in said("2026-12-04")
    assert f"{practitioner} doesn&#x27;t work on Saturdays." in said("2026-12-05")
    assert "The clinic is closed on Sundays." in said("2026-12-06")


@pytest.mark.usefixtures("frozen_now")
def test_a_patient_registered_from_the_calendar_goes_on_to_be_booked(
    client, front_desk, practitioner
):
    open_and_working(practitioner)
    client.force_login(front_desk)
    url = (
        f"{reverse('clinic:patient_create')}?book=2026-11-27&"
        f"practitioner={practitioner.pk}"
    )
    assert "once registered, the patient's booking page opens" in (
        client.get(url).content.decode()
    )

    response = client.post(
        url,
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "date_of_birth": "1986-12-09",
            "email": "grace@example.com",
            "phone": "+44 20 7946 0000",
            "preferred_contact": "email",
            "email_consent": "on",
            "skin_type": "2",
            "notes": "",
        },
    )

    patient = Patient.objects.get(last_name="Hopper")
    assert response.status_code == 302
    assert response["Location"] == (
        f"{reverse('clinic:appointment_book', args=[patient.pk])}?date=2026-11-27&"
        f"practitioner={practitioner.pk}"
    )
