"""Staff status (the admin) follows the Manager role alone: accounts given it by
hand without the role lose it, and practitioners whose account lost the
Practitioner role or was deactivated stop taking bookings, unless something is
still booked with them (those bookings are moved first, as the admin asks)."""

from django.db import migrations
from django.utils import timezone

MANAGER = "Manager"
PRACTITIONER = "Practitioner"
OPEN = ("booked", "checked_in")


def staff_status_follows_role(apps, schema_editor):
    User = apps.get_model("auth", "User")
    Practitioner = apps.get_model("clinic", "Practitioner")
    Appointment = apps.get_model("clinic", "Appointment")
    User.objects.filter(is_staff=True, is_superuser=False).exclude(
        groups__name=MANAGER
    ).update(is_staff=False)
    still_booked = Appointment.objects.filter(
        status__in=OPEN, start__gte=timezone.now()
    ).values("practitioner_id")
    Practitioner.objects.filter(is_active=True).exclude(
        user__groups__name=PRACTITIONER, user__is_active=True
    ).exclude(pk__in=still_booked).update(is_active=False)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0014_text_limits"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(staff_status_follows_role, migrations.RunPython.noop)
    ]
