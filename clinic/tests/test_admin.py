"""Managers run staff accounts in the admin, through the roles only."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from clinic import roles
from clinic.tests.factories import UserFactory


@pytest.fixture
def admin_client(client, manager):
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


def test_a_superuser_still_sees_every_field(client, db):
    owner = User.objects.create_superuser("owner", "owner@example.com", "x" * 20)
    client.force_login(owner)

    form = client.get(reverse("admin:auth_user_change", args=[owner.pk]))

    assert 'name="is_superuser"' in form.content.decode()
