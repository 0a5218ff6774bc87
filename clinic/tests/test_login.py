import pytest
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
    assert "Too many sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_lockout_of_one_account_leaves_others_alone(client, front_desk, throttled):
    UserFactory(username="manager2")
    for _ in range(3):
        sign_in(client, "guess")

    response = client.post(
        reverse("login"),
        {"username": "manager2", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
