"""No practitioner and no room may hold two overlapping active appointments.

PostgreSQL enforces this with exclusion constraints (GiST over a half-open
tstzrange, so back-to-back appointments are fine); cancelled and no-show
appointments don't block. SQLite has no exclusion constraints: there the booking
service serialises writers with IMMEDIATE transactions instead. The constraints
are therefore added here, on PostgreSQL only, rather than in Model.Meta.
"""

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeBoundary, RangeOperators
from django.db import migrations
from django.db.models import F, Func, Q

ACTIVE = Q(status__in=["booked", "checked_in", "completed"])


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = None


def overlap_constraints() -> list[ExclusionConstraint]:
    period = (TsTzRange(F("start"), F("end"), RangeBoundary()), RangeOperators.OVERLAPS)
    return [
        ExclusionConstraint(
            name=f"appointment_no_{resource}_overlap",
            expressions=[(F(resource), RangeOperators.EQUAL), period],
            condition=ACTIVE,
        )
        for resource in ("practitioner", "room")
    ]


def add_constraints(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    Appointment = apps.get_model("clinic", "Appointment")
    for constraint in overlap_constraints():
        schema_editor.add_constraint(Appointment, constraint)


def remove_constraints(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    Appointment = apps.get_model("clinic", "Appointment")
    for constraint in overlap_constraints():
        schema_editor.remove_constraint(Appointment, constraint)


class Migration(migrations.Migration):
    dependencies = [("clinic", "0001_initial")]

    operations = [migrations.RunPython(add_constraints, remove_constraints)]
