"""Managers run staff accounts in the admin, through the roles only, and take
rooms and practitioners out of use only once nothing is booked with them."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from clinic import roles
from clinic.admin import PractitionerForm
from clinic.models import (
    Appointment,
    ClinicalAccess,
    ClosureDay,
    OpeningHours,
    Patient,
    Practitioner,
    Room,
    TimeOff,
    WorkingHours,
)
from clinic.tests.factories import (
    AppointmentFactory,
    PatientFactory,
    PractitionerFactory,
    RoomFactory,
    UserFactory,
    open_clinic,
)
from plans.tests.factories import ConsultationFactory


def admin_client_for(client, manager):
    """As the admin_client fixture, where a test signs in at a time of its own."""
    manager.is_staff = True
    manager.save(update_fields=["is_staff"])
    client.force_login(manager)
    return client


def account_data(user: User, **changes) -> dict:
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "date_joined_0": "2026-11-01",
        "date_joined_1": "09:00",
        **changes,
    }


def to_front_desk(admin_client, practitioner, **kwargs):
    """A manager's post that gives the practitioner's account the Front desk
    role instead of theirs."""
    front_desk = Group.objects.get(name=roles.FRONT_DESK)
    return admin_client.post(
        reverse("admin:auth_user_change", args=[practitioner.user_id]),
        account_data(practitioner.user, groups=[front_desk.pk]),
        **kwargs,
    )


def test_a_manager_gives_roles_but_not_superuser_or_loose_permissions(admin_client):
    clerk = UserFactory(username="clerk", role=roles.FRONT_DESK)
    records = Permission.objects.get(codename="view_sessionrecord")
    practitioners = Group.objects.get(name=roles.PRACTITIONER)
    url = reverse("admin:auth_user_change", args=[clerk.pk])

    form = admin_client.get(url).content.decode()
    response = admin_client.post(
        url,
        account_data(
            clerk,
            is_superuser="on",
            user_permissions=[records.pk],
            groups=[practitioners.pk],
        ),
    )

    assert 'name="is_superuser"' not in form
    assert 'name="user_permissions"' not in form
    assert response.status_code == 302
    clerk.refresh_from_db()
    assert not clerk.is_superuser
    assert not clerk.user_permissions.exists()
    assert list(clerk.groups.values_list("name", flat=True)) == [roles.PRACTITIONER]


def test_the_manager_role_opens_settings_without_a_separate_tick(admin_client):
    clerk = UserFactory(username="clerk", role=roles.FRONT_DESK)
    managers = Group.objects.get(name=roles.MANAGER)
    url = reverse("admin:auth_user_change", args=[clerk.pk])

    admin_client.post(url, account_data(clerk, groups=[managers.pk]))
    clerk.refresh_from_db()
    assert clerk.is_staff

    # Taking the role away closes them again.
    admin_client.post(url, account_data(clerk, groups=[], is_staff="on"))
    clerk.refresh_from_db()
    assert not clerk.is_staff


@pytest.mark.parametrize("role", [roles.PRACTITIONER, roles.FRONT_DESK])
def test_staff_status_comes_with_the_manager_role_only(admin_client, role):
    """A tick of its own would open the admin's view of every patient, email
    and plan to any account, past the clinic's own pages and access log."""
    account = UserFactory(username="someone", role=role)
    url = reverse("admin:auth_user_change", args=[account.pk])
    group = Group.objects.get(name=role)

    form = admin_client.get(url).content.decode()
    response = admin_client.post(
        url, account_data(account, groups=[group.pk], is_staff="on")
    )

    assert 'name="is_staff"' not in form
    assert response.status_code == 302
    account.refresh_from_db()
    assert not account.is_staff


def test_a_manager_cant_rewrite_when_an_account_joined_or_last_signed_in(
    admin_client,
):
    clerk = UserFactory(username="clerk", role=roles.FRONT_DESK)
    joined, last = clerk.date_joined, clerk.last_login
    url = reverse("admin:auth_user_change", args=[clerk.pk])

    response = admin_client.post(
        url,
        account_data(
            clerk,
            groups=[Group.objects.get(name=roles.FRONT_DESK).pk],
            date_joined_0="2000-01-01",
            last_login_0="2020-01-01",
            last_login_1="09:00",
        ),
    )

    assert response.status_code == 302
    clerk.refresh_from_db()
    assert (clerk.date_joined, clerk.last_login) == (joined, last)


def test_an_appointment_under_way_holds_the_practitioners_role(
    admin_client, practitioner
):
    """Started ten minutes ago, not ended: they still have to record it."""
    AppointmentFactory(
        practitioner=practitioner, start=timezone.now() - timedelta(minutes=10)
    )
    refused = to_front_desk(admin_client, practitioner)

    assert refused.status_code == 200
    assert "still has 1 booking" in refused.content.decode()
    practitioner.refresh_from_db()
    assert practitioner.is_active


def test_a_practitioner_whose_account_loses_the_role_stops_taking_bookings(
    admin_client, practitioner
):
    response = to_front_desk(admin_client, practitioner, follow=True)

    practitioner.refresh_from_db()
    assert not practitioner.is_active
    assert "no longer takes bookings" in response.content.decode()


def test_a_practitioner_whose_account_is_deactivated_stops_taking_bookings(
    admin_client, practitioner
):
    group = Group.objects.get(name=roles.PRACTITIONER)
    url = reverse("admin:auth_user_change", args=[practitioner.user_id])

    admin_client.post(
        url, account_data(practitioner.user, groups=[group.pk], is_active="")
    )

    practitioner.refresh_from_db()
    assert not practitioner.is_active


def test_an_account_given_back_says_where_bookings_are_turned_on_again(
    admin_client, practitioner
):
    group = Group.objects.get(name=roles.PRACTITIONER)
    url = reverse("admin:auth_user_change", args=[practitioner.user_id])
    admin_client.post(
        url, account_data(practitioner.user, groups=[group.pk], is_active="")
    )
    practitioner.user.refresh_from_db()

    response = admin_client.post(
        url,
        account_data(practitioner.user, groups=[group.pk], is_active="on"),
        follow=True,
    )

    practitioner.refresh_from_db()
    assert not practitioner.is_active  # the manager decides when
    page = response.content.decode()
    assert (
        "doesn&#x27;t take bookings yet" in page or "doesn't take bookings yet" in page
    )
    assert reverse("admin:clinic_practitioner_change", args=[practitioner.pk]) in page
    # Saved again with no change to the account or role: a practitioner kept
    # off bookings on purpose is not spoken of again.
    practitioner.user.refresh_from_db()
    unchanged = admin_client.post(
        url,
        account_data(practitioner.user, groups=[group.pk], is_active="on"),
        follow=True,
    )
    assert "take bookings yet" not in unchanged.content.decode()
    # Saved again with bookings on, the account says nothing of them.
    Practitioner.objects.filter(pk=practitioner.pk).update(is_active=True)
    practitioner.user.refresh_from_db()
    again = admin_client.post(
        url,
        account_data(practitioner.user, groups=[group.pk], is_active="on"),
        follow=True,
    )
    assert "take bookings yet" not in again.content.decode()


def test_a_practitioner_takes_bookings_only_with_an_account_that_has_the_role(
    admin_client, practitioner
):
    practitioner.user.groups.clear()
    Practitioner.objects.filter(pk=practitioner.pk).update(is_active=False)
    url = reverse("admin:clinic_practitioner_change", args=[practitioner.pk])

    refused = admin_client.post(
        url, practitioner_form(practitioner.user_id, practitioner.title)
    )

    assert refused.status_code == 200
    assert "has no Practitioner role" in refused.content.decode()
    practitioner.refresh_from_db()
    assert not practitioner.is_active

    practitioner.user.groups.add(Group.objects.get(name=roles.PRACTITIONER))
    accepted = admin_client.post(
        url, practitioner_form(practitioner.user_id, practitioner.title)
    )

    assert accepted.status_code == 302
    practitioner.refresh_from_db()
    assert practitioner.is_active


def test_an_accounts_page_speaks_of_roles_as_the_add_form_does(
    admin_client, front_desk
):
    page = admin_client.get(
        reverse("admin:auth_user_change", args=[front_desk.pk])
    ).content.decode()

    assert "What the account opens." in page
    assert 'type="checkbox" name="groups"' in page
    assert "Hold down" not in page


def test_a_second_closure_on_the_same_day_is_refused_in_words(admin_client):
    day = timezone.localdate() + timedelta(days=30)
    ClosureDay.objects.create(date=day, reason="Inspection")

    response = admin_client.post(
        reverse("admin:clinic_closureday_add"),
        {"date": day.isoformat(), "reason": "Training"},
    )

    assert response.status_code == 200
    assert "The clinic is closed on that day already" in response.content.decode()
    assert ClosureDay.objects.count() == 1


def test_a_manager_cant_change_or_delete_a_superuser(admin_client):
    owner = User.objects.create_superuser("owner", "owner@example.com", "x" * 20)

    change = admin_client.post(
        reverse("admin:auth_user_change", args=[owner.pk]),
        account_data(owner, is_active=""),
    )
    delete = admin_client.post(
        reverse("admin:auth_user_delete", args=[owner.pk]), {"post": "yes"}
    )

    assert change.status_code == 403
    assert delete.status_code == 403
    owner.refresh_from_db()
    assert owner.is_active


@pytest.mark.parametrize(
    "changes",
    [{"groups": []}, {"is_active": ""}],
    ids=["role taken away", "account deactivated"],
)
def test_the_last_manager_keeps_the_role_and_the_account(
    admin_client, manager, changes
):
    managers = Group.objects.get(name=roles.MANAGER)
    url = reverse("admin:auth_user_change", args=[manager.pk])
    data = account_data(manager, groups=[managers.pk]) | changes

    refused = admin_client.post(url, data)
    deleting = admin_client.get(reverse("admin:auth_user_delete", args=[manager.pk]))

    assert refused.status_code == 200
    assert "only active account with the Manager role" in refused.content.decode()
    assert deleting.status_code == 403
    manager.refresh_from_db()
    assert manager.is_active
    assert manager.groups.filter(name=roles.MANAGER).exists()

    # With a second manager, the other takes it away (not themselves: see below).
    deputy = UserFactory(username="deputy", role=roles.MANAGER, is_staff=True)
    admin_client.force_login(deputy)
    accepted = admin_client.post(url, data)

    assert accepted.status_code == 302
    manager.refresh_from_db()
    assert not (manager.is_active and manager.is_staff)


@pytest.mark.parametrize(
    "changes",
    [{"groups": "front desk"}, {"is_active": ""}],
    ids=["role taken away", "account deactivated"],
)
def test_a_manager_leaves_their_own_role_and_account_to_another(
    client, manager, changes
):
    UserFactory(username="deputy", role=roles.MANAGER)
    client.force_login(manager)
    managers = Group.objects.get(name=roles.MANAGER)
    front_desk = Group.objects.get(name=roles.FRONT_DESK)
    url = reverse("admin:auth_user_change", args=[manager.pk])
    data = account_data(manager, groups=[managers.pk])
    if "groups" in changes:
        changes = {"groups": [front_desk.pk]}

    refused = client.post(url, data | changes)

    assert refused.status_code == 200
    assert "You can&#x27;t take away your own Manager role" in (
        refused.content.decode()
    )
    manager.refresh_from_db()
    assert manager.is_active
    assert manager.groups.filter(name=roles.MANAGER).exists()


def test_an_inactive_manager_doesnt_count_as_another_one(admin_client, manager):
    UserFactory(username="deputy", role=roles.MANAGER, is_active=False)
    url = reverse("admin:auth_user_change", args=[manager.pk])

    refused = admin_client.post(url, account_data(manager, groups=[]))

    assert "only active account with the Manager role" in refused.content.decode()
    assert manager.groups.filter(name=roles.MANAGER).exists()


def test_a_new_account_gets_its_first_password_on_the_add_form(admin_client):
    url = reverse("admin:auth_user_add")
    form = admin_client.get(url).content.decode()
    without = admin_client.post(
        url, {"username": "new.nurse", "usable_password": "false"}
    )
    created = admin_client.post(
        url,
        {
            "username": "new.nurse",
            "first_name": "Grace",
            "last_name": "Okafor",
            "groups": [Group.objects.get(name=roles.PRACTITIONER).pk],
            "password1": "Cl1nic-first-password",
            "password2": "Cl1nic-first-password",
        },
    )

    assert 'name="usable_password"' not in form
    assert without.status_code == 200
    assert "This field is required." in without.content.decode()
    assert created.status_code == 302
    assert User.objects.get(username="new.nurse").has_usable_password()


def test_a_new_account_is_given_its_name_and_role_on_the_add_form(admin_client):
    url = reverse("admin:auth_user_add")
    form = admin_client.get(url).content.decode()

    refused = admin_client.post(
        url,
        {
            "username": "jo.s",
            "first_name": " ",
            "last_name": "",
            "password1": "Cl1nic-first-password",
            "password2": "Cl1nic-first-password",
        },
    )
    created = admin_client.post(
        url,
        {
            "username": "jo.s",
            "first_name": "Jo",
            "last_name": "Smith",
            "email": "jo@northside-skin.co.uk",
            "groups": [Group.objects.get(name=roles.FRONT_DESK).pk],
            "password1": "Cl1nic-first-password",
            "password2": "Cl1nic-first-password",
        },
    )

    for field in ("first_name", "last_name", "groups"):
        assert f'name="{field}"' in form
    errors = refused.context["adminform"].form.errors
    assert set(errors) == {"first_name", "last_name", "groups"}
    assert created.status_code == 302
    account = User.objects.get(username="jo.s")
    assert account.get_full_name() == "Jo Smith"
    assert list(account.groups.values_list("name", flat=True)) == [roles.FRONT_DESK]
    assert not account.is_staff  # the admin opens to managers only


def test_rooms_practitioners_and_protocols_with_a_history_offer_no_delete(
    admin_client, practitioner, room
):
    from plans.tests.factories import TreatmentPlanFactory

    plan = TreatmentPlanFactory(practitioner=practitioner)
    booked = AppointmentFactory(practitioner=practitioner, room=room)
    unused = RoomFactory(name="Spare room")
    registered_by_mistake = PatientFactory()

    for name, obj, why in (
        ("clinic_room", room, "so it can't be deleted: untick “in use” instead."),
        (
            "clinic_practitioner",
            practitioner,
            "so they can't be deleted: untick “takes bookings” instead.",
        ),
        (
            "plans_protocol",
            plan.protocol,
            "so it can't be deleted: untick “offered” instead.",
        ),
        (
            "clinic_patient",
            booked.patient,
            "Only a patient registered by mistake, with nothing booked, can be.",
        ),
    ):
        change = reverse(f"admin:{name}_change", args=[obj.pk])
        page = admin_client.get(change)
        assert "deletelink" not in page.content.decode()
        # An old link or a typed address: back on its page, told why.
        delete = reverse(f"admin:{name}_delete", args=[obj.pk])
        for deleting in (
            admin_client.get(delete, follow=True),
            admin_client.post(delete, {"post": "yes"}, follow=True),
        ):
            assert deleting.redirect_chain == [(change, 302)]
            assert escape(why) in deleting.content.decode()
        assert type(obj).objects.filter(pk=obj.pk).exists()
    assert (
        admin_client.get(
            reverse("admin:clinic_room_delete", args=[unused.pk])
        ).status_code
        == 200
    )
    assert (
        admin_client.get(
            reverse("admin:clinic_patient_delete", args=[registered_by_mistake.pk])
        ).status_code
        == 200
    )
    for name in (
        "clinic_room",
        "clinic_practitioner",
        "plans_protocol",
        "clinic_patient",
    ):
        listed = admin_client.get(reverse(f"admin:{name}_changelist"))
        assert "delete_selected" not in listed.content.decode()
    # Before any change, the protocol says who follows it.
    protocol_page = admin_client.get(
        reverse("admin:plans_protocol_change", args=[plan.protocol.pk])
    ).content.decode()
    assert "1 plan in progress follows this protocol." in protocol_page


def test_accounts_are_not_deleted_in_bulk(admin_client, manager):
    page = admin_client.get(reverse("admin:auth_user_changelist"))

    assert "delete_selected" not in page.content.decode()


def test_a_superuser_still_sees_every_field(client, db):
    owner = User.objects.create_superuser("owner", "owner@example.com", "x" * 20)
    client.force_login(owner)

    form = client.get(reverse("admin:auth_user_change", args=[owner.pk]))

    assert 'name="is_superuser"' in form.content.decode()


def test_a_session_completed_before_its_booked_end_doesnt_hold_its_room(
    admin_client, room
):
    now = timezone.now()
    AppointmentFactory(
        room=room,
        start=now - timedelta(minutes=30),
        end=now + timedelta(minutes=30),
        status=Appointment.Status.COMPLETED,
    )
    url = reverse("admin:clinic_room_change", args=[room.pk])

    response = admin_client.post(url, {"name": room.name, "is_active": ""})

    assert response.status_code == 302
    room.refresh_from_db()
    assert not room.is_active


def test_a_room_with_bookings_ahead_stays_in_use_until_they_are_moved(
    admin_client, room
):
    start = timezone.now() + timedelta(days=3)
    booked = AppointmentFactory(room=room, start=start)
    url = reverse("admin:clinic_room_change", args=[room.pk])

    refused = admin_client.post(url, {"name": room.name, "is_active": ""})

    assert refused.status_code == 200
    assert f"{room} still has 1 booking, on " in refused.content.decode()
    room.refresh_from_db()
    assert room.is_active
    booked.status = Appointment.Status.CANCELLED
    booked.cancel_reason = "Moved away."
    booked.save()
    assert admin_client.post(url, {"name": room.name, "is_active": ""}).status_code == (
        302
    )
    room.refresh_from_db()
    assert not room.is_active


def test_a_practitioner_with_bookings_ahead_stays_bookable(admin_client, practitioner):
    AppointmentFactory(
        practitioner=practitioner, start=timezone.now() + timedelta(days=1)
    )
    AppointmentFactory(
        practitioner=practitioner, start=timezone.now() + timedelta(days=8)
    )
    form = PractitionerForm(
        instance=practitioner,
        data={
            "user": practitioner.user_id,
            "title": practitioner.title,
            "is_active": "",
        },
    )

    assert not form.is_valid()
    assert "still has 2 bookings, the first on " in form.errors["is_active"][0]


@pytest.mark.parametrize("role", [roles.FRONT_DESK, roles.PRACTITIONER, roles.MANAGER])
def test_a_manager_sets_no_one_elses_password(admin_client, role):
    # Roles can be switched off and on again: the role doesn't matter.
    colleague = UserFactory(username="colleague", role=role)
    url = reverse("admin:auth_user_password_change", args=[colleague.pk])

    response = admin_client.post(
        url, {"password1": "a-new-long-pass-2026", "password2": "a-new-long-pass-2026"}
    )

    assert response.status_code == 403
    colleague.refresh_from_db()
    assert not colleague.check_password("a-new-long-pass-2026")


def test_a_manager_sets_their_own_password(admin_client, manager):
    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[manager.pk]),
        {"password1": "a-new-long-pass-2026", "password2": "a-new-long-pass-2026"},
    )

    assert response.status_code == 302


def test_an_account_page_offers_a_password_reset_only_where_it_is_allowed(
    admin_client, manager
):
    colleague = UserFactory(username="colleague", role=roles.FRONT_DESK)

    def page_of(account) -> str:
        url = reverse("admin:auth_user_change", args=[account.pk])
        return admin_client.get(url).content.decode()

    colleague_page = page_of(colleague)
    own_page = page_of(manager)

    assert "../password/" not in colleague_page
    assert "or a superuser, can set this password." in colleague_page
    assert "../password/" in own_page


def test_opening_hours_are_kept_to_the_minute(admin_client):
    response = admin_client.post(
        reverse("admin:clinic_openinghours_add"),
        {"weekday": "0", "opens": "09:00:30", "closes": "18:00"},
    )

    assert response.status_code == 200
    assert "Give the time in hours and minutes" in response.content.decode()


def test_the_admin_writes_times_on_the_24_hour_clock(admin_client):
    monday = OpeningHours.objects.create(weekday=0, opens=time(9), closes=time(17, 30))

    listed = admin_client.get(reverse("admin:clinic_openinghours_changelist"))
    form = admin_client.get(
        reverse("admin:clinic_openinghours_change", args=[monday.pk])
    )

    assert "17:30" in listed.content.decode()
    assert "p.m." not in listed.content.decode()
    assert 'value="09:00"' in form.content.decode()
    assert 'value="17:30"' in form.content.decode()


def test_a_refused_change_names_the_row_as_it_is_saved(admin_client):
    saturday = OpeningHours.objects.create(weekday=5, opens=time(9), closes=time(14))
    url = reverse("admin:clinic_openinghours_change", args=[saturday.pk])

    refused = admin_client.post(
        url, {"weekday": "5", "opens": "14:00", "closes": "09:00"}
    )

    page = refused.content.decode()
    assert refused.status_code == 200
    # What was typed stays in the form; the title and breadcrumb say what is kept.
    assert 'value="14:00"' in page
    assert refused.context["original"] == saturday
    assert str(refused.context["original"]) == str(saturday)
    assert refused.context["subtitle"] == str(saturday)
    assert f"<title>Error: {saturday} |" in page
    saturday.refresh_from_db()
    assert (saturday.opens, saturday.closes) == (time(9), time(14))


def test_the_admin_registers_patients_as_the_front_desk_does(admin_client):
    data = {
        "first_name": " \uff21da ",
        "last_name": "Lovelace",
        "date_of_birth": "1990-12-10",
        "email": "",
        "phone": "",
        "preferred_contact": "phone",
        "skin_type": "",
        "notes": "",
    }
    url = reverse("admin:clinic_patient_add")

    first = admin_client.post(url, {**data, "phone": "+44 7700 900123"})
    again = admin_client.post(url, {**data, "phone": "+44 7700 900123"})

    assert first.status_code == 302
    assert Patient.objects.get().first_name == "Ada"
    assert again.status_code == 200
    assert "is registered already" in again.content.decode()
    assert Patient.objects.count() == 1


def test_a_practitioners_account_stays_active_while_sessions_lie_ahead(
    admin_client, practitioner
):
    AppointmentFactory(
        practitioner=practitioner, start=timezone.now() + timedelta(days=2)
    )
    account = practitioner.user

    response = admin_client.post(
        reverse("admin:auth_user_change", args=[account.pk]),
        account_data(account, is_active=""),
    )

    assert response.status_code == 200
    assert "still has 1 booking" in response.content.decode()
    account.refresh_from_db()
    assert account.is_active


# Calendar settings over bookings ---------------------------------------------------


@pytest.fixture
def next_monday_booking(practitioner, room) -> Appointment:
    """A consultation next Monday 10:00-11:00, in a clinic open 09:00-18:00."""
    open_clinic(practitioner)
    today = timezone.localdate()
    monday = today + timedelta(days=7 - today.weekday())
    start = timezone.make_aware(datetime.combine(monday, time(10)))
    return AppointmentFactory(
        practitioner=practitioner,
        room=room,
        start=start,
        end=start + timedelta(hours=1),
    )


def test_a_closure_day_over_bookings_is_refused_naming_them(
    admin_client, next_monday_booking
):
    day = timezone.localtime(next_monday_booking.start).date()

    refused = admin_client.post(
        reverse("admin:clinic_closureday_add"), {"date": day, "reason": "Flood"}
    )

    page = refused.content.decode()
    assert refused.status_code == 200
    assert "would leave 1 booked appointment on a closed day" in page
    assert str(next_monday_booking.patient) in page
    assert not ClosureDay.objects.exists()
    next_monday_booking.status = Appointment.Status.CANCELLED
    next_monday_booking.cancel_reason = "Flood"
    next_monday_booking.save()
    assert (
        admin_client.post(
            reverse("admin:clinic_closureday_add"), {"date": day, "reason": "Flood"}
        ).status_code
        == 302
    )


@pytest.mark.parametrize("day", ["2027-03-28", "2027-10-31"])
def test_time_off_from_the_hour_the_clocks_change_is_refused_in_words(
    admin_client, practitioner, day
):
    refused = admin_client.post(
        reverse("admin:clinic_timeoff_add"),
        {
            "practitioner": practitioner.pk,
            "start_0": day,
            "start_1": "01:30",
            "end_0": day,
            "end_1": "18:00",
            "reason": "Course",
        },
    )

    page = refused.content.decode()
    assert "The clocks change that night" in page
    assert "Europe/London" not in page
    assert not TimeOff.objects.exists()


def test_time_off_over_a_practitioners_bookings_is_refused(
    admin_client, next_monday_booking, practitioner
):
    day = timezone.localtime(next_monday_booking.start).date()

    refused = admin_client.post(
        reverse("admin:clinic_timeoff_add"),
        {
            "practitioner": practitioner.pk,
            "start_0": day.isoformat(),
            "start_1": "08:00",
            "end_0": day.isoformat(),
            "end_1": "18:00",
            "reason": "Course",
        },
    )

    assert refused.status_code == 200
    assert "This time off would leave 1 booked appointment during it" in (
        refused.content.decode()
    )
    assert not TimeOff.objects.exists()


def test_opening_later_on_a_day_with_a_morning_booking_is_refused(
    admin_client, next_monday_booking
):
    monday = OpeningHours.objects.get(weekday=0)
    url = reverse("admin:clinic_openinghours_change", args=[monday.pk])

    refused = admin_client.post(
        url, {"weekday": "0", "opens": "12:00", "closes": "18:00"}
    )
    allowed = admin_client.post(
        url, {"weekday": "0", "opens": "09:30", "closes": "17:00"}
    )

    assert refused.status_code == 200
    assert "This change to opening hours would leave 1 booked" in (
        refused.content.decode()
    )
    assert allowed.status_code == 302
    monday.refresh_from_db()
    assert (monday.opens, monday.closes) == (time(9, 30), time(17))


def test_opening_hours_that_end_before_they_start_are_refused_as_such(
    admin_client, next_monday_booking
):
    """Not as hours that would leave the day's bookings outside: moving them
    would not help."""
    monday = OpeningHours.objects.get(weekday=0)
    url = reverse("admin:clinic_openinghours_change", args=[monday.pk])

    refused = admin_client.post(
        url, {"weekday": "0", "opens": "18:00", "closes": "09:00"}
    )

    page = refused.content.decode()
    assert page.count("Closing time must be after opening time.") == 1
    assert "would leave" not in page
    monday.refresh_from_db()
    assert monday.opens < monday.closes


def test_an_opening_hours_block_may_not_overlap_another(admin_client, practitioner):
    open_clinic(practitioner)

    refused = admin_client.post(
        reverse("admin:clinic_openinghours_add"),
        {"weekday": "0", "opens": "17:00", "closes": "20:00"},
    )

    assert refused.status_code == 200
    assert "Two blocks of Monday overlap: make them follow each other." in (
        refused.content.decode()
    )


def test_a_block_of_opening_hours_stretched_over_the_next_one_joins_it(
    admin_client, next_monday_booking
):
    """Monday split at 10:30 with a booking across it (10:00-11:00): the split
    can't be moved or a block deleted, but the first block can take in the
    second."""
    monday = OpeningHours.objects.get(weekday=0)
    OpeningHours.objects.filter(pk=monday.pk).update(closes=time(10, 30))
    OpeningHours.objects.create(weekday=0, opens=time(10, 30), closes=time(18))
    url = reverse("admin:clinic_openinghours_change", args=[monday.pk])

    joined = admin_client.post(
        url, {"weekday": "0", "opens": "09:00", "closes": "18:00"}, follow=True
    )

    assert joined.status_code == 200
    assert "Monday 10:30-18:00 is joined into this block." in (joined.content.decode())
    assert list(
        OpeningHours.objects.filter(weekday=0).values_list("opens", "closes")
    ) == [(time(9), time(18))]
    # Taking in a block while leaving a booking out is still refused.
    OpeningHours.objects.filter(weekday=0).update(closes=time(10, 30))
    OpeningHours.objects.create(weekday=0, opens=time(10, 30), closes=time(18))
    refused = admin_client.post(
        url, {"weekday": "0", "opens": "10:30", "closes": "18:00"}
    )
    assert refused.status_code == 200
    assert OpeningHours.objects.filter(weekday=0).count() == 2


def test_working_hours_that_leave_a_booking_out_are_refused(
    admin_client, next_monday_booking, practitioner
):
    monday = WorkingHours.objects.get(practitioner=practitioner, weekday=0)
    url = reverse("admin:clinic_workinghours_change", args=[monday.pk])

    refused = admin_client.post(
        url,
        {
            "practitioner": practitioner.pk,
            "weekday": "0",
            "start": "12:00",
            "end": "18:00",
        },
    )

    assert refused.status_code == 200
    assert "This change to the working hours would leave 1 booked" in (
        refused.content.decode()
    )


def test_a_booking_made_outside_hours_on_purpose_doesnt_hold_up_hours(
    admin_client, next_monday_booking
):
    evening = next_monday_booking.start.replace(hour=19)
    AppointmentFactory(
        practitioner=next_monday_booking.practitioner,
        room=next_monday_booking.room,
        start=evening,
        end=evening + timedelta(hours=1),
        override_reason="Only free after work.",
    )
    monday = OpeningHours.objects.get(weekday=0)
    url = reverse("admin:clinic_openinghours_change", args=[monday.pk])

    widened = admin_client.post(
        url, {"weekday": "0", "opens": "08:00", "closes": "18:00"}
    )

    assert widened.status_code == 302


def test_a_closure_or_time_off_counts_a_booking_made_outside_hours(
    admin_client, next_monday_booking
):
    """Its reason covered the hours, never a closure or time off added later."""
    evening = next_monday_booking.start.replace(hour=19)
    late = AppointmentFactory(
        practitioner=next_monday_booking.practitioner,
        room=next_monday_booking.room,
        start=evening,
        end=evening + timedelta(hours=1),
        override_reason="Only free after work.",
    )
    next_monday_booking.status = Appointment.Status.CANCELLED
    next_monday_booking.cancel_reason = "Unwell."
    next_monday_booking.save()
    day = timezone.localdate(evening)

    closing = admin_client.post(
        reverse("admin:clinic_closureday_add"), {"date": day, "reason": "Flood"}
    )
    off = admin_client.post(
        reverse("admin:clinic_timeoff_add"),
        {
            "practitioner": late.practitioner_id,
            "start_0": day.isoformat(),
            "start_1": "18:00",
            "end_0": day.isoformat(),
            "end_1": "21:00",
            "reason": "Course",
        },
    )

    assert str(late.patient) in closing.content.decode()
    assert str(late.patient) in off.content.decode()
    assert not ClosureDay.objects.exists()
    assert not TimeOff.objects.exists()


def practitioner_form(user_id, title: str, *, hours: int = 0, stored: int = 0) -> dict:
    """A practitioner's admin page as posted, before its rows: ``hours`` rows of
    working hours (``stored`` of them already saved) and no time off."""
    return {
        "user": user_id,
        "title": title,
        "is_active": "on",
        "working_hours-TOTAL_FORMS": str(hours),
        "working_hours-INITIAL_FORMS": str(stored),
        "working_hours-MIN_NUM_FORMS": "0",
        "working_hours-MAX_NUM_FORMS": "1000",
        "time_off-TOTAL_FORMS": "0",
        "time_off-INITIAL_FORMS": "0",
        "time_off-MIN_NUM_FORMS": "0",
        "time_off-MAX_NUM_FORMS": "1000",
    }


def practitioner_page_data(practitioner, blocks, *, delete=()) -> dict:
    """The practitioner's admin page as posted: their week and no time off."""
    rows = list(WorkingHours.objects.filter(practitioner=practitioner).order_by("pk"))
    data = practitioner_form(
        practitioner.user_id, practitioner.title, hours=len(blocks), stored=len(rows)
    )
    for n, (weekday, start, end) in enumerate(blocks):
        prefix = f"working_hours-{n}-"
        data |= {
            f"{prefix}practitioner": practitioner.pk,
            f"{prefix}weekday": str(weekday),
            f"{prefix}start": start,
            f"{prefix}end": end,
        }
        if n < len(rows):
            data[f"{prefix}id"] = rows[n].pk
        if n in delete:
            data[f"{prefix}DELETE"] = "on"
    return data


def test_two_rows_of_time_off_sent_together_that_overlap_are_refused(
    admin_client, practitioner
):
    day = timezone.localdate() + timedelta(days=14)
    data = practitioner_page_data(practitioner, []) | {"time_off-TOTAL_FORMS": "2"}
    for n, (first, last, start_hour) in enumerate([(0, 1, "10:00"), (1, 2, "09:00")]):
        data |= {
            f"time_off-{n}-practitioner": practitioner.pk,
            f"time_off-{n}-start_0": f"{day + timedelta(days=first):%Y-%m-%d}",
            f"time_off-{n}-start_1": start_hour,
            f"time_off-{n}-end_0": f"{day + timedelta(days=last):%Y-%m-%d}",
            f"time_off-{n}-end_1": "18:00",
            f"time_off-{n}-reason": "Away",
        }

    response = admin_client.post(
        reverse("admin:clinic_practitioner_change", args=[practitioner.pk]), data
    )

    assert response.status_code == 200
    assert "Two rows of time off overlap" in response.content.decode()
    assert not TimeOff.objects.exists()


def test_time_off_replaced_in_one_save_and_old_overlaps_dont_hold_the_page_up(
    admin_client, practitioner
):
    day = timezone.localdate() + timedelta(days=14)
    at = lambda hour: timezone.make_aware(datetime.combine(day, time(hour)))  # noqa: E731
    old = TimeOff.objects.create(practitioner=practitioner, start=at(9), end=at(18))
    # Kept from before the rule: two that overlap.
    TimeOff.objects.create(practitioner=practitioner, start=at(12), end=at(13))
    url = reverse("admin:clinic_practitioner_change", args=[practitioner.pk])

    def rows(extra: dict) -> dict:
        data = practitioner_page_data(practitioner, []) | {
            "time_off-INITIAL_FORMS": "2",
            "time_off-TOTAL_FORMS": "2",
        }
        for n, off in enumerate(TimeOff.objects.order_by("pk")):
            data |= {
                f"time_off-{n}-id": off.pk,
                f"time_off-{n}-practitioner": practitioner.pk,
                f"time_off-{n}-start_0": f"{day:%Y-%m-%d}",
                f"time_off-{n}-start_1": f"{timezone.localtime(off.start):%H:%M}",
                f"time_off-{n}-end_0": f"{day:%Y-%m-%d}",
                f"time_off-{n}-end_1": f"{timezone.localtime(off.end):%H:%M}",
                f"time_off-{n}-reason": "",
            }
        return data | extra

    kept = admin_client.post(url, rows({"title": "nurse"}))
    assert kept.status_code == 302

    replaced = admin_client.post(
        url,
        rows(
            {
                "time_off-0-DELETE": "on",
                "time_off-1-DELETE": "on",
                "time_off-TOTAL_FORMS": "3",
                "time_off-2-practitioner": practitioner.pk,
                "time_off-2-start_0": f"{day:%Y-%m-%d}",
                "time_off-2-start_1": "10:00",
                "time_off-2-end_0": f"{day:%Y-%m-%d}",
                "time_off-2-end_1": "17:00",
                "time_off-2-reason": "Course",
            }
        ),
    )

    assert replaced.status_code == 302, replaced.content.decode()[:2000]
    assert not TimeOff.objects.filter(pk=old.pk).exists()
    assert list(TimeOff.objects.values_list("reason", flat=True)) == ["Course"]


def test_opening_hours_cut_shorter_than_a_practitioners_hours_warn_when_saved(
    admin_client, practitioner
):
    saturday = OpeningHours.objects.create(weekday=5, opens=time(9), closes=time(14))
    WorkingHours.objects.create(
        practitioner=practitioner, weekday=5, start=time(9), end=time(14)
    )

    response = admin_client.post(
        reverse("admin:clinic_openinghours_change", args=[saturday.pk]),
        {"weekday": "5", "opens": "09:00", "closes": "12:30"},
        follow=True,
    )

    said = [str(m) for m in response.context["messages"]]
    assert any(
        f"{practitioner} works outside the clinic's opening hours: Saturday "
        "09:00-14:00 (open 09:00-12:30)" in m
        for m in said
    ), said


def test_working_hours_outside_opening_hours_are_saved_with_a_warning(
    admin_client, practitioner
):
    OpeningHours.objects.create(weekday=0, opens=time(9), closes=time(18))
    url = reverse("admin:clinic_practitioner_change", args=[practitioner.pk])

    response = admin_client.post(
        url,
        practitioner_page_data(
            practitioner, [(0, "07:00", "20:00"), (6, "09:00", "17:00")]
        ),
        follow=True,
    )

    assert WorkingHours.objects.filter(practitioner=practitioner).count() == 2
    said = [str(m) for m in response.context["messages"]]
    assert any(
        "works outside the clinic's opening hours: Monday 07:00-20:00 (open "
        "09:00-18:00); Sunday 09:00-17:00 (the clinic is closed)" in m
        for m in said
    ), said
    WorkingHours.objects.filter(weekday=6).delete()
    WorkingHours.objects.filter(weekday=0).update(start=time(9), end=time(18))
    again = admin_client.post(
        url, practitioner_page_data(practitioner, [(0, "09:00", "18:00")]), follow=True
    )
    assert not any(
        "outside the clinic's opening hours" in str(m)
        for m in again.context["messages"]
    )


def test_the_boundary_between_two_blocks_moves_in_one_save(
    admin_client, practitioner, room
):
    WorkingHours.objects.create(
        practitioner=practitioner, weekday=0, start=time(9), end=time(13)
    )
    WorkingHours.objects.create(
        practitioner=practitioner, weekday=0, start=time(13), end=time(18)
    )
    url = reverse("admin:clinic_practitioner_change", args=[practitioner.pk])

    response = admin_client.post(
        url,
        practitioner_page_data(
            practitioner, [(0, "09:00", "12:00"), (0, "12:00", "18:00")]
        ),
    )

    assert response.status_code == 302
    assert sorted(
        WorkingHours.objects.filter(practitioner=practitioner).values_list(
            "start", "end"
        )
    ) == [(time(9), time(12)), (time(12), time(18))]


def test_a_block_with_bookings_cant_be_deleted_from_the_practitioners_page(
    admin_client, next_monday_booking, practitioner
):
    week = list(
        WorkingHours.objects.filter(practitioner=practitioner)
        .order_by("pk")
        .values_list("weekday", "start", "end")
    )
    blocks = [(d, f"{s:%H:%M}", f"{e:%H:%M}") for d, s, e in week]
    monday = next(n for n, (d, _s, _e) in enumerate(blocks) if d == 0)
    url = reverse("admin:clinic_practitioner_change", args=[practitioner.pk])

    refused = admin_client.post(
        url, practitioner_page_data(practitioner, blocks, delete={monday})
    )

    assert refused.status_code == 200
    assert "This change to the working hours would leave 1 booked" in (
        refused.content.decode()
    )
    assert WorkingHours.objects.filter(practitioner=practitioner, weekday=0).exists()


def test_opening_hours_with_bookings_in_them_cant_be_deleted(
    admin_client, next_monday_booking
):
    monday = OpeningHours.objects.get(weekday=0)
    sunday = OpeningHours.objects.create(weekday=6, opens=time(10), closes=time(14))

    refused = admin_client.post(
        reverse("admin:clinic_openinghours_delete", args=[monday.pk]),
        {"post": "yes"},
        follow=True,
    )
    allowed = admin_client.post(
        reverse("admin:clinic_openinghours_delete", args=[sunday.pk]), {"post": "yes"}
    )

    # Back on its page, saying which bookings it would strand.
    assert refused.redirect_chain == [
        (reverse("admin:clinic_openinghours_change", args=[monday.pk]), 302)
    ]
    page = refused.content.decode()
    assert "Deleting these opening hours would leave 1 booked appointment" in page
    assert str(next_monday_booking.patient) in page
    assert allowed.status_code == 302
    assert OpeningHours.objects.filter(pk=monday.pk).exists()
    assert not OpeningHours.objects.filter(pk=sunday.pk).exists()


@pytest.mark.parametrize(
    "name",
    ["ROOM 1", "Room\u00a01", "Room  1", "\uff32\uff4f\uff4f\uff4d 1", "room 1 "],
)
def test_a_room_named_like_another_is_refused(admin_client, room, name):
    refused = admin_client.post(
        reverse("admin:clinic_room_add"), {"name": name, "is_active": "on"}
    )

    assert refused.status_code == 200
    assert "Room 1 has this name already." in refused.content.decode()
    assert list(Room.objects.values_list("name", flat=True)) == ["Room 1"]


def test_a_room_name_is_saved_without_invisible_marks_pasted_with_it(admin_client):
    added = admin_client.post(
        reverse("admin:clinic_room_add"), {"name": "Room 1\u200b", "is_active": "on"}
    )

    assert added.status_code == 302
    assert list(Room.objects.values_list("name", flat=True)) == ["Room 1"]


def test_the_database_refuses_room_names_differing_only_in_case(room):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Room.objects.create(name="ROOM 1")


def test_accounts_with_the_manager_role_get_staff_status_when_migrating(db):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("clinic.migrations.0011_managers_open_settings")
    earlier = UserFactory(username="earlier.manager", role=roles.MANAGER)
    User.objects.filter(pk=earlier.pk).update(is_staff=False)
    clerk = UserFactory(username="clerk", role=roles.FRONT_DESK)

    migration.managers_are_staff(apps, None)

    earlier.refresh_from_db()
    clerk.refresh_from_db()
    assert (earlier.is_staff, clerk.is_staff) == (True, False)


def test_staff_status_and_bookings_follow_the_roles_when_migrating(db):
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "clinic.migrations.0015_staff_status_follows_role"
    )
    manager = UserFactory(username="a.manager", role=roles.MANAGER, is_staff=True)
    ticked = UserFactory(username="ticked", role=roles.FRONT_DESK, is_staff=True)
    owner = User.objects.create_superuser("owner", "owner@example.com", "x" * 20)
    keeps = PractitionerFactory(user__username="keeps")
    lost_role = PractitionerFactory(user__username="lost.role")
    lost_role.user.groups.clear()
    gone = PractitionerFactory(user__username="gone", user__is_active=False)
    booked = PractitionerFactory(user__username="booked", user__is_active=False)
    AppointmentFactory(practitioner=booked, start=timezone.now() + timedelta(days=3))

    migration.staff_status_follows_role(apps, None)

    for account in (manager, ticked, owner):
        account.refresh_from_db()
    assert (manager.is_staff, ticked.is_staff, owner.is_staff) == (True, False, True)
    # One with bookings ahead keeps taking them until they are moved.
    assert sorted(
        Practitioner.objects.filter(is_active=True).values_list("pk", flat=True)
    ) == sorted([keeps.pk, booked.pk])
    assert not Practitioner.objects.get(pk=gone.pk).is_active


def test_a_username_taken_as_it_is_is_refused_in_those_words(admin_client):
    clerk = UserFactory(username="clerk", role=roles.FRONT_DESK)
    UserFactory(username="desk.two", role=roles.FRONT_DESK)

    refused = admin_client.post(
        reverse("admin:auth_user_change", args=[clerk.pk]),
        account_data(clerk, username="desk.two"),
    )

    page = refused.content.decode()
    assert "Another account has this username." in page
    assert "in other letters" not in page


def test_a_username_differing_only_in_case_is_refused(admin_client):
    clerk = UserFactory(username="clerk", role=roles.FRONT_DESK)
    UserFactory(username="desk.two", role=roles.FRONT_DESK)

    refused = admin_client.post(
        reverse("admin:auth_user_change", args=[clerk.pk]),
        account_data(clerk, username="Desk.Two"),
    )

    assert refused.status_code == 200
    assert "Another account has this username in other letters." in (
        refused.content.decode()
    )
    clerk.refresh_from_db()
    assert clerk.username == "clerk"


def test_hours_lists_offer_no_bulk_delete(admin_client):
    for name in (
        "admin:clinic_openinghours_changelist",
        "admin:clinic_workinghours_changelist",
    ):
        page = admin_client.get(reverse(name)).content.decode()
        assert "delete_selected" not in page


def test_reading_a_consultation_in_the_admin_is_in_the_access_log(admin_client):
    consultation = ConsultationFactory()

    response = admin_client.get(
        reverse("admin:clinic_consultation_change", args=[consultation.pk])
    )

    assert response.status_code == 200
    # Read only: no Save button that would save nothing and say it did.
    assert 'name="_save"' not in response.content.decode()
    # Its lists in words.
    assert "Face" in response.content.decode()
    assert '["face"' not in response.content.decode()
    saved = admin_client.post(
        reverse("admin:clinic_consultation_change", args=[consultation.pk]),
        {"_save": "Save"},
    )
    assert saved.status_code == 403
    [entry] = ClinicalAccess.objects.all()
    assert (entry.patient, entry.what, entry.object_id) == (
        consultation.patient,
        "consultation (admin)",
        consultation.pk,
    )
    # An id that isn't one is the admin's own "not found", and no entry.
    admin_client.get(reverse("admin:clinic_consultation_change", args=["x"]))
    assert ClinicalAccess.objects.count() == 1


def test_an_admin_page_opened_before_a_colleagues_save_does_not_undo_it(
    admin_client, patient
):
    url = reverse("admin:clinic_patient_change", args=[patient.pk])
    form = admin_client.get(url).context["adminform"].form
    mine = {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "email": patient.email,
        "phone": patient.phone,
        "preferred_contact": patient.preferred_contact,
        "email_consent": "on",
        "consent_shown": "1",
        "skin_type": "",
        "notes": "Prefers mornings.",
        "seen": form.initial["seen"],
    }
    # Meanwhile, the front desk changes the phone number.
    Patient.objects.filter(pk=patient.pk).update(phone="+44 7700 900999")

    response = admin_client.post(url, mine, follow=True)

    assert response.redirect_chain == [(url, 302)]
    assert "while this page was open, so your changes were not saved" in (
        response.content.decode()
    )
    assert "was changed successfully" not in response.content.decode()
    patient.refresh_from_db()
    assert (patient.phone, patient.notes) == ("+44 7700 900999", "")
    # From the page as it is now, the change is saved.
    again = admin_client.get(url).context["adminform"].form.initial["seen"]
    mine |= {"phone": "+44 7700 900999", "seen": again}
    assert admin_client.post(url, mine).status_code == 302
    patient.refresh_from_db()
    assert patient.notes == "Prefers mornings."


def test_a_practitioner_keeps_their_account(admin_client, practitioner, front_desk):
    AppointmentFactory(
        practitioner=practitioner, start=timezone.now() + timedelta(days=1)
    )
    url = reverse("admin:clinic_practitioner_change", args=[practitioner.pk])
    data = practitioner_page_data(practitioner, []) | {"user": front_desk.pk}

    response = admin_client.post(url, data)

    assert response.status_code == 302
    practitioner.refresh_from_db()
    assert practitioner.user.username == "practitioner"


def practitioner_add_data(user) -> dict:
    return practitioner_form(user.pk, "nurse")


def test_only_an_account_with_the_practitioner_role_becomes_a_practitioner(
    admin_client, front_desk, practitioner
):
    url = reverse("admin:clinic_practitioner_add")
    newcomer = UserFactory(username="new.nurse", role=roles.PRACTITIONER)

    offered = list(
        admin_client.get(url).context["adminform"].form.fields["user"].queryset
    )
    refused = [
        admin_client.post(url, practitioner_add_data(account))
        for account in (front_desk, practitioner.user)
    ]
    added = admin_client.post(url, practitioner_add_data(newcomer))

    assert offered == [newcomer]
    for response in refused:
        assert response.status_code == 200
        assert "Pick an account from the list" in response.content.decode()
    assert added.status_code == 302
    assert Practitioner.objects.filter(user=newcomer, title="nurse").exists()
    assert not Practitioner.objects.filter(user=front_desk).exists()


def test_a_new_practitioners_hours_may_not_overlap(admin_client):
    newcomer = UserFactory(username="new.nurse", role=roles.PRACTITIONER)
    data = practitioner_form(newcomer.pk, "nurse", hours=2)
    for n, (start, end) in enumerate([("09:00", "17:00"), ("12:00", "15:00")]):
        data |= {
            f"working_hours-{n}-weekday": "0",
            f"working_hours-{n}-start": start,
            f"working_hours-{n}-end": end,
        }

    refused = admin_client.post(reverse("admin:clinic_practitioner_add"), data)

    assert refused.status_code == 200
    assert "Two blocks of Monday overlap: make them follow each other." in (
        refused.content.decode()
    )
    assert not Practitioner.objects.filter(user=newcomer).exists()


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2040-01-01"])
def test_a_closure_day_years_away_is_refused_in_words(admin_client, day):
    response = admin_client.post(
        reverse("admin:clinic_closureday_add"), {"date": day, "reason": "Far"}
    )

    assert response.status_code == 200
    assert "Pick a date within five years of today." in response.content.decode()
    assert not ClosureDay.objects.exists()


def test_a_closure_day_in_the_past_is_refused_in_words(client, manager):
    # Just before midnight: "yesterday" and "today" are the clinic's own days.
    with time_machine.travel(
        datetime(2026, 11, 27, 23, 59, 30, tzinfo=UTC), tick=False
    ):
        admin = admin_client_for(client, manager)
        yesterday = timezone.localdate() - timedelta(days=1)

        refused = admin.post(
            reverse("admin:clinic_closureday_add"),
            {"date": yesterday.isoformat(), "reason": "Retro"},
        )
        today = admin.post(
            reverse("admin:clinic_closureday_add"),
            {"date": timezone.localdate().isoformat(), "reason": "Burst pipe"},
        )

    assert refused.status_code == 200
    assert "That day has passed" in refused.content.decode()
    assert today.status_code == 302
    assert list(ClosureDay.objects.values_list("reason", flat=True)) == ["Burst pipe"]


def test_time_off_that_has_ended_is_refused_but_one_under_way_is_kept(
    admin_client, practitioner
):
    now = timezone.localtime().replace(second=0, microsecond=0)

    def add(start, end):
        return admin_client.post(
            reverse("admin:clinic_timeoff_add"),
            {
                "practitioner": practitioner.pk,
                "start_0": f"{start:%Y-%m-%d}",
                "start_1": f"{start:%H:%M}",
                "end_0": f"{end:%Y-%m-%d}",
                "end_1": f"{end:%H:%M}",
                "reason": "Ill",
            },
        )

    ended = add(now - timedelta(days=2), now - timedelta(days=1))
    under_way = add(now - timedelta(days=1), now + timedelta(days=1))

    assert ended.status_code == 200
    assert "That time has passed" in ended.content.decode()
    assert under_way.status_code == 302
    assert TimeOff.objects.count() == 1


def test_time_off_overlapping_the_practitioners_other_time_off_is_refused(
    admin_client, practitioner, other_practitioner
):
    day = timezone.localdate() + timedelta(days=7)

    def add(who, first: int, last: int):
        return admin_client.post(
            reverse("admin:clinic_timeoff_add"),
            {
                "practitioner": who.pk,
                "start_0": f"{day + timedelta(days=first):%Y-%m-%d}",
                "start_1": "10:00",
                "end_0": f"{day + timedelta(days=last):%Y-%m-%d}",
                "end_1": "18:00",
                "reason": "Away",
            },
        )

    assert add(practitioner, 0, 4).status_code == 302
    overlapping = add(practitioner, 2, 7)
    next_to_it = add(practitioner, 5, 7)
    someone_else = add(other_practitioner, 2, 7)

    assert overlapping.status_code == 200
    assert f"{practitioner} already has time off from " in overlapping.content.decode()
    assert "which overlaps this: change that one instead." in (
        overlapping.content.decode()
    )
    assert next_to_it.status_code == someone_else.status_code == 302
    assert TimeOff.objects.count() == 3


def test_the_mornings_appointments_that_are_over_dont_hold_up_the_afternoon_off(
    client, manager, practitioner, room
):
    open_clinic(practitioner)
    # Monday 14:30 in London: the 10:00 consultation took place, 16:00 is to come.
    with time_machine.travel(datetime(2026, 11, 30, 14, 30, tzinfo=UTC), tick=False):
        admin = admin_client_for(client, manager)
        day = timezone.localdate()

        def at(hour: int) -> datetime:
            return timezone.make_aware(datetime.combine(day, time(hour)))

        AppointmentFactory(
            practitioner=practitioner,
            room=room,
            start=at(10),
            end=at(11),
            status=Appointment.Status.CHECKED_IN,
        )
        later = AppointmentFactory(practitioner=practitioner, room=room, start=at(16))
        time_off = {
            "practitioner": practitioner.pk,
            "start_0": day.isoformat(),
            "start_1": "08:00",
            "end_0": day.isoformat(),
            "end_1": "18:00",
            "reason": "Unwell since lunch",
        }

        refused_off = admin.post(reverse("admin:clinic_timeoff_add"), time_off)
        refused_closure = admin.post(
            reverse("admin:clinic_closureday_add"),
            {"date": day.isoformat(), "reason": "Burst pipe"},
        )
        later.delete()
        accepted_off = admin.post(reverse("admin:clinic_timeoff_add"), time_off)
        accepted_closure = admin.post(
            reverse("admin:clinic_closureday_add"),
            {"date": day.isoformat(), "reason": "Burst pipe"},
        )

    for refused in (refused_off, refused_closure):
        page = refused.content.decode()
        assert "would leave 1 booked appointment" in page
        assert "16:00" in page and "10:00" not in page
    assert (accepted_off.status_code, accepted_closure.status_code) == (302, 302)
    assert TimeOff.objects.count() == ClosureDay.objects.count() == 1


@pytest.mark.parametrize(
    "start,end", [("0001-01-01", "0001-01-02"), ("2026-12-01", "9999-12-31")]
)
def test_time_off_years_away_is_refused_in_words(
    admin_client, practitioner, start, end
):
    response = admin_client.post(
        reverse("admin:clinic_timeoff_add"),
        {
            "practitioner": practitioner.pk,
            "start_0": start,
            "start_1": "08:00",
            "end_0": end,
            "end_1": "18:00",
            "reason": "Far",
        },
    )

    assert response.status_code == 200
    assert "Pick a date within five years of today." in response.content.decode()
    assert not TimeOff.objects.exists()


def test_time_off_and_closures_from_years_ago_dont_hold_up_a_save(
    admin_client, practitioner
):
    long_ago = timezone.localtime(timezone.now() - timedelta(days=6 * 366)).replace(
        second=0, microsecond=0
    )
    off = TimeOff.objects.create(
        practitioner=practitioner,
        start=long_ago,
        end=long_ago + timedelta(days=2),
        reason="Course",
    )
    closure = ClosureDay.objects.create(date=long_ago.date(), reason="Flood")
    url = reverse("admin:clinic_practitioner_change", args=[practitioner.pk])
    until = timezone.localtime(off.end)
    data = practitioner_page_data(practitioner, []) | {
        "title": "nurse",
        "time_off-TOTAL_FORMS": "1",
        "time_off-INITIAL_FORMS": "1",
        "time_off-0-id": off.pk,
        "time_off-0-practitioner": practitioner.pk,
        "time_off-0-start_0": f"{long_ago:%Y-%m-%d}",
        "time_off-0-start_1": f"{long_ago:%H:%M:%S}",
        "time_off-0-end_0": f"{until:%Y-%m-%d}",
        "time_off-0-end_1": f"{until:%H:%M:%S}",
        "time_off-0-reason": "Course",
    }

    saved = admin_client.post(url, data)
    renamed = admin_client.post(
        reverse("admin:clinic_closureday_change", args=[closure.pk]),
        {"date": closure.date.isoformat(), "reason": "Flood, then repairs"},
    )

    assert saved.status_code == 302
    practitioner.refresh_from_db()
    assert practitioner.title == "nurse"
    assert renamed.status_code == 302


def test_a_row_of_the_practitioners_page_altered_on_its_way_says_so(
    admin_client, practitioner, other_practitioner
):
    later = timezone.localtime(timezone.now() + timedelta(days=30))
    data = practitioner_page_data(practitioner, []) | {
        "time_off-TOTAL_FORMS": "1",
        # Another practitioner's id where the page put this one's.
        "time_off-0-practitioner": other_practitioner.pk,
        "time_off-0-start_0": f"{later:%Y-%m-%d}",
        "time_off-0-start_1": "09:00",
        "time_off-0-end_0": f"{later:%Y-%m-%d}",
        "time_off-0-end_1": "17:00",
        "time_off-0-reason": "Course",
    }

    refused = admin_client.post(
        reverse("admin:clinic_practitioner_change", args=[practitioner.pk]), data
    )

    assert refused.status_code == 200
    assert "This page was changed on its way here" in refused.content.decode()
    assert not TimeOff.objects.exists()


def test_a_working_hours_block_stays_with_its_practitioner(
    admin_client, practitioner, other_practitioner
):
    block = WorkingHours.objects.create(
        practitioner=practitioner, weekday=0, start=time(9), end=time(17)
    )

    admin_client.post(
        reverse("admin:clinic_workinghours_change", args=[block.pk]),
        {
            "practitioner": other_practitioner.pk,
            "weekday": "0",
            "start": "09:00",
            "end": "17:00",
        },
    )

    block.refresh_from_db()
    assert block.practitioner == practitioner


def test_the_practitioner_role_stays_while_sessions_lie_ahead(
    admin_client, practitioner
):
    practitioner.user.groups.add(Group.objects.get(name=roles.PRACTITIONER))
    AppointmentFactory(
        practitioner=practitioner, start=timezone.now() + timedelta(days=2)
    )
    refused = to_front_desk(admin_client, practitioner)

    assert refused.status_code == 200
    assert "still has 1 booking" in refused.content.decode()
    assert practitioner.user.groups.filter(name=roles.PRACTITIONER).exists()


def test_two_pages_adding_overlapping_hours_keep_the_week_whole(
    admin_client, practitioner
):
    url = reverse("admin:clinic_practitioner_change", args=[practitioner.pk])
    # Both pages opened on an empty Wednesday; each adds a block.
    first = practitioner_page_data(practitioner, [(2, "10:00", "12:00")])
    second = practitioner_page_data(practitioner, [(2, "11:00", "13:00")])
    assert admin_client.post(url, first).status_code == 302

    refused = admin_client.post(url, second)

    assert refused.status_code == 200
    assert "overlap" in refused.content.decode()
    assert list(
        WorkingHours.objects.filter(practitioner=practitioner).values_list(
            "start", "end"
        )
    ) == [(time(10), time(12))]


def test_working_hours_with_bookings_in_them_are_kept_naming_them(
    admin_client, next_monday_booking, practitioner
):
    monday = WorkingHours.objects.get(practitioner=practitioner, weekday=0)
    url = reverse("admin:clinic_workinghours_delete", args=[monday.pk])

    refused = admin_client.get(url, follow=True)

    page = refused.content.decode()
    assert refused.redirect_chain[-1][0] == reverse(
        "admin:clinic_workinghours_change", args=[monday.pk]
    )
    assert "Deleting these working hours would leave 1 booked appointment" in page
    assert WorkingHours.objects.filter(pk=monday.pk).exists()


@pytest.mark.parametrize("name", ["12345", "Ann<b>", "Ann\u200d\u200d"])
def test_a_staff_name_is_readable_as_a_patients_is(admin_client, name):
    clerk = UserFactory(username="clerk", role=roles.FRONT_DESK)
    url = reverse("admin:auth_user_change", args=[clerk.pk])

    refused = admin_client.post(url, account_data(clerk, first_name=name))

    assert refused.status_code == 200
    clerk.refresh_from_db()
    assert clerk.first_name != name


def test_a_staff_name_is_saved_without_invisible_marks_pasted_with_it(admin_client):
    clerk = UserFactory(username="clerk", role=roles.FRONT_DESK)
    url = reverse("admin:auth_user_change", args=[clerk.pk])

    saved = admin_client.post(url, account_data(clerk, first_name="\u2060Kim\u200bi"))

    assert saved.status_code == 302
    clerk.refresh_from_db()
    assert clerk.first_name == "Kimi"


def test_a_room_may_be_numbered_but_holds_no_markup(admin_client, room):
    url = reverse("admin:clinic_room_change", args=[room.pk])

    numbered = admin_client.post(url, {"name": "Room 2 & 3", "is_active": "on"})
    marked = admin_client.post(url, {"name": "Room <b>4</b>", "is_active": "on"})

    assert numbered.status_code == 302
    assert "Remove &lt; &gt; from the name" in marked.content.decode()
    room.refresh_from_db()
    assert room.name == "Room 2 & 3"


@pytest.mark.parametrize(
    ("changelist", "offered", "refused"),
    [
        (
            "clinic_consultation",
            "decision__exact=eligible",
            "topical_medication__icontains=tretinoin",
        ),
        ("clinic_consultation", "decision__exact=eligible", "screening_note__gt=a"),
        (
            "aftercare_reminder",
            "status__exact=sent&due_at__year=2026",
            "named_medication__icontains=tretinoin",
        ),
        (
            "clinic_appointment",
            "practitioner__id__exact=1&start__year=2026",
            "notes__icontains=pregnant",
        ),
        ("clinic_patient", "email_consent__exact=1", "notes__icontains=keloid"),
        (
            "plans_treatmentplan",
            "status__exact=active",
            "exception_reason__icontains=a",
        ),
    ],
)
def test_lists_of_patient_data_filter_only_as_their_filters_offer(
    admin_client, changelist, offered, refused
):
    """Filtering a list by any field through the address would search clinical
    text, unlogged: only the filters the list shows are taken."""
    url = reverse(f"admin:{changelist}_changelist")

    assert admin_client.get(f"{url}?{offered}").status_code == 200
    response = admin_client.get(f"{url}?{refused}")

    assert response.status_code == 400
