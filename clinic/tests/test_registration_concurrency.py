"""The same patient registered twice at the same moment (a form sent twice)."""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from clinic.models import Patient

FORM = {
    "first_name": "Racey",
    "last_name": "Doubles",
    "date_of_birth": "1990-01-02",
    "email": "racey@example.com",
    "phone": "",
    "preferred_contact": "email",
    "email_consent": "on",
    "skin_type": "",
    "notes": "",
}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_registration_sent_four_times_at_once_registers_one_patient(front_desk):
    barrier = threading.Barrier(4)
    statuses, crashed = [], []

    def register() -> None:
        client = Client()
        client.force_login(front_desk)
        try:
            barrier.wait(timeout=10)
            statuses.append(client.post(reverse("clinic:patient_create"), FORM))
        except BaseException as error:  # noqa: BLE001 - reported below
            crashed.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert crashed == []
    assert Patient.objects.filter(last_name="Doubles").count() == 1
    assert sorted(r.status_code for r in statuses) == [200, 200, 200, 302]
    for response in statuses:
        if response.status_code == 200:
            assert "is registered already" in response.content.decode()
