"""Forms in Chromium: what a hurried click does (static/js/forms.js)."""

import re

import pytest
from playwright.sync_api import expect

from clinic.models import Patient

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_double_click_on_register_registers_the_patient_once(tab, front_desk):
    tab.sign_in("frontdesk", "correct horse battery staple")
    tab.open("/patients/new/")
    tab.field("First name").fill("Doublea")
    tab.field("Last name").fill("Clicker")
    tab.field("Date of birth").fill("1980-01-02")
    tab.field("Email").fill("doublea@example.com")

    # Two clicks 20 ms apart: the first request is on its way by the second.
    tab.page.get_by_role("button", name="Register").evaluate(
        "button => { button.click(); setTimeout(() => button.click(), 20); }"
    )

    expect(tab.page).to_have_url(re.compile(r"/patients/\d+/$"))
    expect(tab.page.get_by_text("Doublea Clicker is registered.")).to_be_visible()
    assert Patient.objects.filter(last_name="Clicker").count() == 1
    assert tab.errors == []


def test_a_form_refused_with_errors_can_be_sent_again(tab, front_desk):
    tab.sign_in("frontdesk", "correct horse battery staple")
    tab.open("/patients/new/")
    tab.field("First name").fill("Back")
    tab.page.get_by_role("button", name="Register").click()
    expect(tab.page.get_by_text("This field is required.").first).to_be_visible()

    tab.field("Last name").fill("Button")
    tab.field("Date of birth").fill("1981-03-04")
    tab.field("Email").fill("back@example.com")
    tab.page.get_by_role("button", name="Register").click()

    expect(tab.page).to_have_url(re.compile(r"/patients/\d+/$"))
    assert Patient.objects.filter(last_name="Button").count() == 1
    assert tab.errors == []
