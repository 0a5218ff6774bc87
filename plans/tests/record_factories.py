"""Sessions, records and images for the session-record tests."""

import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from io import BytesIO

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageColor, PngImagePlugin

from clinic.models import Appointment, Practitioner, Room
from clinic.tests.factories import AppointmentFactory
from plans import photos as photos_service
from plans import records
from plans.models import (
    Photo,
    Product,
    Redness,
    SessionRecord,
    TreatmentPlan,
    TreatmentSession,
)
from plans.records import AreaEntry
from plans.tests.factories import TreatmentPlanFactory


def make_plan(
    practitioner: Practitioner,
    *,
    areas: Iterable[str] = ("face", "neck"),
    planned: int = 6,
    **kwargs,
) -> TreatmentPlan:
    """A consented, active plan of ``practitioner``."""
    return TreatmentPlanFactory(
        consented=True,
        practitioner=practitioner,
        areas=list(areas),
        planned_sessions=planned,
        status=TreatmentPlan.Status.ACTIVE,
        **kwargs,
    )


def add_session(
    plan: TreatmentPlan,
    start: datetime,
    room: Room,
    *,
    minutes: int = 60,
    status: str = Appointment.Status.BOOKED,
    **appointment,
) -> TreatmentSession:
    """A session written straight to the tables (no booking rules): for setup."""
    number = max(plan.sessions.values_list("number", flat=True), default=0) + 1
    if status == Appointment.Status.CANCELLED:
        appointment.setdefault("cancel_reason", "Patient unwell.")
    return TreatmentSession.objects.create(
        plan=plan,
        number=number,
        appointment=AppointmentFactory(
            patient=plan.patient,
            practitioner=plan.practitioner,
            room=room,
            start=start,
            end=start + timedelta(minutes=minutes),
            kind=Appointment.Kind.TREATMENT,
            status=status,
            **appointment,
        ),
    )


def entries(areas: dict[str, tuple[str, int]]) -> list[AreaEntry]:
    return [
        AreaEntry(area=area, depth_mm=Decimal(depth), passes=passes)
        for area, (depth, passes) in areas.items()
    ]


def product(name: str) -> Product:
    return Product.objects.get(name=name)


def draft(
    session: TreatmentSession,
    *,
    areas: dict[str, tuple[str, int]] | None = None,
    products: Iterable[str] = (),
    now: datetime | None = None,
    by: AbstractBaseUser | None = None,
    **fields,
) -> SessionRecord:
    """A saved, unsigned record timed like its appointment, face at 1.00 mm,
    no redness seen; saved ``by`` whom, when said."""
    appointment = session.appointment
    fields.setdefault("redness", Redness.NONE)
    fields.setdefault("started_at", appointment.start)
    fields.setdefault("ended_at", appointment.end)
    return records.save_record(
        record=SessionRecord(session=session, **fields),
        entries=entries({"face": ("1.00", 2)} if areas is None else areas),
        products=[product(name) for name in products],
        now=now or appointment.end + timedelta(hours=1),
        by=by,
    )


def signed(
    session: TreatmentSession,
    by: AbstractBaseUser,
    *,
    now: datetime | None = None,
    **kwargs,
) -> SessionRecord:
    now = now or session.appointment.end + timedelta(hours=1)
    record = draft(session, now=now, **kwargs)
    return records.sign_record(record=record, by=by, now=now)


# Images ---------------------------------------------------------------------------


# Numbers the images made here, each with a pixel of its own.
_IMAGES = itertools.count(1)


def image_bytes(
    fmt: str = "JPEG",
    *,
    size: tuple[int, int] = (256, 200),
    color: str = "red",
    mode: str = "RGB",
    **save,
) -> bytes:
    buffer = BytesIO()
    image = Image.new(mode, size, color)
    # A file of its own, as a camera's photos are (the same file twice on a
    # session is refused): a numbered comment, or else a pixel of its own.
    number = next(_IMAGES)
    if fmt == "JPEG":
        save.setdefault("comment", f"test image {number}")
    elif fmt == "PNG" and "pnginfo" not in save:
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", f"test image {number}")
        save["pnginfo"] = info
    elif size[0] * size[1] > 1:
        try:
            marker = ImageColor.getcolor(
                f"#{number * 37 % 256:02x}{number * 91 % 256:02x}{number % 256:02x}",
                mode,
            )
        except ValueError:
            marker = None
        if marker is not None:
            image.putpixel((size[0] - 1, size[1] - 1), marker)
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def upload(
    data: bytes | None = None,
    *,
    name: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name, image_bytes() if data is None else data, content_type=content_type
    )


def photo(
    session: TreatmentSession,
    by: AbstractBaseUser,
    moment: str = Photo.Moment.BEFORE,
    area: str = "face",
    *,
    color: str = "red",
    note: str = "",
) -> Photo:
    return photos_service.add_photo(
        session=session,
        upload=upload(image_bytes(color=color)),
        moment=moment,
        area=area,
        note=note,
        by=by,
    )
