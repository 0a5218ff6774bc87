"""Session records and photos: record, complete and sign, amend; store photos safely.

A signed record is locked. Every later change is an amendment with a reason that
keeps each changed value before and after. Signing completes the appointment;
the record's end time is when the aftercare clock starts.
"""

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from io import BytesIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from clinic import services as booking
from clinic.models import Appointment, Area
from clinic.roles import is_practitioner
from clinic.scheduling import when_text
from plans.models import (
    Amendment,
    Photo,
    PhotoRemoval,
    Product,
    SessionRecord,
    TreatedArea,
    TreatmentSession,
)
from plans.services import PlanError

# The record fields an amendment may change, in the order they are shown.
AMENDABLE = [
    "device",
    "cartridge_lot",
    "numbing_agent",
    "numbing_other",
    "numbing_minutes",
    "redness",
    "pinpoint_bleeding",
    "adverse_events",
    "notes",
    "started_at",
    "ended_at",
]
# A recorded start or end this far from the booked time is a typing slip.
TIMES_NEAR_BOOKING = timedelta(hours=12)
LONGEST_SESSION = timedelta(hours=8)
THUMBNAIL_SIZE = (480, 480)
# The longest side libjpeg writes (the format itself allows 65,535).
JPEG_MAX_SIDE = 65_500
PHOTO_FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}


@dataclass(frozen=True)
class AreaEntry:
    area: str
    depth_mm: Decimal
    passes: int


def previous_record(session: TreatmentSession) -> SessionRecord | None:
    """The latest signed record of an earlier session of the same plan."""
    return (
        SessionRecord.objects.filter(
            session__plan_id=session.plan_id,
            signed_at__isnull=False,
            session__appointment__start__lt=session.appointment.start,
        )
        .select_related("numbing_agent")
        .prefetch_related("areas", "products_after")
        .order_by("-session__appointment__start")
        .first()
    )


def depth_warnings(
    entries: list[AreaEntry], previous: SessionRecord | None
) -> list[str]:
    """Areas needled deeper than at the previous session (allowed, but flagged)."""
    if previous is None:
        return []
    before = {a.area: a.depth_mm for a in previous.areas.all()}
    return [
        _("%(area)s: %(now)s mm is deeper than last time (%(before)s mm).")
        % {"area": Area(e.area).label, "now": e.depth_mm, "before": before[e.area]}
        for e in entries
        if e.area in before and e.depth_mm > before[e.area]
    ]


def _check_session(session: TreatmentSession) -> None:
    status = session.appointment.status
    if status in Appointment.LOST_STATUSES:
        raise PlanError(
            _("This session was %(status)s: there is nothing to record.")
            % {"status": session.appointment.status_phrase}
        )


def _check_times(
    record: SessionRecord, now: datetime, *, allow_future: bool = False
) -> None:
    started, ended = record.started_at, record.ended_at
    if started and ended and ended <= started:
        raise PlanError(_("The end must be after the start."))
    appointment = record.session.appointment
    for moment in (started, ended):
        if moment is not None and not (
            appointment.start - TIMES_NEAR_BOOKING
            <= moment
            <= appointment.end + TIMES_NEAR_BOOKING
        ):
            raise PlanError(
                _(
                    "The session was booked for %(when)s: its recorded start and "
                    "end must lie within %(hours)s hours of that. Check the dates."
                )
                % {
                    "when": when_text(appointment.start),
                    "hours": int(TIMES_NEAR_BOOKING / timedelta(hours=1)),
                }
            )
    if started and ended and ended - started > LONGEST_SESSION:
        raise PlanError(
            _("A session can't last over %(hours)s hours: check the start and end.")
            % {"hours": int(LONGEST_SESSION / timedelta(hours=1))}
        )
    # A draft saved mid-session may carry the planned end; a signed one may not.
    if not allow_future and ended and ended > now:
        raise PlanError(_("The end of the session can't be in the future."))


def _save_areas(record: SessionRecord, entries: list[AreaEntry]) -> None:
    if len({e.area for e in entries}) != len(entries):
        raise PlanError(_("Each area can be listed once."))
    record.areas.all().delete()
    TreatedArea.objects.bulk_create(
        TreatedArea(record=record, area=e.area, depth_mm=e.depth_mm, passes=e.passes)
        for e in entries
    )


class StaleRecord(PlanError):
    """The record changed since the page that changes it was opened."""


NEW_RECORD = "new"


def seen_stamp(record: SessionRecord | None) -> str:
    """What the record form remembers of the draft it showed (see save_record)."""
    if record is None or record.pk is None:
        return NEW_RECORD
    return record.updated_at.isoformat()


@transaction.atomic
def save_record(
    *,
    record: SessionRecord,
    entries: list[AreaEntry],
    products: list[Product],
    now: datetime | None = None,
    seen: str | None = None,
) -> SessionRecord:
    """Save a draft record (not yet signed).

    ``seen``: when the draft was last saved as the form showed it (its
    ``updated_at`` in ISO format, NEW_RECORD before); if it was saved since,
    nothing is saved (the other save would be undone). Without ``seen``, a new
    record saved twice at once (a second click) becomes one record: the second
    save, waiting on the session's lock, finds the first and saves onto it.
    """
    now = now or timezone.now()
    # no_key: a session row that a new replacement session points at is locked
    # that lighter way too, so the two wait for each other rather than deadlock.
    session = (
        TreatmentSession.objects.select_for_update(no_key=True)
        .select_related("appointment")
        .get(pk=record.session_id)
    )
    locked = (
        SessionRecord.objects.select_for_update()
        .filter(session_id=record.session_id)
        .first()
    )
    if locked is not None and locked.is_signed:
        raise StaleRecord(
            _(
                "This record was signed while your page was open, so your changes "
                "were not saved: amend it to change it."
            )
        )
    if seen is not None and seen != seen_stamp(locked):
        raise StaleRecord(
            _(
                "This record was saved while your page was open (by a colleague, "
                "or a second click), so your changes were not saved. Here it is "
                "as it is now: make your change again."
            )
        )
    if locked is not None:
        record.pk, record.created_at = locked.pk, locked.created_at
        record._state.adding = False
    # As it is now, locked: it may have been cancelled while the page was open.
    _check_session(session)
    record.session = session
    _check_times(record, now, allow_future=True)
    record.save()
    _save_areas(record, entries)
    record.products_after.set(products)
    return record


@transaction.atomic
def sign_record(
    *, record: SessionRecord, by: AbstractBaseUser, now: datetime | None = None
) -> SessionRecord:
    """Complete the session and sign its record; the record is locked from now on."""
    now = now or timezone.now()
    record = (
        SessionRecord.objects.select_for_update()
        .select_related("session__appointment")
        .get(pk=record.pk)
    )
    if record.is_signed:
        raise PlanError(_("This session is already completed and signed."))
    if not is_practitioner(by):
        raise PlanError(_("Only a practitioner can complete and sign a session."))
    missing = []
    if not record.started_at or not record.ended_at:
        missing.append(_("the start and end times"))
    if not record.areas.exists():
        missing.append(_("at least one treated area with its needle depth"))
    if missing:
        raise PlanError(
            _("Before signing, add %(what)s.") % {"what": _(" and ").join(missing)}
        )
    _check_times(record, now)
    try:
        booking.complete_appointment(
            appointment=record.session.appointment,
            by=by,
            ended_at=record.ended_at,
            now=now,
        )
    except booking.BookingError as error:
        raise PlanError(error.messages[0]) from error
    record.signed_by = by
    record.signed_at = now
    record.save(update_fields=["signed_by", "signed_at", "updated_at"])
    return record


def _display(record: SessionRecord, field: str) -> str:
    value = getattr(record, field)
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%d %b %Y %H:%M")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    display = getattr(record, f"get_{field}_display", None)
    return str(display() if display else value)


def _areas_text(entries) -> str:
    return (
        ", ".join(
            # Two decimals, as stored: "1" and "1.00" are the same depth.
            f"{Area(e.area).label} {e.depth_mm:.2f} mm x{e.passes}"
            for e in sorted(entries, key=lambda e: e.area)
        )
        or "—"
    )


@transaction.atomic
def amend_record(
    *,
    record: SessionRecord,
    changes: dict,
    entries: list[AreaEntry] | None,
    products: list[Product] | None,
    reason: str,
    by: AbstractBaseUser,
    now: datetime | None = None,
    seen: int | None = None,
) -> Amendment:
    """Change a signed record, keeping who, when, why and every value before/after.

    ``seen``: how many amendments the record had when the change was prepared; if
    someone amended it since, nothing is saved (their change would be undone).
    """
    now = now or timezone.now()
    if not is_practitioner(by):
        raise PlanError(_("Only a practitioner can amend a signed record."))
    reason = reason.strip()
    if not reason:
        raise PlanError(_("An amendment needs a reason."))
    record = SessionRecord.objects.select_for_update().get(pk=record.pk)
    if not record.is_signed:
        raise PlanError(_("This record is not signed yet: edit it directly."))
    if seen is not None and record.amendments.count() != seen:
        raise StaleRecord(
            _(
                "Someone amended this record while you had it open. Here it is as "
                "it is now: make your change again."
            )
        )
    diff = []
    for field in AMENDABLE:
        if field not in changes:
            continue
        before = _display(record, field)
        setattr(record, field, changes[field])
        after = _display(record, field)
        if before != after:
            label = str(SessionRecord._meta.get_field(field).verbose_name)
            diff.append(
                {"field": field, "label": label, "before": before, "after": after}
            )
    if entries is not None:
        before = _areas_text(record.areas.all())
        after = _areas_text(entries)
        if before != after:
            diff.append(
                {
                    "field": "areas",
                    "label": str(_("areas")),
                    "before": before,
                    "after": after,
                }
            )
    if products is not None:
        before = ", ".join(sorted(p.name for p in record.products_after.all())) or "—"
        after = ", ".join(sorted(p.name for p in products)) or "—"
        if before != after:
            diff.append(
                {
                    "field": "products_after",
                    "label": str(_("products applied after")),
                    "before": before,
                    "after": after,
                }
            )
    if not diff:
        raise PlanError(_("Nothing was changed."))
    if entries is not None and not entries:
        raise PlanError(_("A signed record keeps at least one treated area."))
    if record.started_at is None or record.ended_at is None:
        raise PlanError(_("A signed record keeps its start and end times."))
    _check_times(record, now)
    record.save()
    if entries is not None:
        _save_areas(record, entries)
    if products is not None:
        record.products_after.set(products)
    if any(change["field"] == "ended_at" for change in diff):
        # The aftercare clock starts at the recorded end: let it follow.
        booking.notify(
            "end_changed",
            [record.session.appointment],
            now=now,
            ended_at=record.ended_at,
        )
    return Amendment.objects.create(
        record=record, by=by, at=now, reason=reason, changes=diff
    )


# Photos -------------------------------------------------------------------------


class PhotoError(PlanError):
    pass


@dataclass(frozen=True)
class CleanImage:
    jpeg: bytes
    thumbnail: bytes
    width: int
    height: int


def clean_image(upload: UploadedFile) -> CleanImage:
    """A real photo, re-encoded as JPEG without EXIF (no GPS, no camera data).

    Refuses what isn't an image, files over the size limit and images with more
    pixels than the limit (a small file can declare an enormous image).
    """
    max_bytes = settings.CLINIC_PHOTO_MAX_BYTES
    max_pixels = settings.CLINIC_PHOTO_MAX_PIXELS
    if upload.size is not None and upload.size > max_bytes:
        raise PhotoError(
            _("The photo is too large: %(size)s at most.")
            % {"size": filesizeformat(max_bytes)}
        )
    not_an_image = _("That file is not a photo we can read (use JPEG, PNG or WebP).")
    too_many_pixels = _(
        "The photo has too many pixels (%(mp)s megapixels at most)."
    ) % {"mp": f"{max_pixels / 1_000_000:g}"}
    too_long = _("The photo is too long on one side (%(px)s pixels at most).") % {
        "px": f"{JPEG_MAX_SIDE:,}"
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            upload.seek(0)
            with Image.open(upload) as probe:
                if probe.format not in PHOTO_FORMATS:
                    raise PhotoError(not_an_image)
                width, height = probe.size
                if width * height > max_pixels:
                    raise PhotoError(too_many_pixels)
                if max(width, height) > JPEG_MAX_SIDE:
                    raise PhotoError(too_long)
                probe.verify()
            upload.seek(0)
            with Image.open(upload) as image:
                image.load()
                upright = _as_rgb(ImageOps.exif_transpose(image))
            full = BytesIO()
            # Saved without exif=, so no EXIF (GPS, camera, time) is kept.
            upright.save(full, "JPEG", quality=88, optimize=True)
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own limit, met before ours: the same refusal, in the same words.
        raise PhotoError(too_many_pixels) from exc
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise PhotoError(not_an_image) from exc
    width, height = upright.size
    upright.thumbnail(THUMBNAIL_SIZE)
    thumb = BytesIO()
    upright.save(thumb, "JPEG", quality=82, optimize=True)
    return CleanImage(
        jpeg=full.getvalue(), thumbnail=thumb.getvalue(), width=width, height=height
    )


def _as_rgb(image: Image.Image) -> Image.Image:
    """The picture as 8-bit RGB, as it looks: 16-bit greys scaled down (not
    clipped to white), transparent parts on white (not black)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return image.convert("I").point(lambda v: v * (1 / 256)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


@transaction.atomic
def add_photo(
    *,
    session: TreatmentSession,
    upload: UploadedFile,
    moment: str,
    area: str,
    note: str,
    by: AbstractBaseUser,
    now: datetime | None = None,
) -> Photo:
    _check_session(session)
    now = now or timezone.now()
    if timezone.localdate(session.appointment.start) > timezone.localdate(now):
        raise PhotoError(_("Photos are added on the day of the session, not before."))
    cleaned = clean_image(upload)
    photo = Photo(
        session=session,
        moment=moment,
        area=area,
        note=note.strip(),
        uploaded_by=by,
        width=cleaned.width,
        height=cleaned.height,
    )
    photo.image.save("photo.jpg", ContentFile(cleaned.jpeg), save=False)
    photo.thumbnail.save("thumb.jpg", ContentFile(cleaned.thumbnail), save=False)
    # Files are written before the row: if the row fails, remove them again.
    try:
        with transaction.atomic():
            photo.save()
            # A photo added to a signed record is a change to it, kept in its
            # history like any amendment.
            record = _signed_record(session)
            if record is not None:
                if not is_practitioner(by):
                    raise PhotoError(
                        _(
                            "The record is signed: only a practitioner adds a "
                            "photo to it now."
                        )
                    )
                Amendment.objects.create(
                    record=record,
                    by=by,
                    at=now,
                    reason=_("Photo added after the record was signed."),
                    changes=[
                        _photo_change(photo, before="—", after=_photo_text(photo))
                    ],
                )
    except Exception:
        photo.image.delete(save=False)
        photo.thumbnail.delete(save=False)
        raise
    return photo


def _signed_record(session: TreatmentSession) -> SessionRecord | None:
    """The session's record if it is signed, locked (None otherwise)."""
    return (
        SessionRecord.objects.select_for_update()
        .filter(session=session, signed_at__isnull=False)
        .first()
    )


def _photo_text(photo: Photo) -> str:
    when = formats.date_format(timezone.localtime(photo.uploaded_at), "j M Y H:i")
    return f"{photo.get_moment_display()}, {photo.get_area_display()} ({when})"


def _photo_change(photo: Photo, *, before: str, after: str) -> dict:
    return {
        "field": "photos",
        "label": str(_("photo")),
        "before": before,
        "after": after,
    }


@transaction.atomic
def remove_photo(
    *,
    photo: Photo,
    reason: str,
    by: AbstractBaseUser,
    now: datetime | None = None,
) -> None:
    """Remove a photo that should not be there (another patient's, the wrong
    area, a blurred one): its files are deleted, not hidden. On a signed record
    the removal is also an amendment. Either way what it was, who removed it,
    when and why are kept (PhotoRemoval); the image itself is gone."""
    now = now or timezone.now()
    if not is_practitioner(by):
        raise PlanError(_("Only a practitioner can remove a photo."))
    reason = reason.strip()
    if not reason:
        raise PlanError(_("Say why the photo is removed."))
    photo = Photo.objects.select_for_update().filter(pk=photo.pk).first()
    if photo is None:
        raise PlanError(_("This photo was removed already."))
    PhotoRemoval.objects.create(
        session=photo.session, photo=_photo_text(photo), reason=reason, by=by, at=now
    )
    record = _signed_record(photo.session)
    if record is not None:
        Amendment.objects.create(
            record=record,
            by=by,
            at=now,
            reason=reason,
            changes=[_photo_change(photo, before=_photo_text(photo), after="—")],
        )
    image, thumbnail = photo.image, photo.thumbnail
    photo.delete()
    # The files go once the removal is committed: a rollback keeps the photo whole.
    transaction.on_commit(
        lambda: (image.delete(save=False), thumbnail.delete(save=False))
    )


# Comparison -----------------------------------------------------------------------


def comparison_defaults(
    photos: list[Photo],
) -> tuple[Photo | None, Photo | None]:
    """First session's "before" beside the latest session's "after" (one area)."""
    befores = [p for p in photos if p.moment == Photo.Moment.BEFORE]
    afters = [p for p in photos if p.moment == Photo.Moment.AFTER]
    key = lambda p: (p.session.appointment.start, p.uploaded_at)  # noqa: E731
    left = min(befores, key=key) if befores else None
    right = max(afters, key=key) if afters else None
    return left, right
