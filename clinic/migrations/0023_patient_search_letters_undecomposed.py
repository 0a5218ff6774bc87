"""Patients' search letters again, now with the letters Unicode doesn't
decompose (Łukasiewicz is found as Lukasiewicz, Søren as Soren)."""

import unicodedata

from django.db import migrations

# As clinic.models.people.NAME_MARKS, UNDECOMPOSED and letters_of() were when
# this ran.
NAME_MARKS = ("'", "\u2018", "\u2019", "\u02bc", "`", "\u00b4", "-", "\u2010")
NAME_MARKS += ("\u2011", "\u2013", ".")
UNDECOMPOSED = str.maketrans(
    {
        "Ł": "L",
        "ł": "l",
        "Ø": "O",
        "ø": "o",
        "Đ": "D",
        "đ": "d",
        "Ð": "D",
        "ð": "d",
        "Ħ": "H",
        "ħ": "h",
        "ı": "i",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Þ": "Th",
        "þ": "th",
    }
)


def without_marks(text: str) -> str:
    for mark in NAME_MARKS:
        text = text.replace(mark, "")
    return text


def letters_of(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", without_marks(text))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(without_marks(bare.translate(UNDECOMPOSED).casefold()).split())


def fill(apps, schema_editor) -> None:
    Patient = apps.get_model("clinic", "Patient")
    patients = list(Patient.objects.only("pk", "first_name", "last_name"))
    for patient in patients:
        patient.search_letters = letters_of(f"{patient.first_name} {patient.last_name}")
    Patient.objects.bulk_update(patients, ["search_letters"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0022_consultation_changes"),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
