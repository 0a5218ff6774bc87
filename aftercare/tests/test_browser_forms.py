"""Forms in Chromium: what a hurried click does (static/js/forms.js)."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinic.models import Patient
from clinic.tests.factories import PatientFactory, open_clinic
from plans.models import Photo, SessionRecord
from plans.tests.record_factories import add_session, image_bytes, make_plan, signed

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
    # Typed into once its script has run: focusing the first field in error
    # afterwards would take the typing of another.
    tab.page.wait_for_load_state("load")

    tab.field("Last name").fill("Button")
    tab.field("Date of birth").fill("1981-03-04")
    tab.field("Email").fill("back@example.com")
    tab.page.get_by_role("button", name="Register").click()

    expect(tab.page).to_have_url(re.compile(r"/patients/\d+/$"))
    assert Patient.objects.filter(last_name="Button").count() == 1
    assert tab.errors == []


def open_todays_record(tab, practitioner, room, tmp_path):
    """The practitioner on the record of a session begun half an hour ago,
    with a photo file to add: the session and the file."""
    plan = make_plan(practitioner)
    session = add_session(plan, timezone.now() - timedelta(minutes=30), room)
    image = tmp_path / "photo.jpg"
    image.write_bytes(image_bytes())
    tab.sign_in("practitioner", "correct horse battery staple")
    tab.open(f"/plans/sessions/{session.pk}/record/")
    return session, image


def test_typed_record_notes_are_saved_as_a_draft_before_a_photo_is_added(
    tab, practitioner, room, tmp_path
):
    """The photo's page load would drop the typing: it is saved first, unasked."""
    session, image = open_todays_record(tab, practitioner, room, tmp_path)
    tab.field("Notes").fill("Tolerated well; mild redness.")
    tab.field("Photo").set_input_files(image)
    asked = []
    tab.page.on("dialog", lambda dialog: (asked.append(dialog), dialog.dismiss()))

    tab.click("Add photo", role="button")

    tab.says("Photo added.")
    expect(tab.field("Notes")).to_have_value("Tolerated well; mild redness.")
    assert asked == []
    assert SessionRecord.objects.get(session=session).notes == (
        "Tolerated well; mild redness."
    )
    assert Photo.objects.count() == 1
    assert tab.errors == []


def test_a_record_signed_by_a_colleague_meanwhile_asks_before_a_photo_is_added(
    tab, practitioner, room, tmp_path
):
    """Their typing can't go onto a signed record: asked, not dropped unasked."""
    session, image = open_todays_record(tab, practitioner, room, tmp_path)
    tab.field("Adverse events").fill("Slight bruising at the left jaw.")
    tab.field("Photo").set_input_files(image)
    signed(session, practitioner.user, areas={"face": ("1.00", 2)})

    with tab.page.expect_event("dialog") as asked:
        tab.click("Add photo", role="button")
    asked.value.dismiss()

    expect(tab.field("Adverse events")).to_have_value(
        "Slight bruising at the left jaw."
    )
    assert not Photo.objects.exists()
    assert SessionRecord.objects.get(session=session).adverse_events == ""


def test_typing_that_cant_be_saved_as_a_draft_asks_before_a_photo_is_added(
    tab, practitioner, room, tmp_path
):
    session, image = open_todays_record(tab, practitioner, room, tmp_path)
    tab.field("Notes").fill("Tolerated well; mild redness.")
    # An end before the start: the draft is refused.
    tab.field("Ended").fill("2000-01-01T10:00")
    tab.field("Photo").set_input_files(image)

    # Asked once the draft is refused (in the background); dismissed: nothing
    # is sent, the typed notes stay.
    with tab.page.expect_event("dialog") as asked:
        tab.click("Add photo", role="button")
    assert asked.value.message == (
        "What you typed on this page can't be saved as a draft as it is (the page "
        "will say why once you save it) and will be lost. Go on anyway?"
    )
    asked.value.dismiss()
    expect(tab.field("Notes")).to_have_value("Tolerated well; mild redness.")
    assert not Photo.objects.exists()
    assert not SessionRecord.objects.filter(session=session).exists()

    # Accepted: the photo goes, as asked.
    tab.page.once("dialog", lambda dialog: dialog.accept())
    tab.click("Add photo", role="button")
    tab.says("Photo added.")
    assert Photo.objects.count() == 1
    assert tab.errors == []


def test_leaving_a_changed_patient_form_by_a_link_asks_first(tab, front_desk, patient):
    tab.sign_in("frontdesk", "correct horse battery staple")
    edit = f"/patients/{patient.pk}/edit/"
    tab.open(edit)
    tab.field("Notes").fill("Prefers mornings.")
    asked = []
    tab.page.once(
        "dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss())
    )

    tab.click("Patients")

    expect(tab.page).to_have_url(re.compile(rf"{re.escape(edit)}$"))
    assert asked == ["beforeunload"]
    expect(tab.field("Notes")).to_have_value("Prefers mornings.")


def test_values_typed_into_a_refused_form_still_ask_before_leaving(
    tab, front_desk, patient
):
    tab.sign_in("frontdesk", "correct horse battery staple")
    edit = f"/patients/{patient.pk}/edit/"
    tab.open(edit)
    tab.field("Notes").fill("Prefers mornings.")
    tab.field("Date of birth").fill("2999-01-01")
    tab.click("Save", role="button")
    tab.says("The date of birth can't be in the future.")
    asked = []
    tab.page.once(
        "dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss())
    )

    tab.click("Patients")

    assert asked == ["beforeunload"]
    expect(tab.field("Notes")).to_have_value("Prefers mornings.")


def test_picking_a_protocol_fills_in_its_sessions_and_spacing(tab, practitioner):
    from plans.tests.factories import ConsultationFactory

    consultation = ConsultationFactory(appointment__practitioner=practitioner)
    tab.sign_in("practitioner", "correct horse battery staple")
    tab.open(f"/plans/new/{consultation.pk}/")
    expect(tab.field("Planned sessions")).to_have_value("6")

    tab.field("Protocol").select_option(label="Surgical scars and stretch marks")

    expect(tab.field("Planned sessions")).to_have_value("8")
    expect(tab.field("Spacing (days)")).to_have_value("35")
    # A number typed by the practitioner stays when the protocol changes again.
    tab.field("Planned sessions").fill("9")
    tab.field("Protocol").select_option(label="Standard")
    expect(tab.field("Planned sessions")).to_have_value("9")
    expect(tab.field("Spacing (days)")).to_have_value("28")
    assert tab.errors == []


def test_an_error_of_the_whole_form_is_focused_for_a_screen_reader(tab, front_desk):
    tab.open("/accounts/login/")
    tab.field("Username").fill("frontdesk")
    tab.field("Password").fill("not the password")
    tab.page.get_by_role("button", name="Sign in").click()

    focused = tab.page.locator(":focus")
    expect(focused).to_contain_text("Please enter a correct username and password")
    assert tab.errors == []


def test_an_error_of_the_whole_form_is_read_out_with_the_field_focused(tab, front_desk):
    """A patient on file already (asked above the fields) and their email
    address (asked at its field): the field is focused, and described by both."""
    PatientFactory(
        first_name="Oluwaseun",
        last_name="Adeyemi",
        date_of_birth=date(1992, 7, 2),
        email="oluwaseun.adeyemi@example.com",
    )
    tab.sign_in("frontdesk", "correct horse battery staple")
    tab.open("/patients/new/")
    tab.field("First name").fill("Adeyemi")
    tab.field("Last name").fill("Oluwaseun")
    tab.field("Date of birth").fill("1992-07-02")
    tab.field("Email").fill("oluwaseun.adeyemi@example.com")
    tab.page.get_by_role("button", name="Register").click()

    focused = tab.page.locator(":focus")
    expect(focused).to_have_attribute("name", "email")
    described = focused.get_attribute("aria-describedby").split()
    read_out = " ".join(
        tab.page.locator(f"[id='{name}']").inner_text() for name in described
    )
    assert "is registered already" in read_out
    assert "already" in tab.page.locator(f"[id='{described[-1]}']").inner_text()
    assert tab.errors == []


def test_enter_in_a_proposed_row_checks_the_rows_again(
    tab, front_desk, practitioner, room
):
    """Not "Propose dates" (the form's first button), which would drop what
    was typed in the rows."""
    open_clinic(practitioner)
    plan = make_plan(practitioner, planned=3)
    first = timezone.localdate() + timedelta(days=7)
    while first.weekday() > 4:
        first += timedelta(days=1)
    tab.sign_in("frontdesk", "correct horse battery staple")
    tab.open(f"/plans/{plan.pk}/book/")
    tab.field("First session").fill(first.isoformat())
    tab.field("Time").fill("10:00")
    tab.page.get_by_role("button", name="Propose dates").click()
    second_time = tab.page.locator("input[name$='-time']").nth(1)
    expect(second_time).to_have_value("10:00")
    # Its script, which answers the Enter key, has run.
    tab.page.wait_for_load_state("load")

    second_time.fill("14:00")
    second_time.press("Enter")

    tab.page.wait_for_load_state()
    expect(tab.page.locator("input[name$='-time']").nth(1)).to_have_value("14:00")
    assert tab.errors == []


def test_picking_a_practitioner_on_a_rooms_week_shows_the_practitioners(
    tab, front_desk, practitioner, room
):
    tab.sign_in("frontdesk", "correct horse battery staple")
    tab.open(f"/calendar/week/?room={room.pk}")

    tab.page.get_by_label("Practitioner").select_option(str(practitioner.pk))
    tab.page.get_by_role("button", name="Show").click()

    expect(tab.page).to_have_url(re.compile(rf"practitioner={practitioner.pk}&room=&"))
    expect(tab.page.locator("h1")).to_contain_text(str(practitioner))
    assert tab.errors == []


def test_a_refused_photo_keeps_the_focus_on_why(tab, practitioner, room, tmp_path):
    """Read out by a screen reader: not lost to a jump down the page."""
    open_todays_record(tab, practitioner, room, tmp_path)
    icon = tmp_path / "icon.png"
    icon.write_bytes(image_bytes("PNG", size=(16, 16)))
    tab.field("Photo").set_input_files(icon)

    tab.click("Add photo", role="button")

    tab.says("too small to show the skin")
    tab.page.wait_for_load_state("load")
    # Still there once the page has settled (a jump to an anchor comes late).
    tab.page.wait_for_timeout(300)
    focused = tab.page.evaluate("document.activeElement.textContent")
    assert "too small to show the skin" in focused
    assert tab.errors == []
