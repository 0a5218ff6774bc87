"""Consultations and the log of who opened a patient's clinical record."""

from collections.abc import Iterable
from copy import copy
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from clinic.models import (
    CONTRAINDICATIONS,
    Appointment,
    ClinicalAccess,
    Consultation,
    ConsultationChange,
    Patient,
)
from clinic.roles import is_practitioner, staff_name
from clinic.scheduling import when_text
from clinic.services.booking import notify
from clinic.services.changes import _locked, _refuse, complete_appointment
from clinic.services.patients import keep_change
from clinic.services.stale import as_compared, check_seen

WRITTEN_BY_PRACTITIONER = _lazy(
    "Only a practitioner records a consultation: its screening and notes are "
    "what the decision, the pre-care emails and the sessions rest on."
)


# What the consultation page edits and protects from a stale page.
RECORDED = (
    "areas",
    "goals",
    "hoped_for_results",
    "skin_type",
    "topical_medication",
    *CONTRAINDICATIONS,
    "screening_note",
    "decision",
    "decision_reason",
)


@transaction.atomic
def record_consultation(
    *,
    consultation: Consultation,
    by: AbstractBaseUser,
    now: datetime | None = None,
    seen: str | None = None,
) -> Consultation:
    """Save a consultation filled in by a practitioner (no one else writes
    one), stamping the decision.

    The patient's skin type follows the latest consultation that records one.
    ``seen``: the version the form showed (see clinic.services.stale); a save
    from a page opened before someone else's is refused.
    """
    now = now or timezone.now()
    if not is_practitioner(by):
        raise _refuse(WRITTEN_BY_PRACTITIONER)
    appointment = _locked(consultation.appointment)
    # The appointment's lock makes saves of its consultation take turns.
    saved = Consultation.objects.filter(appointment=appointment).first()
    check_seen(saved, seen, fields=RECORDED, what=_("this consultation"))
    if appointment.kind != Appointment.Kind.CONSULTATION:
        raise _refuse(_("Only a consultation appointment can hold a consultation."))
    if appointment.status in Appointment.LOST_STATUSES:
        raise _refuse(
            _("This consultation was %(status)s: book a new one instead.")
            % {"status": appointment.status_phrase}
        )
    consultation.patient = appointment.patient
    decided = consultation.decision != Consultation.Decision.PENDING
    if (
        decided
        and appointment.start > now
        # Checked in early, then decided (which completes it): it took place.
        and appointment.status
        not in (Appointment.Status.CHECKED_IN, Appointment.Status.COMPLETED)
    ):
        raise _refuse(
            _(
                "The decision is made at the consultation: it starts %(when)s, or "
                "once the patient is checked in. Notes can be saved before, with "
                "the decision left open."
            )
            % {"when": when_text(appointment.start)}
        )
    was_decided = consultation.pk is not None and _was_decided(consultation)
    if not decided and was_decided:
        raise _refuse(
            _(
                "A decision was recorded: it can be changed to another decision, "
                "not taken back."
            )
        )
    if consultation.decision == Consultation.Decision.PENDING:
        consultation.decided_by, consultation.decided_at = None, None
    elif consultation.pk is None or _decision_changed(consultation):
        consultation.decided_by, consultation.decided_at = by, now
    # What the pre-care emails of the sessions ahead ask to stop, before.
    told = _medication_ahead(appointment.patient, now) if decided or was_decided else {}
    consultation.save()
    if told:
        # A medication to stop that is new for sessions whose pre-care went
        # out: the patient hears of it (aftercare sends the pre-care again).
        ahead = _medication_ahead(appointment.patient, now)
        to_tell = [
            session
            for session, medication in ahead.items()
            if medication and medication != told.get(session)
        ]
        if to_tell:
            notify("medication_changed", to_tell, now=now)
        # For the page to say the patient hears of it.
        consultation.medication_told = sorted(to_tell, key=lambda a: a.start)
    if saved is not None and (changed := differences(saved, consultation)):
        if saved.decided_by_id and saved.decided_by_id != consultation.decided_by_id:
            # Whose decision it was: the page names only the latest decider.
            changed.append(
                [_("Decided by"), _decider(saved), _decider(consultation) or "-"]
            )
        ConsultationChange.objects.create(
            consultation=consultation, changed_by=by, changed_at=now, values=changed
        )
    if decided and appointment.status in Appointment.OPEN_STATUSES:
        # Decided: the consultation took place. Its appointment is completed,
        # so that Today and the calendars stop showing the patient as waiting.
        complete_appointment(appointment=appointment, by=by, now=now)
    if (
        consultation.skin_type
        and appointment.patient.skin_type != consultation.skin_type
        and not _later_skin_type_recorded(consultation, appointment)
    ):
        patient = appointment.patient
        before = copy(patient)
        patient.skin_type = consultation.skin_type
        patient.save(update_fields=["skin_type", "updated_at"])
        keep_change(before, patient, by=by, now=now, how=_("at a consultation"))
    return consultation


# Where consultation_in_force keeps what it read on an appointment.
IN_FORCE = "_consultation_in_force"


def consultation_in_force(appointment: Appointment) -> Consultation | None:
    """For a treatment session: the consultation whose medication and
    screening hold for it, the patient's latest decided consultation by the
    session's start (a later one than the plan's may record a new medication,
    or none), else the plan's. None for other appointments.

    The one rule for what the pre-care emails tell the patient and what the
    practitioner's pages show."""
    session = getattr(appointment, "treatment_session", None)
    if session is None:
        return None
    if not hasattr(appointment, IN_FORCE):
        attach_consultations_in_force([appointment])
    return getattr(appointment, IN_FORCE) or session.plan.consultation


def consultation_held_at(patient_id: int, at: datetime) -> Consultation | None:
    """The patient's latest decided consultation by ``at`` (what
    consultation_in_force finds for a session starting then)."""
    return (
        Consultation.objects.decided()
        .filter(patient_id=patient_id, appointment__start__lte=at)
        .select_related("appointment")
        .order_by("-appointment__start", "-pk")
        .first()
    )


def attach_consultations_in_force(appointments: Iterable[Appointment]) -> None:
    """Read consultation_in_force for a batch of appointments, in one query."""
    sessions = [
        a for a in appointments if getattr(a, "treatment_session", None) is not None
    ]
    if not sessions:
        return
    decided = list(
        Consultation.objects.decided()
        .filter(patient_id__in={a.patient_id for a in sessions})
        .select_related("appointment")
        .order_by("appointment__start", "pk")
    )
    for appointment in sessions:
        held = [
            c
            for c in decided
            if c.patient_id == appointment.patient_id
            and c.appointment.start <= appointment.start
        ]
        setattr(appointment, IN_FORCE, held[-1] if held else None)


def _medication_ahead(patient: Patient, now: datetime) -> dict[Appointment, str]:
    """The topical medication that holds for each of the patient's booked
    treatment sessions still to come (two queries)."""
    sessions = list(
        Appointment.objects.filter(
            patient=patient,
            kind=Appointment.Kind.TREATMENT,
            status=Appointment.Status.BOOKED,
            start__gt=now,
        ).select_related("treatment_session__plan__consultation")
    )
    attach_consultations_in_force(sessions)
    return {
        session: getattr(consultation_in_force(session), "topical_medication", "")
        for session in sessions
    }


def medication_last_told(patient: Patient, before: datetime) -> Consultation | None:
    """The patient's latest consultation before ``before`` when it names a
    topical medication (a follow-up starts from it), else None: the latest
    even when it says none, so one stopped since doesn't come back from an
    older consultation."""
    latest = (
        Consultation.objects.filter(patient=patient, appointment__start__lt=before)
        .exclude(appointment__status__in=Appointment.LOST_STATUSES)
        .select_related("appointment")
        .order_by("-appointment__start")
        .first()
    )
    return latest if latest is not None and latest.topical_medication else None


def differences(before: Consultation, after: Consultation) -> list[list[str]]:
    """The RECORDED values that differ, as [label, before, after] in words."""
    return [
        [
            capfirst(str(Consultation._meta.get_field(name).verbose_name)),
            _in_words(before, name),
            _in_words(after, name),
        ]
        for name in RECORDED
        if as_compared(getattr(before, name)) != as_compared(getattr(after, name))
    ]


def _decider(consultation: Consultation) -> str:
    if consultation.decided_by is None:
        return ""
    when = timezone.localtime(consultation.decided_at)
    return (
        f"{staff_name(consultation.decided_by)}, "
        f"{formats.date_format(when, 'j M Y, H:i')}"
    )


def _in_words(consultation: Consultation, name: str) -> str:
    value = getattr(consultation, name)
    if name == "areas":
        return ", ".join(consultation.get_areas_display()) or _("none")
    if name == "goals":
        return ", ".join(consultation.get_goals_display()) or _("none")
    if name in CONTRAINDICATIONS:
        return {True: _("yes"), False: _("no"), None: _("not asked")}[value]
    if name in ("skin_type", "decision"):
        return str(getattr(consultation, f"get_{name}_display")() or _("not recorded"))
    return str(value) if value not in ("", None) else _("(empty)")


def _later_skin_type_recorded(
    consultation: Consultation, appointment: Appointment
) -> bool:
    """A later consultation of the patient records a skin type: it is theirs,
    not this older one's (an edit of an old consultation changes nothing)."""
    return (
        Consultation.objects.filter(
            patient=appointment.patient,
            skin_type__isnull=False,
            appointment__start__gt=appointment.start,
        )
        .exclude(pk=consultation.pk)
        .exists()
    )


def _was_decided(consultation: Consultation) -> bool:
    """The stored consultation holds a decision (a plan may rest on it, and it
    marks the appointment as having taken place)."""
    return (
        Consultation.objects.filter(pk=consultation.pk)
        .exclude(decision=Consultation.Decision.PENDING)
        .exists()
    )


# What a decision rests on: a change to any of it is a decision taken again, in
# the name of whoever saves it (the hopes a patient describes are not).
DECIDED_ON = tuple(name for name in RECORDED if name != "hoped_for_results")


def _decision_changed(consultation: Consultation) -> bool:
    """The decision, or what it rests on (the screening above all), differs
    from the stored one: the page then names who decided on what it shows."""
    stored = (
        Consultation.objects.filter(pk=consultation.pk).values_list(*DECIDED_ON).first()
    )
    if stored is None:
        return True
    return tuple(map(as_compared, stored)) != tuple(
        as_compared(getattr(consultation, name)) for name in DECIDED_ON
    )


def log_clinical_access(
    *, user: AbstractBaseUser, patient: Patient, what: str, object_id: int | None
) -> None:
    ClinicalAccess.objects.create(
        user=user, patient=patient, what=what, object_id=object_id
    )
