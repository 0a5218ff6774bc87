"""Every page each role can click its way to, in Chromium, on the demo clinic.

Starting from the home page, the test follows every link the role is shown (a
couple of pages of each kind, so the walk stays short) and fails on a link that
leads to an error or a refusal, a JavaScript error, an image that doesn't load, or
a request that would leave the machine. Every change in the product is a POST, so
following links changes nothing.
"""

import io
import re
from collections import Counter, deque
from urllib.parse import urljoin, urlsplit

import pytest
from django.core.management import call_command

from aftercare.tests.browser import Tab
from clinic.management.commands.seed_demo import DEMO_PASSWORD

ROLES = ["frontdesk", "dr.patel", "manager"]
MAX_PAGES = 80
PAGES_OF_A_KIND = 2
# Django's admin is its own application, tested upstream.
NOT_FOLLOWED = ("/admin/",)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def demo_clinic(settings, tmp_path) -> None:
    settings.CLINIC_PRIVATE_MEDIA_ROOT = tmp_path / "private"
    call_command("seed_demo", stdout=io.StringIO())


def kind_of(path: str) -> str:
    """Pages of one kind: the same path with other numbers in it."""
    return re.sub(r"\d+", "<n>", urlsplit(path).path)


# An upright tablet at the front desk or in a treatment room.
TABLET = {"width": 820, "height": 1180}
LAPTOP = {"width": 1280, "height": 900}
# What scrolls sideways by design: the week runs on, day by day.
SCROLLS_SIDEWAYS = ".calendar-week"


def cut_on_a_tablet(tab: Tab) -> list[str]:
    """What of the page a tablet shows only by scrolling sideways: the page
    itself, or a table wider than its box (a button cut off at its edge)."""
    tab.page.set_viewport_size(TABLET)
    try:
        return tab.page.evaluate(
            """(allowed) => {
              const cut = [];
              const page = document.documentElement;
              if (page.scrollWidth > page.clientWidth + 1)
                cut.push(`the page is ${page.scrollWidth}px wide`);
              for (const box of document.querySelectorAll('.table-responsive')) {
                if (box.closest(allowed)) continue;
                if (box.scrollWidth > box.clientWidth + 1) {
                  const heading = box.closest('section, main')?.querySelector('h1, h2');
                  cut.push(`a table ${box.scrollWidth}px wide in ${box.clientWidth}px`
                    + ` (${heading ? heading.textContent.trim() : 'no heading'})`);
                }
              }
              return cut;
            }""",
            SCROLLS_SIDEWAYS,
        )
    finally:
        tab.page.set_viewport_size(LAPTOP)


def links_on(tab: Tab) -> list[str]:
    hrefs = tab.page.evaluate(
        "() => [...document.querySelectorAll('a[href]')].map(a => a.href)"
    )
    base = urlsplit(tab.base_url)
    found = []
    for href in hrefs:
        parts = urlsplit(urljoin(tab.page.url, href))
        if parts.scheme in ("mailto", "tel"):
            continue
        assert parts.netloc == base.netloc, f"a link out of the product: {href}"
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if not path.startswith(NOT_FOLLOWED):
            found.append(path)
    return found


@pytest.mark.parametrize("username", ROLES)
def test_every_page_a_role_can_click_to_opens_cleanly(demo_clinic, tab, username):
    tab.sign_in(username, DEMO_PASSWORD)
    queue = deque(["/"])
    visited: set[str] = set()
    kinds: Counter[str] = Counter()
    failures = []
    while queue and len(visited) < MAX_PAGES:
        path = queue.popleft()
        if path in visited or kinds[kind_of(path)] >= PAGES_OF_A_KIND:
            continue
        visited.add(path)
        kinds[kind_of(path)] += 1
        response = tab.page.goto(tab.base_url + path)
        if response is None or response.status >= 400:
            failures.append(f"{path}: {response.status if response else 'nothing'}")
            continue
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        broken_images = tab.page.evaluate(
            "() => [...document.images]"
            ".filter(image => image.complete && image.naturalWidth === 0)"
            ".map(image => image.src)"
        )
        failures += [f"{path}: broken image {src}" for src in broken_images]
        failures += [f"{path}: {cut}" for cut in cut_on_a_tablet(tab)]
        queue.extend(link for link in links_on(tab) if link not in visited)

    assert failures == []
    assert tab.errors == []
    assert tab.outside_requests == []
    # The walk reached well into the product, not just the home page.
    assert len(kinds) >= 10


def test_the_week_on_an_upright_tablet_opens_at_today(demo_clinic, tab):
    from datetime import date

    from clinic.models import Practitioner

    tab.sign_in("frontdesk", DEMO_PASSWORD)
    tab.page.set_viewport_size({"width": 600, "height": 900})
    practitioner = Practitioner.objects.get(user__username="dr.patel")

    tab.open(f"/calendar/week/?practitioner={practitioner.pk}")

    week, today = tab.page.evaluate(
        "() => [document.querySelector('.calendar-week').getBoundingClientRect(),"
        " document.querySelector('.calendar-col.is-today').getBoundingClientRect()]"
    )
    assert week["left"] <= today["left"] and today["right"] <= week["right"] + 1
    if date.today().weekday() >= 2:  # Not in view without scrolling.
        scrolled = tab.page.evaluate(
            "() => document.querySelector('.calendar-week').scrollLeft"
        )
        assert scrolled > 0
    # No column cut in half at the left edge: each starts in view or ends out of it.
    cut = tab.page.evaluate(
        """() => {
          const week = document.querySelector('.calendar-week').getBoundingClientRect();
          return [...document.querySelectorAll('.calendar-week .calendar-col')]
            .map((c) => c.getBoundingClientRect())
            .filter((c) => c.left < week.left - 1 && c.right > week.left + 1).length;
        }"""
    )
    assert cut == 0
    assert tab.errors == []


def test_a_consultation_prints_without_the_menu_and_buttons(demo_clinic, tab):
    from clinic.models import Consultation

    consultation = Consultation.objects.filter(decision="eligible").first()
    tab.sign_in("dr.patel", DEMO_PASSWORD)
    tab.open(consultation.get_absolute_url())
    tab.page.emulate_media(media="print")

    assert not tab.page.locator("nav.navbar").is_visible()
    assert not tab.page.get_by_role("link", name="Edit").is_visible()
    assert tab.page.get_by_text("Screening", exact=True).is_visible()
    tab.page.emulate_media(media="screen")
    assert tab.page.locator("nav.navbar").is_visible()
    assert tab.errors == []


def test_a_screening_question_left_unasked_is_focused_on_deciding_eligible(
    demo_clinic, tab
):
    from clinic.models import Consultation

    undecided = Consultation.objects.get(decision=Consultation.Decision.PENDING)
    tab.sign_in("dr.patel", DEMO_PASSWORD)
    tab.open(f"/appointments/{undecided.appointment_id}/consultation/")

    tab.page.get_by_label("Eligible", exact=True).check()
    tab.page.get_by_role("button", name="Save the consultation").click()

    # The first question's buttons, the group tied to its error.
    focused = tab.page.locator(":focus")
    assert focused.get_attribute("name") == "active_infection"
    group = tab.page.get_by_role("radiogroup", name=re.compile("^Active infection"))
    assert group.get_attribute("aria-describedby") == "q_active_infection_error"
    assert tab.errors == []
