"""The protocols' admin: a change that reaches plans in progress says so."""

import re

import pytest
from django.urls import reverse

from clinic.tests.pages import post_as_page
from plans.models import Protocol, TreatmentPlan
from plans.tests.factories import TreatmentPlanFactory, standard


def protocol_data(protocol, **changes) -> dict:
    data = {
        name: getattr(protocol, name)
        for name in [
            "name",
            "description",
            "min_sessions",
            "max_sessions",
            "target_spacing_days",
            "min_spacing_days",
            "max_spacing_days",
            "session_minutes",
        ]
    }
    return data | {"is_active": "on", "goals": protocol.goals} | changes


def save(admin_client, protocol, **changes):
    response = post_as_page(
        admin_client,
        reverse("admin:plans_protocol_change", args=[protocol.pk]),
        protocol_data(protocol, **changes),
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def test_a_manager_says_which_goals_a_protocol_suits(admin_client):
    protocol = Protocol.objects.get(name="Standard")
    # As seeded: the standard indications, not scars or stretch marks.
    assert protocol.goals == ["lines", "acne_scars", "pigmentation", "texture"]
    page = admin_client.get(
        reverse("admin:plans_protocol_change", args=[protocol.pk])
    ).content.decode()
    assert 'name="goals" value="stretch_marks"' in page

    save(admin_client, protocol, goals=["lines", "stretch_marks"])

    protocol.refresh_from_db()
    assert protocol.goals == ["lines", "stretch_marks"]
    assert protocol.not_for(["texture", "surgical_scars"]) == (
        "The Standard protocol is not for texture and firmness or surgical scars."
    )
    # One goal it suits is enough: the others may be another plan's.
    assert protocol.not_for(["stretch_marks", "texture"]) == ""
    # A consultation written before goals were asked for: nothing to compare.
    assert protocol.not_for([]) == ""


def test_changing_the_spacing_names_the_plans_in_progress(admin_client):
    protocol = standard()
    TreatmentPlanFactory.create_batch(2, protocol=protocol)
    TreatmentPlanFactory(
        protocol=protocol, status=TreatmentPlan.Status.ACTIVE, consented=True
    )
    TreatmentPlanFactory(
        protocol=protocol, status=TreatmentPlan.Status.COMPLETED, consented=True
    )

    said = save(admin_client, protocol, max_spacing_days=33)

    protocol.refresh_from_db()
    assert protocol.max_spacing_days == 33
    assert any(
        m.startswith("3 plans in progress follow this protocol") for m in said
    ), said


def test_one_plan_is_named_in_the_singular(admin_client):
    protocol = standard()
    TreatmentPlanFactory(protocol=protocol)

    said = save(admin_client, protocol, session_minutes=75)

    assert any(m.startswith("1 plan in progress follows") for m in said), said


def test_a_change_that_books_nothing_differently_says_nothing_of_plans(admin_client):
    protocol = standard()
    TreatmentPlanFactory(protocol=protocol)

    said = save(admin_client, protocol, description="Fine lines, acne scarring.")

    assert not any("in progress" in m for m in said), said


def test_a_new_target_or_fewest_sessions_leaves_plans_in_progress_alone(
    admin_client,
):
    """Each plan keeps the count and target spacing it began with."""
    protocol = standard()
    TreatmentPlanFactory(protocol=protocol)

    said = save(admin_client, protocol, target_spacing_days=30, min_sessions=4)

    assert not any("in progress" in m for m in said), said


def test_no_plan_in_progress_no_warning(admin_client):
    protocol = standard()
    TreatmentPlanFactory(protocol=protocol, status=TreatmentPlan.Status.CANCELLED)

    said = save(admin_client, protocol, target_spacing_days=30)

    assert not any("in progress" in m for m in said), said


def test_a_protocol_that_plans_follow_keeps_its_name(admin_client):
    protocol = standard()
    TreatmentPlanFactory(
        protocol=protocol, status=TreatmentPlan.Status.COMPLETED, consented=True
    )

    response = post_as_page(
        admin_client,
        reverse("admin:plans_protocol_change", args=[protocol.pk]),
        protocol_data(protocol, name="Standard (new)"),
    )

    assert response.status_code == 200
    assert "Treatment plans follow Standard by this name" in response.content.decode()
    protocol.refresh_from_db()
    assert protocol.name == "Standard"


def test_a_protocol_no_plan_follows_may_be_renamed(admin_client):
    protocol = standard()

    response = post_as_page(
        admin_client,
        reverse("admin:plans_protocol_change", args=[protocol.pk]),
        protocol_data(protocol, name="Standard course"),
    )

    assert response.status_code == 302
    protocol.refresh_from_db()
    assert protocol.name == "Standard course"


def test_a_protocol_saved_from_a_page_opened_before_a_colleagues_save_is_refused(
    admin_client,
):
    from clinic.tests.pages import hidden_value

    protocol = standard()
    url = reverse("admin:plans_protocol_change", args=[protocol.pk])
    tab_b = hidden_value(admin_client.get(url), "seen")
    Protocol.objects.filter(pk=protocol.pk).update(max_sessions=7)

    refused = admin_client.post(
        url, protocol_data(protocol, description="Fine lines.", seen=tab_b)
    )

    assert refused.status_code == 200
    assert "Someone saved this while your page was open" in refused.content.decode()
    protocol.refresh_from_db()
    assert (protocol.max_sessions, protocol.description) == (7, standard().description)
    assert protocol.description != "Fine lines."


def test_a_protocol_change_without_the_pages_version_is_refused(admin_client):
    """Every change page sends the version it showed: a post without it is not
    saved unchecked over a colleague's change."""
    protocol = standard()

    refused = admin_client.post(
        reverse("admin:plans_protocol_change", args=[protocol.pk]),
        protocol_data(protocol, description="Fine lines."),
    )

    assert refused.status_code == 200
    assert "This page was changed on its way here" in refused.content.decode()
    protocol.refresh_from_db()
    assert protocol.description != "Fine lines."


def test_a_protocols_limits_are_said_once_and_of_the_fields_typed_wrong(
    admin_client,
):
    protocol = standard()
    url = reverse("admin:plans_protocol_change", args=[protocol.pk])

    def errors(**changes) -> dict:
        response = post_as_page(admin_client, url, protocol_data(protocol, **changes))
        assert response.status_code == 200
        return response.context["adminform"].form.errors

    page = admin_client.get(url).content.decode()

    for value in (-5, 0, 1, 13):
        assert errors(min_spacing_days=value)["min_spacing_days"] == [
            "Sessions closer than 14 days apart leave the skin no time to heal: "
            "at least 14."
        ]
    assert errors(min_spacing_days=40, max_spacing_days=35)["max_spacing_days"] == [
        "The longest spacing must be at least the shortest."
    ]
    [field] = re.findall(r'<input[^>]*name="min_spacing_days"[^>]*>', page)
    assert 'min="14"' in field
    protocol.refresh_from_db()
    assert (protocol.min_spacing_days, protocol.max_spacing_days) == (28, 35)


@pytest.mark.parametrize(
    "name", ["STANDARD", "Standard\u200b", "\uff33tandard", "standard  ", "ſtandard"]
)
def test_a_protocol_named_as_another_in_other_letters_is_refused(admin_client, name):
    protocol = standard()

    response = admin_client.post(
        reverse("admin:plans_protocol_add"), protocol_data(protocol, name=name)
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["name"]
    assert len(errors) == 1
    assert Protocol.objects.filter(name__icontains="tandard").count() == 1
