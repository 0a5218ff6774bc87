"""The other pages staff keep open, timed through Django's test client like the
calendar: patient search, the dashboard, a treatment plan and the outbox.

Each is measured on the empty clinic (staff, rooms, hours and patients, no
appointments) and on the full one (two years of appointments, plans, records
and emails), as the front desk. A plan page and an outbox need something to
show, so the empty clinic gets one sample plan of six sessions with its emails
(bench.history.build_sample_plan), and the full clinic's plan page is a
generated plan of the same shape.
"""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from bench import BenchmarkFailed, Figures, history
from bench.calendar import check_shows_patients, front_desk_client, measure
from bench.data import Clinic
from clinic.models import Appointment
from plans.models import TreatmentPlan

# A surname about one patient in fifty has: a full first page and a few more.
SEARCH = "Patel"


def search_empty(clinic: Clinic) -> Figures:
    ms, _ = measure(front_desk_client(clinic), _search_url())
    return {"patient_search_ms_empty": ms}


def search_full(clinic: Clinic) -> Figures:
    ms, queries = measure(front_desk_client(clinic), _search_url())
    return {"patient_search_queries_full": queries, "patient_search_ms_full": ms}


def dashboard_empty(clinic: Clinic) -> Figures:
    ms, _ = measure(front_desk_client(clinic), reverse("clinic:dashboard"))
    return {"dashboard_ms_empty": ms}


def dashboard_full(clinic: Clinic) -> Figures:
    client = front_desk_client(clinic)
    url = reverse("clinic:dashboard")
    ms, queries = measure(client, url)
    check_shows_patients(
        client.get(url).content,
        Appointment.objects.on_day(timezone.localdate()).exclude(
            status=Appointment.Status.CANCELLED
        ),
    )
    return {"dashboard_queries_full": queries, "dashboard_ms_full": ms}


def plan_empty(clinic: Clinic) -> Figures:
    plan = history.build_sample_plan(clinic)
    ms, _ = measure(front_desk_client(clinic), plan.get_absolute_url())
    return {"plan_page_ms_empty": ms}


def plan_full(clinic: Clinic) -> Figures:
    plan = measured_plan(clinic)
    ms, queries = measure(front_desk_client(clinic), plan.get_absolute_url())
    return {"plan_page_queries_full": queries, "plan_page_ms_full": ms}


def outbox_empty(clinic: Clinic) -> Figures:
    ms, _ = measure(front_desk_client(clinic), reverse("aftercare:outbox"))
    return {"outbox_ms_empty": ms}


def outbox_full(clinic: Clinic) -> Figures:
    ms, queries = measure(front_desk_client(clinic), reverse("aftercare:outbox"))
    return {"outbox_queries_full": queries, "outbox_ms_full": ms}


def measured_plan(clinic: Clinic) -> TreatmentPlan:
    """A generated plan shaped like the sample: six sessions, some done, some
    booked, so its page shows the same rows and buttons."""
    plan = (
        TreatmentPlan.objects.filter(
            status=TreatmentPlan.Status.ACTIVE,
            planned_sessions=history.SAMPLE_SESSIONS,
            practitioner=clinic.practitioners[0],
            sessions__appointment__status=Appointment.Status.COMPLETED,
        )
        .filter(sessions__appointment__status=Appointment.Status.BOOKED)
        .order_by("pk")
        .first()
    )
    if plan is None:
        raise BenchmarkFailed(
            f"no active plan of {history.SAMPLE_SESSIONS} sessions with sessions "
            "done and booked in the generated data"
        )
    return plan


def _search_url() -> str:
    return f"{reverse('clinic:patient_list')}?{urlencode({'q': SEARCH})}"
