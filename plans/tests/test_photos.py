import random
import re
import struct
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from PIL import ExifTags, Image, ImageCms, ImageFile

from clinic.models import Appointment
from clinic.services import cancel_appointment
from clinic.tests.factories import clinic_time
from plans import photos as photos_service
from plans.models import Photo
from plans.photos import PhotoError
from plans.services import PlanError
from plans.storage import private_storage
from plans.tests.record_factories import add_session, image_bytes, make_plan, upload

pytestmark = pytest.mark.django_db

NOT_A_PHOTO = "not a photo we can read"


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path) -> Path:
    """Every test here writes its photos to its own folder."""
    settings.CLINIC_PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.CLINIC_PRIVATE_MEDIA_ROOT


@pytest.fixture
def session(practitioner, patient, room):
    plan = make_plan(practitioner, patient=patient)
    return add_session(plan, clinic_time(2026, 11, 24, 10), room)


def add(session, by, data: bytes, name: str = "photo.jpg", **kwargs) -> Photo:
    return photos_service.add_photo(
        session=session,
        upload=upload(data, name=name),
        moment=kwargs.get("moment", Photo.Moment.BEFORE),
        area=kwargs.get("area", "face"),
        note=kwargs.get("note", ""),
        by=by,
        now=kwargs.get("now", clinic_time(2026, 11, 24, 9, 50)),
    )


def test_photos_are_added_from_the_day_of_the_session_on(
    session, practitioner, private_root
):
    # Before the session's day there is nothing to photograph yet.
    with pytest.raises(PhotoError, match="on the day of the session"):
        add(
            session, practitioner.user, image_bytes(), now=clinic_time(2026, 11, 23, 18)
        )

    assert not Photo.objects.exists()
    assert stored_files(private_root) == []
    # The morning of the session, before it starts: the "before" photos.
    assert add(session, practitioner.user, image_bytes()).session == session


def test_the_same_file_twice_on_a_session_is_refused(
    session, practitioner, patient, room, private_root
):
    data = image_bytes()
    first = add(session, practitioner.user, data, area="face")

    with pytest.raises(PhotoError, match="This file is on the session already"):
        add(session, practitioner.user, data, area="neck", moment="after")

    assert list(Photo.objects.all()) == [first]
    assert len(stored_files(private_root)) == 2  # the first's photo and thumbnail
    # Another file is another photo; the same file on another session is too.
    add(session, practitioner.user, image_bytes())
    other = add_session(session.plan, clinic_time(2026, 11, 24, 12), room)
    assert add(other, practitioner.user, data).session == other
    # Removed, it may be added again (the right area this time).
    photos_service.remove_photo(
        photo=first, reason="Wrong area picked.", by=practitioner.user
    )
    assert add(session, practitioner.user, data, area="neck").area == "neck"


@pytest.mark.parametrize(
    ("image", "looks"),
    [
        # 16-bit greys, mid-grey: scaled down, not clipped to white.
        (lambda: Image.new("I;16", (200, 200), 32768), (128, 128, 128)),
        # Fully transparent pixels show the page, white, not black.
        (lambda: Image.new("RGBA", (200, 200), (0, 0, 0, 0)), (255, 255, 255)),
        (lambda: Image.new("LA", (200, 200), (0, 0)), (255, 255, 255)),
    ],
)
def test_unusual_pngs_are_kept_as_they_look(session, practitioner, image, looks):
    buffer = BytesIO()
    image().save(buffer, "PNG")

    stored = add(session, practitioner.user, buffer.getvalue(), name="scan.png")

    pixel = opened(stored.image).getpixel((4, 4))
    assert all(abs(a - b) <= 2 for a, b in zip(pixel, looks, strict=True))


def test_a_photo_longer_than_a_jpeg_can_be_is_refused(
    session, practitioner, private_root
):
    data = image_bytes("PNG", size=(65_501, 4), mode="L", color=0)

    with pytest.raises(PhotoError, match="too long on one side"):
        add(session, practitioner.user, data, name="strip.png")

    assert not Photo.objects.exists()
    assert stored_files(private_root) == []


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def opened(field) -> Image.Image:
    with field.open("rb") as handle:
        image = Image.open(BytesIO(handle.read()))
        image.load()
    return image


def noise(size: tuple[int, int]) -> Image.Image:
    """An image that compresses badly, so its file is as big as it looks."""
    rng = random.Random(f"{size}")
    return Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))


def encoded(image: Image.Image, fmt: str = "JPEG", **save) -> bytes:
    buffer = BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width`` x ``height`` zeros: tiny file, huge image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    pixels = b"".join(compressor.compress(row) for _ in range(height))
    pixels += compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


# Accepted photos ------------------------------------------------------------------


def test_a_jpeg_is_stored_privately_with_a_thumbnail(session, practitioner, tmp_path):
    photo = add(
        session,
        practitioner.user,
        encoded(noise((1200, 900))),
        moment=Photo.Moment.AFTER,
        area="neck",
        note="  Left side.  ",
    )

    photo.refresh_from_db()
    assert (photo.moment, photo.area, photo.note) == ("after", "neck", "Left side.")
    assert photo.uploaded_by == practitioner.user
    assert (photo.width, photo.height) == (1200, 900)
    full, thumb = opened(photo.image), opened(photo.thumbnail)
    assert (full.format, full.size) == ("JPEG", (1200, 900))
    assert thumb.format == "JPEG"
    assert thumb.size == (480, 360)
    assert sorted(stored_files(tmp_path / "private")) == sorted(
        [Path(photo.image.path), Path(photo.thumbnail.path)]
    )


def test_photo_files_are_readable_by_the_apps_own_user_only(
    session, practitioner, tmp_path
):
    photo = add(session, practitioner.user, encoded(noise((640, 480))))

    for path in (Path(photo.image.path), Path(photo.thumbnail.path)):
        assert path.stat().st_mode & 0o777 == 0o600
        folder = path.parent
        while folder != tmp_path:
            assert folder.stat().st_mode & 0o777 == 0o700, folder
            folder = folder.parent


def rgb_profile_with_red_and_green_swapped() -> bytes:
    """An RGB profile whose red primary is sRGB's green and the other way round:
    the same pixels mean other colours, as in a wide-gamut photo."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = int.from_bytes(icc[128:132], "big")
    tags = {}
    for n in range(count):
        entry = 132 + 12 * n
        signature = bytes(icc[entry : entry + 4])
        tags[signature] = (
            int.from_bytes(icc[entry + 4 : entry + 8], "big"),
            int.from_bytes(icc[entry + 8 : entry + 12], "big"),
        )
    (red, size), (green, _) = tags[b"rXYZ"], tags[b"gXYZ"]
    icc[red : red + size], icc[green : green + size] = (
        icc[green : green + size],
        icc[red : red + size],
    )
    return bytes(icc)


def test_a_photo_in_another_colour_space_is_stored_in_srgb(session, practitioner):
    """Tagged with its own profile (a tablet's Display P3, say), a photo's red
    must stay red once the profile is gone from the stored JPEG."""
    red = Image.new("RGB", (200, 200), (220, 20, 20))
    tagged = encoded(red, "PNG", icc_profile=rgb_profile_with_red_and_green_swapped())
    plain = encoded(red, "PNG")

    converted = opened(add(session, practitioner.user, tagged, name="p3.png").image)
    untouched = opened(add(session, practitioner.user, plain, name="srgb.png").image)

    r, g, _b = converted.getpixel((32, 32))
    assert g > r  # What the profile says the pixel is: green, in sRGB.
    r, g, _b = untouched.getpixel((32, 32))
    assert r > 200 and g < 40


def test_a_transparent_photo_in_another_colour_space_is_converted_too(
    session, practitioner
):
    red = Image.new("RGBA", (200, 200), (220, 20, 20, 255))
    tagged = encoded(red, "PNG", icc_profile=rgb_profile_with_red_and_green_swapped())

    stored = opened(add(session, practitioner.user, tagged, name="p3a.png").image)

    r, g, _b = stored.getpixel((32, 32))
    assert g > r


def test_a_palette_photo_in_another_colour_space_is_converted_too(
    session, practitioner
):
    red = Image.new("RGB", (200, 200), (220, 20, 20)).convert("P")
    tagged = encoded(red, "PNG", icc_profile=rgb_profile_with_red_and_green_swapped())

    stored = opened(add(session, practitioner.user, tagged, name="p3p.png").image)

    r, g, _b = stored.getpixel((32, 32))
    assert g > r


def test_a_broken_colour_profile_keeps_the_pixels_as_they_are(session, practitioner):
    red = Image.new("RGB", (200, 200), (220, 20, 20))
    broken = encoded(red, "PNG", icc_profile=b"not a profile at all")

    stored = opened(add(session, practitioner.user, broken, name="odd.png").image)

    r, g, _b = stored.getpixel((32, 32))
    assert r > 200 and g < 40


def test_photo_files_live_outside_the_public_media_folder(session, practitioner):
    photo = add(session, practitioner.user, image_bytes())

    path = Path(photo.image.path)
    assert path.is_relative_to(settings.CLINIC_PRIVATE_MEDIA_ROOT)
    assert not path.is_relative_to(settings.MEDIA_ROOT)
    assert not path.is_relative_to(settings.STATIC_ROOT)
    # Random names: nothing about the patient in the path.
    assert str(session.plan.patient.last_name) not in photo.image.name
    assert photo.image.name.startswith("photos/")
    assert photo.thumbnail.name.startswith("photos/thumbs/")


def test_the_private_folder_follows_the_setting(settings, tmp_path):
    settings.CLINIC_PRIVATE_MEDIA_ROOT = tmp_path / "elsewhere"
    assert Path(private_storage.path("x.jpg")) == tmp_path / "elsewhere" / "x.jpg"


@pytest.mark.parametrize(
    "fmt,mode",
    [("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("PNG", "L"), ("WEBP", "RGB")],
)
def test_other_photo_formats_are_re_encoded_as_jpeg(session, practitioner, fmt, mode):
    photo = add(
        session,
        practitioner.user,
        image_bytes(fmt, mode=mode, size=(250, 200), color="blue"),
        name="photo.png",
    )

    with photo.image.open("rb") as handle:
        assert handle.read(3) == b"\xff\xd8\xff"
    image = opened(photo.image)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (250, 200))


def exif_with_gps_and_camera() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "EOS R5"
    exif[ExifTags.Base.DateTime] = "2026:11:24 10:15:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 26.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 39.0)
    return exif


def test_exif_with_gps_and_camera_data_is_removed(session, practitioner):
    data = image_bytes(exif=exif_with_gps_and_camera())
    # The upload really carries the location and the camera.
    source = Image.open(BytesIO(data)).getexif()
    assert source[ExifTags.Base.Make] == "Canon"
    assert source.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"

    photo = add(session, practitioner.user, data)

    for field in (photo.image, photo.thumbnail):
        image = opened(field)
        assert not image.getexif()
        assert "exif" not in image.info
        with field.open("rb") as handle:
            raw = handle.read()
        assert b"Exif" not in raw
        assert b"Canon" not in raw
        assert b"EOS R5" not in raw


def test_the_exif_orientation_is_applied_before_it_is_dropped(session, practitioner):
    # Landscape as stored by the camera: red on the left, blue on the right.
    image = Image.new("RGB", (400, 200), "red")
    image.paste("blue", (200, 0, 400, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # shown rotated 90 degrees clockwise

    photo = add(session, practitioner.user, encoded(image, exif=exif, quality=95))

    assert (photo.width, photo.height) == (200, 400)
    upright = opened(photo.image)
    assert upright.size == (200, 400)
    assert not upright.getexif()
    red, green, blue = upright.getpixel((100, 50))
    assert red > 200 and blue < 60
    red, green, blue = upright.getpixel((100, 350))
    assert blue > 200 and red < 60


# EXIF as a camera app wrote it: Orientation 6, a Make whose length runs past
# the file, and a GPS block with a latitude of the wrong type. Pillow reads the
# picture and the orientation, but can't write this EXIF back.
MALFORMED_EXIF = bytes.fromhex(
    "4578696600004d4d002a000000080003010f000200d2000a0000003201120003000000010006"
    "000088250004000000010000003c0000000053656372657443616d0000040014000200000002"
    "4e00000000020005000000030000007200030002000000025700000000040005000000030000"
    "008a0000000000002a33000000010000001e00000001000000000000000100000000000000010"
    "00000070000002b0000000000000001"
)


# Pillow says what it skips of such EXIF; the test is about what is stored.
@pytest.mark.filterwarnings("ignore:Tag data larger than file:UserWarning")
def test_a_photo_with_malformed_exif_is_kept_upright(session, practitioner):
    image = Image.new("RGB", (400, 200), "red")
    image.paste("blue", (200, 0, 400, 200))

    photo = add(
        session, practitioner.user, encoded(image, exif=MALFORMED_EXIF, quality=95)
    )

    upright = opened(photo.image)
    assert upright.size == (200, 400)
    assert not upright.getexif()
    red, _green, blue = upright.getpixel((100, 50))
    assert red > 200 and blue < 60


# Refused files ---------------------------------------------------------------------


def truncated_jpeg() -> bytes:
    data = encoded(noise((256, 200)))
    return data[: len(data) // 2]


BAD_FILES = {
    "text renamed .jpg": b"Patient notes, definitely not a photo.\n" * 20,
    "empty file": b"",
    "truncated jpeg": truncated_jpeg(),
    "gif": image_bytes("GIF", mode="P"),
    "bmp": image_bytes("BMP"),
    "tiff": image_bytes("TIFF"),
    "pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    "jpeg header only": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
}


@pytest.mark.parametrize("data", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_what_isnt_a_readable_photo_is_refused_and_nothing_is_saved(
    session, practitioner, private_root, data
):
    with pytest.raises(PhotoError) as refused:
        add(session, practitioner.user, data)

    assert refused.value.messages == [
        "That file is not a photo we can read (use JPEG, PNG or WebP)."
    ]
    assert not Photo.objects.exists()
    assert stored_files(private_root) == []


def test_an_oversize_upload_is_refused_before_it_is_read(
    settings, session, practitioner, private_root, monkeypatch
):
    settings.CLINIC_PHOTO_MAX_BYTES = 2 * 1024 * 1024
    data = encoded(noise((1200, 1000)), quality=100)
    assert len(data) > settings.CLINIC_PHOTO_MAX_BYTES

    monkeypatch.setattr(Image, "open", pytest.fail)
    with pytest.raises(PhotoError, match=r"The photo is too large: 2\.0\sMB at most"):
        add(session, practitioner.user, data)

    assert not Photo.objects.exists()
    assert stored_files(private_root) == []


def test_the_size_limit_is_said_in_words_even_when_small(
    settings, session, practitioner
):
    settings.CLINIC_PHOTO_MAX_BYTES = 500 * 1024
    with pytest.raises(PhotoError, match=r"too large: 500\.0\sKB at most"):
        add(session, practitioner.user, encoded(noise((900, 700)), quality=100))


def test_a_photo_just_within_the_limits_is_accepted(settings, session, practitioner):
    data = image_bytes(size=(800, 200))
    settings.CLINIC_PHOTO_MAX_BYTES = len(data)
    settings.CLINIC_PHOTO_MAX_PIXELS = 800 * 200
    assert add(session, practitioner.user, data).width == 800


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if an image's pixels are decoded."""

    def load(self):
        pytest.fail("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.mark.parametrize(
    "width,height",
    [
        (20_000, 20_000),  # refused by Pillow itself, as a bomb
        (100_000, 1_000),  # over Pillow's warning threshold
        (9_000, 5_000),  # over our limit only
    ],
)
def test_a_decompression_bomb_is_refused_without_decoding_it(
    session, practitioner, private_root, no_decoding, width, height
):
    bomb = png_declaring(width, height)
    assert len(bomb) < 200_000

    with pytest.raises(PhotoError) as refused:
        add(session, practitioner.user, bomb, name="innocent.png")

    assert refused.value.messages == [
        "The photo has too many pixels (40 megapixels at most)."
    ]
    assert not Photo.objects.exists()
    assert stored_files(private_root) == []


def test_the_pixel_limit_follows_the_setting(
    settings, session, practitioner, no_decoding
):
    settings.CLINIC_PHOTO_MAX_PIXELS = 2_500_000
    with pytest.raises(PhotoError, match=r"\(2\.5 megapixels at most\)"):
        add(session, practitioner.user, png_declaring(2000, 1500))


@pytest.mark.parametrize(
    "status", [Appointment.Status.CANCELLED, Appointment.Status.NO_SHOW]
)
def test_no_photos_for_a_session_that_didnt_happen(
    practitioner, patient, room, private_root, status
):
    plan = make_plan(practitioner, patient=patient)
    session = add_session(plan, clinic_time(2026, 11, 24, 10), room, status=status)

    with pytest.raises(PlanError, match="nothing to record"):
        add(session, practitioner.user, image_bytes())

    assert not Photo.objects.exists()
    assert stored_files(private_root) == []


def test_files_are_removed_when_the_photo_row_cant_be_saved(
    session, practitioner, private_root, monkeypatch
):
    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Photo, "save", broken_save)
    with pytest.raises(RuntimeError):
        add(session, practitioner.user, image_bytes())

    assert stored_files(private_root) == []


# Serving ---------------------------------------------------------------------------


def test_the_photo_view_streams_the_file_privately(client, session, practitioner):
    photo = add(session, practitioner.user, encoded(noise((900, 600))))
    client.force_login(practitioner.user)

    for size, field in (("full", photo.image), ("thumb", photo.thumbnail)):
        response = client.get(reverse("plans:photo_file", args=[photo.pk, size]))
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert response["Cache-Control"] == "private, no-store"
        assert response["X-Content-Type-Options"] == "nosniff"
        with field.open("rb") as handle:
            assert b"".join(response.streaming_content) == handle.read()


def test_a_missing_photo_file_is_404(client, session, practitioner):
    photo = add(session, practitioner.user, image_bytes())
    photo.image.storage.delete(photo.image.name)
    client.force_login(practitioner.user)

    response = client.get(reverse("plans:photo_file", args=[photo.pk, "full"]))

    assert response.status_code == 404


def test_a_photo_isnt_stored_on_a_session_cancelled_while_it_was_processed(
    session, practitioner, front_desk, monkeypatch, tmp_path, settings
):
    """The front desk cancels while a large photo is being cleaned: the photo
    is refused, not kept on a cancelled session."""
    settings.CLINIC_PRIVATE_MEDIA_ROOT = tmp_path / "private"
    clean = photos_service.clean_image

    def cancelled_meanwhile(upload):
        cleaned = clean(upload)
        cancel_appointment(
            appointment=session.appointment,
            by=front_desk,
            reason="Patient unwell",
            now=clinic_time(2026, 11, 24, 9, 40),
        )
        return cleaned

    monkeypatch.setattr(photos_service, "clean_image", cancelled_meanwhile)

    with pytest.raises(PlanError, match="cancelled"):
        add(session, practitioner.user, image_bytes())

    assert not Photo.objects.exists()
    assert not [p for p in (tmp_path / "private").rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("size", "refusal"),
    [
        ((3, 3), "too small to show the skin: 200 pixels at least each way"),
        ((640, 199), "(this one is 640 by 199)"),
        ((1, 5000), "too small"),
        ((900, 200), "a narrow strip (900 by 200 pixels)"),
    ],
)
def test_a_photo_too_small_or_too_narrow_to_show_the_skin_is_refused(
    session, practitioner, private_root, size, refusal
):
    with pytest.raises(PhotoError, match=re.escape(refusal)):
        add(session, practitioner.user, image_bytes("PNG", size=size))

    assert not Photo.objects.exists()
    assert stored_files(private_root) == []
