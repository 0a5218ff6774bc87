"""Finding patients, registering them one at a time, and saving their details."""

from datetime import date, datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Replace
from django.utils import formats, timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from clinic.models import Patient, PatientChange
from clinic.models.people import letters_of
from clinic.services.stale import as_compared, check_seen

# Any fixed number, the same in every process: the PostgreSQL advisory lock that
# registrations take in turn.
REGISTRATION_LOCK = 7_210_001


def hold_registration_lock() -> None:
    """Inside a transaction: hold off other registrations until it ends, so two
    sent at once (a form sent twice) can't both find no namesake and both
    register. On SQLite the transaction began IMMEDIATE and holds the database's
    write lock already."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("hold_registration_lock() needs a transaction")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REGISTRATION_LOCK])


# What the details page edits and protects from a stale page. Email consent has
# its own guard (the patient may unsubscribe while the page is open).
DETAILS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "email",
    "phone",
    "preferred_contact",
    "skin_type",
    "notes",
)


# What a change of details keeps the history of: what the page edits, and the
# consent (which decides, with the address, whether and where emails go).
TRACED = (*DETAILS, "email_consent")


@transaction.atomic
def save_patient_details(
    patient: Patient,
    *,
    now: datetime | None = None,
    seen: str | None = None,
    keep_stored_consent: bool = False,
    by: AbstractBaseUser | None = None,
) -> Patient:
    """Save an existing patient's changed details. When email consent is given
    again (after an unsubscribe, say), the apps in
    settings.CLINIC_PATIENT_LISTENERS hear of it in the same transaction: the
    outbox resumes the patient's emails still ahead.

    ``seen``: the version the form showed (see clinic.services.stale); a save
    from a page opened before someone else's is refused.
    ``keep_stored_consent``: the form left the consent box as it showed it, so
    the consent stored now stands (read under the lock: an unsubscribe since
    the page was opened, or even since this request began, is not undone).
    ``by``: who saves; what changed is kept as a PatientChange."""
    stored = Patient.objects.select_for_update().filter(pk=patient.pk).first()
    check_seen(stored, seen, fields=DETAILS, what=_("the patient's details"))
    if stored is not None and keep_stored_consent:
        patient.email_consent = stored.email_consent
    gave_consent = (
        patient.email_consent and stored is not None and not stored.email_consent
    )
    if stored is not None:
        # Consent given again clears it; else it stays as stored (an
        # unsubscribe since the page was opened is kept).
        patient.unsubscribed_at = None if gave_consent else stored.unsubscribed_at
    patient.save()
    if stored is not None:
        keep_change(stored, patient, by=by, now=now or timezone.now())
    if gave_consent:
        for path in settings.CLINIC_PATIENT_LISTENERS:
            import_string(path)(
                event="consent_given", patient=patient, now=now or timezone.now()
            )
    return patient


def keep_change(
    before: Patient,
    after: Patient,
    *,
    by: AbstractBaseUser | None,
    now: datetime,
    how: str = "",
) -> None:
    """Keep what changed of the traced details between two versions of the
    patient as a PatientChange (nothing when nothing did): inside the
    transaction that saves ``after``."""
    changes = _changes(before, after)
    if changes:
        PatientChange.objects.create(
            patient=after, at=now, by=by, how=how, changes=changes
        )


def _changes(stored: Patient, saved: Patient) -> list[dict[str, str]]:
    """Each traced field that differs, with its values as the pages show them."""
    return [
        {
            "field": name,
            "label": str(Patient._meta.get_field(name).verbose_name),
            "before": _shown(stored, name),
            "after": _shown(saved, name),
        }
        for name in TRACED
        if as_compared(getattr(stored, name)) != as_compared(getattr(saved, name))
    ]


def _shown(patient: Patient, name: str) -> str:
    value = getattr(patient, name)
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, date):
        return formats.date_format(value, "j M Y")
    if Patient._meta.get_field(name).choices:
        return str(getattr(patient, f"get_{name}_display")())
    return str(value)


# What people write between a phone number's digits, ignored when searching;
# first "(0)", the trunk 0 some write inside an international number.
PHONE_SEPARATORS = ("(0)", " ", "-", "(", ")", ".")
# A number written the national way ("07700 900102") is looked up without its
# leading 0 from this many digits on: shorter, it would match far too much.
NATIONAL_DIGITS = 5


# Left-to-right and right-to-left marks: invisible, and never in a search.
DIRECTION_MARKS = dict.fromkeys([0x200E, 0x200F], None)
# A number of at least this many digits is also looked up by its last ones,
# which are the same however the rest is written: "+44 7700 900123" finds
# "07700 900123", and "+44 (0)7700..." or "+44 07700..." find "+44 7700...".
SUFFIX_DIGITS = 9


def search_words(query: str) -> list[str]:
    """The words of a search; commas separate them too ("Lovelace, Ada", as the
    list shows names). A number written in groups ("07700 900123") is one."""
    words = query.translate(DIRECTION_MARKS).replace(",", " ").split()
    joined: list[str] = []
    for word in words:
        # "(0)" or a lone dash inside a number is part of it, as in
        # "+44 (0) 7700 900123".
        inside = _phone_forms(word) or not _without_separators(word)
        if joined and inside and _phone_forms(joined[-1]):
            joined[-1] += word
        else:
            joined.append(word)
    return joined


def _without_separators(word: str) -> str:
    for separator in PHONE_SEPARATORS:
        word = word.replace(separator, "")
    return word


def _phone_forms(word: str) -> list[str]:
    """What the word may be as a stored phone number's digits (with its +):
    none when it isn't a number; "0044..." as "+44..."; a national "07700..."
    also as "7700...", which "+44 7700..." contains."""
    digits = _without_separators(word)
    plain = digits.removeprefix("+")
    if not (plain.isascii() and plain.isdigit()):
        return []
    forms = [digits]
    if digits.startswith("00") and len(digits) - 2 >= NATIONAL_DIGITS:
        # An international prefix only before a number long enough to mean one:
        # "00" alone would be "+", which every international number holds.
        forms = ["+" + digits[2:]]
    elif digits.startswith("0") and len(digits) >= NATIONAL_DIGITS:
        forms.append(digits[1:])
    if len(plain) > SUFFIX_DIGITS:
        forms.append(plain[-SUFFIX_DIGITS:])
    return forms


# A word this long may be a name typed without its space ("stjohn"); a shorter
# one across two names ("mal" in "Emma Lee") would be chance.
COMPACT_FROM = 5


def search_patients(query: str) -> QuerySet[Patient]:
    """Every word must match a name (in any case, with or without its accents,
    apostrophes, hyphens, dots and spaces: "obrien" finds O'Brien, "zoe" Zoë,
    "stjohn" St. John), the email
    or the phone (its spaces,
    dashes, brackets and dots ignored, written the international or the
    national way). No words: every patient."""
    patients = Patient.objects.all()
    words = search_words(query)
    if any(len(letters_of(w)) >= COMPACT_FROM for w in words):
        # The name's letters without their spaces too: "stjohn" finds St. John,
        # "nibhriain" Ní Bhriain, as a name is often typed as one word.
        patients = patients.alias(
            compact_letters=Replace("search_letters", Value(" "), Value(""))
        )
    if any(_phone_forms(w) for w in words):
        phone: Replace | str = "phone"
        for separator in PHONE_SEPARATORS:
            phone = Replace(phone, Value(separator), Value(""))
        patients = patients.alias(phone_digits=phone)
    for word in words:
        match = Q(email__icontains=word)
        letters = letters_of(word)
        if letters:
            # Folded alike on both sides: contains, not icontains (SQLite
            # ignores the case of a-z only).
            match |= Q(search_letters__contains=letters)
            if len(letters) >= COMPACT_FROM:
                match |= Q(compact_letters__contains=letters.replace(" ", ""))
        for digits in _phone_forms(word):
            match |= Q(phone_digits__contains=digits)
        patients = patients.filter(match)
    return patients
