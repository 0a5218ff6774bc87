from datetime import timedelta

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from clinic.tests.factories import UserFactory


@pytest.fixture
def throttled(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


def sign_in(client, password: str):
    return client.post(
        reverse("login"), {"username": "frontdesk", "password": password}
    )


def test_staff_sign_in_with_their_password(client, front_desk, throttled):
    response = sign_in(client, "correct horse battery staple")
    assert response.status_code == 302
    assert response["Location"] == reverse("clinic:dashboard")


def test_a_password_is_kept_as_typed_whatever_it_holds(client, front_desk, throttled):
    # Set before (by a script, say) with characters the pages' text loses.
    front_desk.set_password("tab\there\u2028and\x7fdel")
    front_desk.save()

    response = sign_in(client, "tab\there\u2028and\x7fdel")

    assert response.status_code == 302


def test_a_wrong_password_gets_a_clear_message(client, front_desk, throttled):
    response = sign_in(client, "guess")
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()


def test_repeated_wrong_passwords_lock_the_account_out_from_that_address(
    client, front_desk, throttled
):
    for _ in range(3):
        sign_in(client, "guess")

    # Even the right password is refused now, with words, not a 500.
    response = sign_in(client, "correct horse battery staple")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many sign-in attempts" in page
    # How long: the cool-off of the settings (30 minutes by default).
    assert "paused after several wrong passwords, for 30 minutes after the last" in page
    assert f'href="{reverse("login")}">Sign in with another account</a>' in page
    assert "_auth_user_id" not in client.session


def test_the_lockout_page_says_how_long_in_days_and_minutes(
    client, front_desk, throttled, settings
):
    settings.AXES_COOLOFF_TIME = timedelta(days=1, minutes=1)
    for _ in range(3):
        sign_in(client, "guess")

    response = sign_in(client, "guess")

    assert response.status_code == 429
    assert "for 1 day and 1 minute after the last" in response.content.decode()


def test_a_lockout_of_one_account_leaves_others_alone(client, front_desk, throttled):
    UserFactory(username="manager2")
    for _ in range(3):
        sign_in(client, "guess")

    response = client.post(
        reverse("login"),
        {"username": "manager2", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302


def test_a_manager_lifts_a_colleagues_sign_in_pause(
    client, front_desk, manager, throttled
):
    """The paused colleague is told to ask a manager; the manager can act."""
    from axes.models import AccessAttempt

    for _ in range(3):
        sign_in(client, "guess")
    assert (
        "ask a manager to lift the pause" in sign_in(client, "guess").content.decode()
    )
    # A name no account has, paused too, is nobody's account to let in.
    for _ in range(4):
        Client().post(reverse("login"), {"username": "ghost.admin", "password": "x"})
    assert AccessAttempt.objects.filter(username="ghost.admin").exists()
    desk = Client()
    desk.force_login(manager)
    attempt = AccessAttempt.objects.get(username="frontdesk")
    # The manager's Today page says someone waits.
    assert "1 account paused now" in (
        desk.get(reverse("clinic:dashboard")).content.decode()
    )
    listed = desk.get(reverse("admin:axes_accessattempt_changelist"))
    assert listed.status_code == 200
    assert "frontdesk" in listed.content.decode()
    # Who, from where, how often and when: not the form data axes keeps.
    opened = desk.get(
        reverse("admin:axes_accessattempt_change", args=[attempt.pk])
    ).content.decode()
    assert "frontdesk" in opened and "127.0.0.1" in opened
    for kept_back in ("Form Data", "POST Data", "Path"):
        assert kept_back not in opened + listed.content.decode()
    # The settings head them as the pages call them, not by the package's name.
    settings_index = desk.get(reverse("admin:index")).content.decode()
    assert ">Sign-in pauses</a>" in settings_index
    assert "Axes" not in settings_index
    # And the rest as the manager's Today page names them.
    for heading in (
        "Staff accounts and roles",
        "Patient emails",
        "Treatment plans, protocols and products",
        "Numbing agents and products",
    ):
        assert heading in settings_index
    assert "Authentication and Authorization" not in settings_index

    lifted = desk.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]),
        {"post": "yes"},
        follow=True,
    )

    assert lifted.redirect_chain[-1][0] == reverse(
        "admin:axes_accessattempt_changelist"
    )
    assert (
        "The sign-in pause of frontdesk is lifted: they can sign in again."
        in lifted.content.decode()
    )
    assert sign_in(client, "correct horse battery staple").status_code == 302
    # Found from the manager's Today page, as the pause page says.
    today = desk.get(reverse("clinic:dashboard")).content.decode()
    assert reverse("admin:axes_accessattempt_changelist") in today
    assert "Sign-in pauses: none now" in today
    assert "Sign-in pauses" in today


def test_a_manager_lifts_pauses_one_at_a_time_and_never_a_superusers(
    client, manager, throttled
):
    from axes.models import AccessAttempt

    UserFactory(username="owner", is_superuser=True)
    for _ in range(3):
        client.post(reverse("login"), {"username": "owner", "password": "guess"})
    attempt = AccessAttempt.objects.get(username="owner")
    desk = Client()
    desk.force_login(manager)

    listed = desk.get(reverse("admin:axes_accessattempt_changelist"))
    refused = desk.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )

    assert "delete_selected" not in listed.content.decode()
    # Axes' own clean-up action failed with a server error there.
    assert "cleanup_expired_attempts" not in listed.content.decode()
    assert refused.status_code == 403
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()


# Changing one's own password ------------------------------------------------------


def change_password(client, old: str, new: str):
    return client.post(
        reverse("password_change"),
        {"old_password": old, "new_password1": new, "new_password2": new},
    )


def test_staff_change_their_own_password_and_stay_signed_in(client, front_desk):
    elsewhere = client.__class__()
    elsewhere.force_login(front_desk)
    client.force_login(front_desk)
    page = client.get(reverse("clinic:dashboard")).content.decode()
    assert f'href="{reverse("password_change")}"' in page

    response = change_password(
        client, "correct horse battery staple", "Lilac-treatment-room-42"
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    front_desk.refresh_from_db()
    assert front_desk.check_password("Lilac-treatment-room-42")
    assert client.get(reverse("clinic:dashboard")).status_code == 200
    # Another device signed in with the old password is signed out.
    assert elsewhere.get(reverse("clinic:dashboard"))["Location"].startswith(
        reverse("login")
    )


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("guess", "Lilac-treatment-room-42", "Your old password was entered"),
        ("correct horse battery staple", "12345678", "This password is too common"),
        ("correct horse battery staple", "short", "This password is too short"),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(
    client, front_desk, old, new, error
):
    client.force_login(front_desk)

    response = change_password(client, old, new)

    assert response.status_code == 200
    assert error in response.content.decode()
    front_desk.refresh_from_db()
    assert front_desk.check_password("correct horse battery staple")


def test_guessing_the_current_password_signs_out_after_as_many_tries_as_sign_in(
    client, front_desk, throttled
):
    client.force_login(front_desk)

    tries = [
        change_password(client, f"guess {n}", "Lilac-treatment-room-42")
        for n in range(3)
    ]

    assert [r.status_code for r in tries[:2]] == [200, 200]
    assert tries[2].status_code == 302
    assert tries[2]["Location"] == reverse("login")
    page = client.get(reverse("login")).content.decode()
    assert "The current password was wrong 3 times: you are signed out." in page
    assert client.get(reverse("clinic:dashboard")).status_code == 302
    front_desk.refresh_from_db()
    assert front_desk.check_password("correct horse battery staple")


def test_a_password_change_after_a_slip_starts_the_count_again(
    client, front_desk, throttled
):
    client.force_login(front_desk)
    change_password(client, "guess", "Lilac-treatment-room-42")
    change_password(client, "guess", "Lilac-treatment-room-42")

    done = change_password(
        client, "correct horse battery staple", "Lilac-treatment-room-42"
    )
    again = change_password(client, "guess", "Another-room-43")

    assert done.status_code == 302
    assert again.status_code == 200


def test_the_settings_password_page_has_the_same_limit(client, manager, throttled):
    client.force_login(manager)
    url = "/admin/password_change/"

    tries = [
        client.post(
            url,
            {
                "old_password": f"guess {n}",
                "new_password1": "Lilac-treatment-room-42",
                "new_password2": "Lilac-treatment-room-42",
            },
        )
        for n in range(3)
    ]

    assert [r.status_code for r in tries] == [200, 200, 302]
    assert tries[2]["Location"] == reverse("login")


@pytest.mark.parametrize("password", ["A" * 10_000, "abababababab", "xyzxyzxyzxyz"])
def test_a_password_of_a_few_characters_repeated_is_refused(password):
    with pytest.raises(ValidationError) as refused:
        validate_password(password)

    assert "This password uses too few different characters" in " ".join(
        refused.value.messages
    )


def test_a_varied_password_passes():
    validate_password("correct horse battery staple")
