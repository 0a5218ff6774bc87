"""Before and after photos of a session: checked and stored safely (re-encoded,
no EXIF), added and removed (each removal kept; on a signed record also an
amendment), and the pair a comparison starts from."""

import hashlib
import warnings
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from clinic.models import Appointment
from clinic.roles import is_practitioner
from plans.models import (
    Amendment,
    Photo,
    PhotoRemoval,
    SessionRecord,
    TreatmentSession,
)
from plans.records import check_session, unscreened_refusal
from plans.services import PlanError

THUMBNAIL_SIZE = (480, 480)
# The longest side libjpeg writes (the format itself allows 65,535).
JPEG_MAX_SIDE = 65_500
# What shows skin at all: a camera's photo is many times this. Smaller, or a
# sliver, is a file picked by mistake (an icon, a screenshot's strip), and
# would stretch the photo panels.
MIN_SIDE = 200
MAX_ASPECT = 4
PHOTO_FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}


class PhotoError(PlanError):
    pass


class SamePhotoTwice(PhotoError):
    """The file is a photo of the session already: nothing to choose again."""


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
                if min(width, height) < MIN_SIDE:
                    raise PhotoError(
                        _(
                            "The photo is too small to show the skin: %(px)s "
                            "pixels at least each way (this one is %(w)s by %(h)s)."
                        )
                        % {"px": MIN_SIDE, "w": width, "h": height}
                    )
                if max(width, height) > MAX_ASPECT * min(width, height):
                    raise PhotoError(
                        _(
                            "The photo is a narrow strip (%(w)s by %(h)s pixels): "
                            "use a photo at most %(n)s times as long as it is wide."
                        )
                        % {"w": width, "h": height, "n": MAX_ASPECT}
                    )
                probe.verify()
            upload.seek(0)
            with Image.open(upload) as image:
                image.load()
                upright = _as_rgb(_in_srgb(_upright(image)))
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


# How to turn a picture stored with each EXIF orientation upright.
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(image: Image.Image) -> Image.Image:
    """The picture as the camera meant it to be seen: its EXIF orientation
    applied. Only that tag is read; the EXIF is dropped anyway, and writing it
    back (as ImageOps.exif_transpose does) fails on the malformed EXIF some
    cameras and apps write, which must not lose the photo."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation)
    except Exception:  # noqa: BLE001 - untrusted metadata we don't keep
        orientation = None
    turn = UPRIGHT.get(orientation) if isinstance(orientation, int) else None
    return image if turn is None else image.transpose(turn)


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _in_srgb(image: Image.Image) -> Image.Image:
    """The picture's colours in sRGB when it says it is in another space (a
    tablet's Display P3, a CMYK scan): kept as is, with its profile dropped,
    redness would look different from one session's photos to the next."""
    icc = image.info.get("icc_profile")
    if icc and image.mode == "P":
        # A palette's colours are in the profile's space too.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        return ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(BytesIO(icc)),
            SRGB,
            # Transparency is kept, for _as_rgb to lay on white.
            outputMode="RGBA" if image.mode == "RGBA" else "RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A broken or odd profile: the pixels as they are.
        return image


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
    if not is_practitioner(by):
        # A manager's role, or a superuser's, reads the record; it doesn't add to it.
        raise PhotoError(_("Only a practitioner adds a photo to a session."))
    check_session(session)
    now = now or timezone.now()
    refusal = unscreened_refusal(session, [area])
    if refusal:
        raise PhotoError(refusal)
    if timezone.localdate(session.appointment.start) > timezone.localdate(now):
        raise PhotoError(_("Photos are added on the day of the session, not before."))
    digest = file_digest(upload)
    _refuse_twice(session, digest)
    cleaned = clean_image(upload)
    # Cleaning a large photo takes a while: the session's appointment is read
    # again under the lock a cancellation takes too, so that a photo never
    # lands on a session cancelled meanwhile.
    session.appointment = Appointment.objects.select_for_update().get(
        pk=session.appointment_id
    )
    check_session(session)
    _refuse_twice(session, digest)
    photo = Photo(
        session=session,
        moment=moment,
        area=area,
        note=note.strip(),
        uploaded_by=by,
        width=cleaned.width,
        height=cleaned.height,
        digest=digest,
    )
    photo.image.save("photo.jpg", ContentFile(cleaned.jpeg), save=False)
    photo.thumbnail.save("thumb.jpg", ContentFile(cleaned.thumbnail), save=False)
    # Files are written before the row: if the row fails, remove them again.
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    photo.save()
            except IntegrityError:
                # photo_once_per_session: the same file, added meanwhile.
                _refuse_twice(session, digest)
                raise
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


def file_digest(upload: UploadedFile) -> str:
    """SHA-256 of the uploaded file, read in chunks (the file is left at its
    start for whoever reads it next)."""
    upload.seek(0)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _refuse_twice(session: TreatmentSession, digest: str) -> None:
    """The same file added to the session already: a second click, or the
    wrong file picked (photo_once_per_session says the same in the database)."""
    same = Photo.objects.filter(session=session, digest=digest).first()
    if same is not None:
        raise SamePhotoTwice(
            _(
                "This file is on the session already, as %(moment)s · %(area)s "
                "added at %(time)s."
            )
            % {
                "moment": same.get_moment_display(),
                "area": same.get_area_display(),
                "time": f"{timezone.localtime(same.uploaded_at):%H:%M}",
            }
        )


def _signed_record(session: TreatmentSession) -> SessionRecord | None:
    """The session's record if it is signed, locked (None otherwise)."""
    return (
        SessionRecord.objects.select_for_update()
        .filter(session=session, signed_at__isnull=False)
        .first()
    )


def _photo_text(photo: Photo) -> str:
    """Which photo, in words: several of one area and moment may be taken in a
    minute, so to the second, with the start of its note."""
    when = formats.date_format(timezone.localtime(photo.uploaded_at), "j M Y, H:i:s")
    text = f"{photo.get_moment_display()}, {photo.get_area_display()} ({when})"
    if photo.note:
        text += f": {Truncator(photo.note).chars(80)}"
    return text


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
        session=photo.session,
        photo=_photo_text(photo),
        photo_id=photo.pk,
        reason=reason,
        by=by,
        at=now,
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
