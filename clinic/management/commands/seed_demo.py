"""Build a small demo clinic to click through: staff, rooms, hours, patients, one week.

Idempotent: every object is looked up by a natural key before it is created, and
the week's appointments are only written when none of the demo patients has an
appointment that week yet. Running it a week later adds that week's appointments.
"""

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from clinic import roles
from clinic.models import (
    Appointment,
    Area,
    ClosureDay,
    Consultation,
    Goal,
    OpeningHours,
    Patient,
    Practitioner,
    Room,
    WorkingHours,
    local_midnight,
    screened,
)
from clinic.services import (
    BookingError,
    book_appointment,
    cancel_appointment,
    history,
)

DEMO_PASSWORD = "clinic-demo-2026"

ROOMS = ("Treatment room 1", "Treatment room 2")

MON, TUE, WED, THU, FRI, SAT = range(6)
WEEKDAYS = (MON, TUE, WED, THU, FRI)


def _t(text: str) -> time:
    return time.fromisoformat(text)


OPENING_HOURS = {day: [(_t("09:00"), _t("18:00"))] for day in WEEKDAYS} | {
    SAT: [(_t("09:00"), _t("14:00"))]
}


@dataclass(frozen=True)
class Staff:
    username: str
    first_name: str
    last_name: str
    role: str
    title: str = ""  # a Practitioner.Title for practitioners


STAFF = (
    Staff("frontdesk", "Maya", "Thompson", roles.FRONT_DESK),
    Staff("manager", "Helen", "Brooks", roles.MANAGER),
    Staff(
        "dr.patel", "Priya", "Patel", roles.PRACTITIONER, Practitioner.Title.PHYSICIAN
    ),
    Staff(
        "nurse.okafor", "Grace", "Okafor", roles.PRACTITIONER, Practitioner.Title.NURSE
    ),
    Staff(
        "lee.aesthetics",
        "Jordan",
        "Lee",
        roles.PRACTITIONER,
        Practitioner.Title.AESTHETICIAN,
    ),
)

# Each practitioner's week: weekday -> blocks. The physician keeps Wednesday
# afternoons and Saturdays free, the nurse has Mondays off, the aesthetician
# takes a lunch break and has Wednesdays off.
WORKING_HOURS = {
    "dr.patel": {
        MON: [("09:00", "17:00")],
        TUE: [("09:00", "17:00")],
        WED: [("09:00", "13:00")],
        THU: [("09:00", "17:00")],
        FRI: [("09:00", "17:00")],
    },
    "nurse.okafor": {
        TUE: [("10:00", "18:00")],
        WED: [("10:00", "18:00")],
        THU: [("10:00", "18:00")],
        FRI: [("10:00", "18:00")],
        SAT: [("09:00", "14:00")],
    },
    "lee.aesthetics": {
        day: [("09:00", "13:00"), ("14:00", "18:00")] for day in (MON, TUE, THU, FRI)
    }
    | {SAT: [("09:00", "14:00")]},
}

# The demo plans' practitioner (plans/demo.py).
PHYSICIAN = "dr.patel"
# Loaded on a day the clinic or the physician would be off (a weekend), the
# demo opens that weekday too and the physician works it: whoever tries the demo
# that day has today's session of the demo plan to record (plans/demo.py).
DAY_OFF_HOURS = ("09:00", "14:00")


def opening_hours(today: date) -> dict[int, list[tuple[time, time]]]:
    """The demo clinic's opening hours, open on ``today``'s weekday."""
    if today.weekday() in OPENING_HOURS:
        return OPENING_HOURS
    opens, closes = DAY_OFF_HOURS
    return OPENING_HOURS | {today.weekday(): [(_t(opens), _t(closes))]}


def working_hours(username: str, today: date) -> dict[int, list[tuple[str, str]]]:
    """A demo practitioner's week; the physician's includes ``today``'s weekday."""
    week = WORKING_HOURS[username]
    if username != PHYSICIAN or today.weekday() in week:
        return week
    return week | {today.weekday(): [DAY_OFF_HOURS]}


CONSULTATION = Appointment.Kind.CONSULTATION

# The appointments a practitioner could have on any day: (start, minutes, kind,
# preferred room). Consultations only: a treatment session belongs to a plan
# (plans.demo books those), where it is recorded and signed. Slots outside the
# day's working hours are left out, and one more slot a day rotates out so the
# days differ. The slots never put more than two appointments at the same time,
# so the two rooms always suffice.
DAY_SLOTS = {
    "dr.patel": [
        ("09:00", 30, CONSULTATION, 0),
        ("09:45", 30, CONSULTATION, 0),
        ("11:00", 30, CONSULTATION, 0),
        ("14:00", 30, CONSULTATION, 0),
        ("15:30", 30, CONSULTATION, 0),
    ],
    "nurse.okafor": [
        ("10:00", 30, CONSULTATION, 1),
        ("11:30", 30, CONSULTATION, 1),
        ("14:00", 30, CONSULTATION, 1),
        ("16:00", 30, CONSULTATION, 1),
    ],
    "lee.aesthetics": [
        ("09:00", 30, CONSULTATION, 1),
        ("11:15", 30, CONSULTATION, 0),
        ("12:00", 30, CONSULTATION, 0),
        ("15:00", 30, CONSULTATION, 0),
        ("16:15", 30, CONSULTATION, 0),
    ],
}

CONSULTATION_NOTES = (
    "New patient: fine lines around the eyes and mouth.",
    "Acne scarring on both cheeks; asks about a course of sessions.",
    "Stretch marks on the abdomen after pregnancy.",
    "Pigmentation on the forehead; uses a retinoid at night.",
    "Surgical scar on the knee, two years old.",
)
# What a consultation of the week that took place recorded, by its note: areas,
# goals, hoped-for results and topical medication.
FOUND = {
    CONSULTATION_NOTES[0]: (
        [Area.FACE],
        [Goal.LINES],
        "Softer lines around the eyes and mouth.",
        "",
    ),
    CONSULTATION_NOTES[1]: (
        [Area.FACE],
        [Goal.ACNE_SCARS, Goal.TEXTURE],
        "Smoother cheeks.",
        "",
    ),
    CONSULTATION_NOTES[2]: (
        [Area.BODY],
        [Goal.STRETCH_MARKS],
        "Fainter stretch marks on the abdomen.",
        "",
    ),
    CONSULTATION_NOTES[3]: (
        [Area.FACE],
        [Goal.PIGMENTATION],
        "A more even forehead.",
        "Tretinoin 0.025% cream at night",
    ),
    CONSULTATION_NOTES[4]: (
        [Area.BODY],
        [Goal.SURGICAL_SCARS],
        "A flatter, paler scar on the knee.",
        "",
    ),
}
# Of the week's consultations that took place, every NOT_ELIGIBLE_EVERY-th was
# not eligible and every REFERRED_EVERY-th referred; the others eligible.
NOT_ELIGIBLE_EVERY = 6
REFERRED_EVERY = 7
CANCEL_REASON = "Patient has a cold and will call to rebook."
# How long before it began a past demo appointment was booked.
BOOKED_AHEAD = timedelta(days=7)


# (first name, last name, date of birth, Fitzpatrick skin type)
PATIENTS = (
    ("Amelia", "Hughes", "1988-03-14", 2),
    ("Oluwaseun", "Adeyemi", "1992-07-02", 5),
    ("Sofia", "Rossi", "1985-11-23", 3),
    ("Mohammed", "Khan", "1979-05-09", 4),
    ("Hannah", "Schmidt", "1995-01-30", 1),
    ("Wei", "Chen", "1990-09-17", 3),
    ("Aoife", "Murphy", "1983-12-05", 1),
    ("Marcus", "Johnson", "1976-04-21", 6),
    ("Isabella", "García", "1998-06-11", 3),
    ("Ravi", "Sharma", "1987-02-26", 4),
    ("Emily", "Clarke", "1993-08-08", 2),
    ("Kwame", "Mensah", "1981-10-19", 6),
    ("Yuki", "Tanaka", "1996-03-03", 3),
    ("Fatima", "Al-Sayed", "1989-12-28", 4),
    ("Lucas", "Oliveira", "1984-07-15", 3),
    ("Ji-woo", "Park", "1997-05-24", 3),
    ("Chloé", "Dubois", "1991-09-01", 2),
    ("Daniel", "Nowak", "1980-01-12", 2),
    ("Zara", "Ahmed", "1994-11-06", 4),
    ("Thomas", "Evans", "1972-06-29", 2),
    ("Ama", "Owusu", "1986-04-04", 6),
    ("Olivia", "Bennett", "2000-02-14", 1),
    ("Arjun", "Mehta", "1978-08-22", 4),
    ("Niamh", "O'Brien", "1990-10-10", 1),
    ("Mateo", "Fernández", "1999-12-19", 3),
    ("Leila", "Haddad", "1982-05-31", 4),
    ("Samuel", "Wright", "1969-03-27", 2),
    ("Mei-Lin", "Wong", "1993-07-07", 3),
    ("Ebony", "Campbell", "1987-09-13", 5),
    ("Ingrid", "Larsen", "1975-11-02", 1),
    ("Grace", "Adebayo", "1991-01-18", 5),
    ("Harriet", "Cole", "1986-06-03", 1),
    ("Priyanka", "Rao", "1994-04-12", 4),
    ("Elena", "Popescu", "1983-08-29", 2),
    ("Nadia", "Benali", "1997-02-07", 4),
    ("Charlotte", "Price", "1979-12-15", 2),
    ("Kofi", "Boateng", "1988-05-25", 6),
    ("Sara", "Lindqvist", "1992-10-01", 1),
    ("Hiroshi", "Sato", "1977-03-19", 3),
    ("Maria", "Silva", "1985-07-30", 3),
    ("Jessica", "Turner", "1996-11-22", 2),
    ("Omar", "Farouk", "1984-09-09", 4),
    ("Rebecca", "Hall", "1973-02-16", 2),
    ("Anjali", "Nair", "1990-06-27", 4),
    ("Ciara", "Walsh", "1999-01-05", 1),
    ("Laura", "Martínez", "1987-04-17", 3),
    ("Tendai", "Moyo", "1982-12-03", 6),
    ("Eva", "Horvath", "1995-08-14", 2),
    ("Ruth", "Goldberg", "1968-10-28", 2),
    ("Min-jun", "Kim", "1993-03-08", 3),
    ("Bethany", "Shaw", "2001-07-21", 1),
    ("Imran", "Qureshi", "1980-05-02", 4),
    ("Giulia", "Conti", "1989-09-26", 3),
    ("Abena", "Asante", "1994-12-12", 6),
    ("Freya", "Lund", "1998-02-23", 1),
    ("Layla", "Hassan", "1986-11-11", 4),
    ("Chiara", "Romano", "1981-06-06", 3),
    ("Natalie", "Ward", "1990-03-31", 2),
    ("Hyun-woo", "Lee", "1985-10-20", 3),
    ("Rosa", "Delgado", "1977-01-27", 4),
)
# Their consultations and courses are the plans part's (plans.demo): the week's
# new consultations are for the other patients.
COURSE_PATIENTS = {
    ("Oluwaseun", "Adeyemi"),
    ("Wei", "Chen"),
    ("Fatima", "Al-Sayed"),
    ("Kwame", "Mensah"),
    ("Yuki", "Tanaka"),
}
# A few patients prefer a phone call and want no email reminders; one of them
# has given no email address at all.
NO_EMAIL_CONSENT = {("Marcus", "Johnson"), ("Thomas", "Evans"), ("Ingrid", "Larsen")}
NO_EMAIL = {("Samuel", "Wright")}


@dataclass(frozen=True)
class PlannedAppointment:
    username: str
    room: str
    start: datetime
    end: datetime
    kind: str
    notes: str


def plan_demo_week(monday: date, tz: tzinfo) -> list[PlannedAppointment]:
    """The demo appointments from ``monday`` to Saturday, ordered by start."""
    planned = []
    counter = 0
    for offset in range(6):
        day = monday + timedelta(days=offset)
        room_free_at = {name: datetime.min.replace(tzinfo=tz) for name in ROOMS}
        day_slots = []
        for index, (username, slots) in enumerate(DAY_SLOTS.items()):
            blocks = WORKING_HOURS[username].get(day.weekday(), [])
            fitting = [
                slot
                for slot in slots
                if _fits(blocks, _t(slot[0]), _add_minutes(_t(slot[0]), slot[1]))
            ]
            if len(fitting) > 1:
                del fitting[(offset + index) % len(fitting)]
            day_slots += [(username, *slot) for slot in fitting]
        for username, start_text, minutes, kind, preferred in sorted(
            day_slots, key=lambda s: (s[1], s[0])
        ):
            start = datetime.combine(day, _t(start_text), tz)
            end = start + timedelta(minutes=minutes)
            rooms = (ROOMS[preferred], *(r for r in ROOMS if r != ROOMS[preferred]))
            room = next((r for r in rooms if room_free_at[r] <= start), None)
            if room is None:
                raise CommandError(f"The demo week double-books both rooms at {start}.")
            room_free_at[room] = end
            planned.append(
                PlannedAppointment(
                    username=username,
                    room=room,
                    start=start,
                    end=end,
                    kind=kind,
                    notes=CONSULTATION_NOTES[counter % len(CONSULTATION_NOTES)],
                )
            )
            counter += 1
    return planned


def _add_minutes(at: time, minutes: int) -> time:
    return (datetime.combine(date.min, at) + timedelta(minutes=minutes)).time()


def _fits(blocks: list[tuple[str, str]], start: time, end: time) -> bool:
    return any(_t(s) <= start and end <= _t(e) for s, e in blocks)


def _email(first_name: str, last_name: str) -> str:
    def ascii_slug(text: str) -> str:
        plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore")
        return "".join(c for c in plain.decode().lower() if c.isalnum() or c == "-")

    return f"{ascii_slug(first_name)}.{ascii_slug(last_name)}@example.com"


class Command(BaseCommand):
    help = (
        "Create a demo clinic (staff logins, rooms, hours, patients and this "
        "week's appointments). Safe to run again."
    )

    def handle(self, *args, **options) -> None:
        now = timezone.now()
        tz = timezone.get_default_timezone()
        with transaction.atomic():
            users = self.seed_staff()
            today = timezone.localdate(now, tz)
            practitioners = self.seed_practitioners(users, today=today)
            rooms = {name: Room.objects.get_or_create(name=name)[0] for name in ROOMS}
            self.seed_opening_hours(today=today)
            patients = self.seed_patients()
            self.seed_closures(now=now)
            self.seed_week(
                now=now,
                tz=tz,
                front_desk=users["frontdesk"],
                practitioners=practitioners,
                rooms=rooms,
                patients=patients,
            )
            # Later apps add their part of the demo (see CLINIC_DEMO_SEEDERS).
            for path in settings.CLINIC_DEMO_SEEDERS:
                import_string(path)(now=now, stdout=self.stdout)
            # The past days are written as they ended, not booked through the
            # services: booked a week before they began, their history starts
            # with what their rows tell.
            Appointment.objects.filter(created_at__gt=F("start")).update(
                created_at=F("start") - BOOKED_AHEAD
            )
            history.record_from_rows(Appointment.objects.all())
        self.print_logins()

    def seed_closures(self, *, now: datetime) -> None:
        """The bank holidays around the turn of the year."""
        year = timezone.localdate(now).year
        holidays = [
            (date(year, 12, 25), "Christmas Day"),
            (date(year, 12, 26), "Boxing Day"),
            (date(year + 1, 1, 1), "New Year's Day"),
        ]
        # One on a weekend is made up on the next working day (England's rule).
        taken = {day for day, _reason in holidays}
        for day, reason in list(holidays):
            if day.weekday() >= SAT:
                substitute = day
                while substitute.weekday() >= SAT or substitute in taken:
                    substitute += timedelta(days=1)
                taken.add(substitute)
                holidays.append((substitute, f"{reason} (substitute day)"))
        for day, reason in holidays:
            if Appointment.objects.active().on_day(day).exists():
                continue  # Booked by hand on a demo clinic already in use.
            ClosureDay.objects.get_or_create(date=day, defaults={"reason": reason})

    def seed_staff(self) -> dict[str, User]:
        users = {}
        for staff in STAFF:
            user, created = User.objects.get_or_create(
                username=staff.username,
                defaults={
                    "first_name": staff.first_name,
                    "last_name": staff.last_name,
                    "email": f"{staff.username}@example.com",
                    "is_staff": staff.role == roles.MANAGER,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=staff.role))
            users[staff.username] = user
        return users

    def seed_practitioners(
        self, users: dict[str, User], *, today: date
    ) -> dict[str, Practitioner]:
        practitioners = {}
        for staff in STAFF:
            if staff.role != roles.PRACTITIONER:
                continue
            practitioner, _ = Practitioner.objects.get_or_create(
                user=users[staff.username], defaults={"title": staff.title}
            )
            # Hours a manager has since edited are left as they are.
            if not practitioner.working_hours.exists():
                WorkingHours.objects.bulk_create(
                    WorkingHours(
                        practitioner=practitioner,
                        weekday=weekday,
                        start=_t(start),
                        end=_t(end),
                    )
                    for weekday, blocks in working_hours(staff.username, today).items()
                    for start, end in blocks
                )
            practitioners[staff.username] = practitioner
        return practitioners

    def seed_opening_hours(self, *, today: date) -> None:
        for weekday, blocks in opening_hours(today).items():
            if OpeningHours.objects.filter(weekday=weekday).exists():
                continue
            OpeningHours.objects.bulk_create(
                OpeningHours(weekday=weekday, opens=opens, closes=closes)
                for opens, closes in blocks
            )

    def seed_patients(self) -> list[Patient]:
        patients = []
        for index, (first_name, last_name, born, skin_type) in enumerate(PATIENTS):
            key = (first_name, last_name)
            email = "" if key in NO_EMAIL else _email(first_name, last_name)
            consents = bool(email) and key not in NO_EMAIL_CONSENT
            patient, _ = Patient.objects.get_or_create(
                first_name=first_name,
                last_name=last_name,
                date_of_birth=date.fromisoformat(born),
                defaults={
                    "email": email,
                    "phone": f"+44 7700 900{101 + index:03d}",
                    "email_consent": consents,
                    "preferred_contact": (
                        Patient.Contact.EMAIL if consents else Patient.Contact.PHONE
                    ),
                    "skin_type": skin_type,
                },
            )
            patients.append(patient)
        return patients

    def seed_week(
        self,
        *,
        now: datetime,
        tz: tzinfo,
        front_desk: User,
        practitioners: dict[str, Practitioner],
        rooms: dict[str, Room],
        patients: list[Patient],
    ) -> None:
        today = timezone.localdate(now, tz)
        monday = today - timedelta(days=today.weekday())
        already_seeded = Appointment.objects.filter(
            patient__in=patients,
            start__gte=local_midnight(monday),
            start__lt=local_midnight(monday + timedelta(days=6)),
        ).exists()
        if already_seeded:
            self.stdout.write(
                f"The demo appointments for the week of {monday:%d %b %Y} "
                "already exist; left as they are."
            )
            return

        planned = plan_demo_week(monday, tz)
        ended = [p for p in planned if p.end <= now]
        upcoming = [p for p in planned if p.start >= now]
        no_show = ended[len(ended) // 2] if ended else None
        # Cancel an upcoming appointment through the service when there is one;
        # late on Saturday the whole week is over, so cancel a past one instead.
        cancelled = upcoming[len(upcoming) // 2] if upcoming else None
        if cancelled is None and len(ended) > 1:
            cancelled = ended[len(ended) // 2 - 1]

        # One consultation each in the week, for patients with no course yet.
        newcomers = [
            p for p in patients if (p.first_name, p.last_name) not in COURSE_PATIENTS
        ]
        created = skipped = 0
        for index, plan in enumerate(planned):
            fields = {
                "patient": newcomers[index % len(newcomers)],
                "practitioner": practitioners[plan.username],
                "room": rooms[plan.room],
                "start": plan.start,
                "end": plan.end,
                "kind": plan.kind,
                "notes": plan.notes,
            }
            if plan.start >= now:
                try:
                    appointment = book_appointment(
                        **fields, booked_by=front_desk, now=now
                    )
                except BookingError as exc:
                    # Only possible when the hours or rooms were changed by hand.
                    self.stderr.write(f"Skipped {plan.start:%a %H:%M}: {exc}")
                    skipped += 1
                    continue
                if plan is cancelled:
                    cancel_appointment(
                        appointment=appointment,
                        by=front_desk,
                        reason=CANCEL_REASON,
                        now=now,
                    )
            else:
                # The booking service refuses past times, so the week so far is
                # written as it would have ended up.
                appointment = self.write_past(
                    fields,
                    plan=plan,
                    now=now,
                    front_desk=front_desk,
                    no_show=plan is no_show,
                    cancelled=plan is cancelled,
                )
                if appointment.status == Appointment.Status.COMPLETED:
                    self.write_consultation(appointment, index)
            created += 1
        self.stdout.write(
            f"Created {created} appointments for the week of {monday:%d %b %Y}"
            + (f" ({skipped} skipped)." if skipped else ".")
        )

    def write_past(
        self,
        fields: dict,
        *,
        plan: PlannedAppointment,
        now: datetime,
        front_desk: User,
        no_show: bool,
        cancelled: bool,
    ) -> Appointment:
        extra: dict = {"booked_by": front_desk}
        if cancelled:
            extra |= {
                "status": Appointment.Status.CANCELLED,
                "cancel_reason": CANCEL_REASON,
                "cancelled_at": plan.start - timedelta(hours=20),
            }
        elif no_show:
            extra["status"] = Appointment.Status.NO_SHOW
        else:
            extra |= {
                "status": (
                    Appointment.Status.COMPLETED
                    if plan.end <= now
                    else Appointment.Status.CHECKED_IN
                ),
                "checked_in_at": plan.start - timedelta(minutes=5),
            }
        return Appointment.objects.create(**fields, **extra)

    def write_consultation(self, appointment: Appointment, index: int) -> None:
        """What the practitioner recorded at a consultation of the week that
        took place (its decision completed it), as the page would have saved
        it: mostly eligible, some not eligible or referred, with their reasons."""
        areas, goals, hoped_for, medication = FOUND[appointment.notes]
        fields: dict = {
            "areas": areas,
            "goals": goals,
            "hoped_for_results": hoped_for,
            "topical_medication": medication,
            "skin_type": appointment.patient.skin_type,
            **screened(),
            "decision": Consultation.Decision.ELIGIBLE,
        }
        if index % NOT_ELIGIBLE_EVERY == NOT_ELIGIBLE_EVERY - 1:
            fields |= {
                **screened("active_infection"),
                "screening_note": "Active acne on both cheeks.",
                "decision": Consultation.Decision.NOT_ELIGIBLE,
                "decision_reason": "Active acne: treat it first, then book again.",
            }
        elif index % REFERRED_EVERY == REFERRED_EVERY - 1:
            fields |= {
                **screened("keloid_tendency"),
                "screening_note": "Raised scars after an earlier operation.",
                "decision": Consultation.Decision.REFER,
                "decision_reason": "Keloid tendency: referred to a dermatologist.",
            }
        Consultation.objects.create(
            appointment=appointment,
            patient=appointment.patient,
            decided_by=appointment.practitioner.user,
            decided_at=appointment.end,
            **fields,
        )

    def print_logins(self) -> None:
        rows = [("username", "role", "password")] + [
            (staff.username, _role_label(staff), DEMO_PASSWORD) for staff in STAFF
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        self.stdout.write("")
        self.stdout.write("Demo logins:")
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write(("  " + "  ".join(cells)).rstrip())
        self.stdout.write("")
        address = settings.CLINIC_BASE_URL.rstrip("/") + "/"
        self.stdout.write(f"Sign in at {address} (`make run` serves it).")


def _role_label(staff: Staff) -> str:
    if staff.title:
        return f"{staff.role} ({Practitioner.Title(staff.title).label.lower()})"
    if staff.role == roles.MANAGER:
        return f"{staff.role} (also /admin/)"
    return staff.role
