"""Photos in an S3-compatible bucket (CLINIC_PHOTO_BUCKET).

The settings are read from the environment in a fresh interpreter, as in
clinic/tests/test_settings.py; the bucket is moto's in-process S3.
"""

import json
from pathlib import Path

import boto3
import pytest
from django.core.checks import Tags, run_checks
from django.core.files.base import ContentFile
from django.urls import reverse
from moto import mock_aws

from clinic.models import ClinicalAccess
from clinic.tests.factories import clinic_time
from clinic.tests.test_settings import SETUP, set_up_django
from plans import photos as photos_service
from plans.models import Photo
from plans.storage import private_storage
from plans.tests.record_factories import add_session, image_bytes, make_plan, upload

BUCKET = "clinic-photos"
REGION = "eu-west-2"
PUBLIC_GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}
SHOW = SETUP + (
    "\nimport json"
    "\nfrom django.conf import settings"
    "\nfrom django.core.files.storage import storages"
    "\nstorage = storages['photos']"
    "\nclient = storage.connection.meta.client if hasattr(storage, 'bucket') else None"
    "\nprint(json.dumps({"
    "'photos': settings.STORAGES['photos'],"
    "'endpoint': client.meta.endpoint_url if client else None,"
    "'region': client.meta.region_name if client else None,"
    "'aws_settings': [n for n in dir(settings) if n.startswith('AWS_')],"
    "}))"
)


def read_settings(tmp_path: Path, **variables: str) -> dict:
    result = set_up_django(tmp_path, code=SHOW, **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# Settings --------------------------------------------------------------------------


def test_without_a_bucket_photos_stay_in_the_private_folder(tmp_path):
    shown = read_settings(tmp_path)

    assert shown["photos"] == {"BACKEND": "plans.storage.PrivateFileSystemStorage"}


def test_a_bucket_is_read_with_its_endpoint_region_prefix_and_encryption(tmp_path):
    shown = read_settings(
        tmp_path,
        CLINIC_PHOTO_BUCKET="clinic-photos",
        CLINIC_PHOTO_S3_ENDPOINT_URL="http://minio.internal:9000",
        CLINIC_PHOTO_S3_REGION="us-east-1",
        CLINIC_PHOTO_S3_PREFIX="/clinic/production/",
        CLINIC_PHOTO_S3_ENCRYPTION="off",
    )

    assert shown["photos"] == {
        "BACKEND": "plans.storage.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": "clinic-photos",
            "endpoint_url": "http://minio.internal:9000",
            "region_name": "us-east-1",
            "location": "clinic/production",
            "object_parameters": {},
        },
    }
    assert shown["endpoint"] == "http://minio.internal:9000"
    assert shown["region"] == "us-east-1"


def test_a_bucket_alone_means_aws_with_encryption_under_a_clinic_prefix(tmp_path):
    shown = read_settings(tmp_path, CLINIC_PHOTO_BUCKET="clinic-photos")

    assert shown["photos"]["OPTIONS"] == {
        "bucket_name": "clinic-photos",
        "endpoint_url": None,
        "region_name": None,
        "location": "clinic",
        "object_parameters": {"ServerSideEncryption": "AES256"},
    }
    assert shown["endpoint"].startswith("https://")


def test_credentials_are_left_to_the_aws_environment_not_copied_into_settings(
    tmp_path,
):
    shown = read_settings(
        tmp_path,
        CLINIC_PHOTO_BUCKET="clinic-photos",
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="example-secret",
    )

    assert shown["aws_settings"] == []
    assert "example-secret" not in json.dumps(shown)


# The bucket ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_photos(tmp_path_factory) -> dict:
    """STORAGES["photos"] as settings.py builds it from the environment."""
    shown = read_settings(
        tmp_path_factory.mktemp("settings"),
        CLINIC_PHOTO_BUCKET=BUCKET,
        CLINIC_PHOTO_S3_REGION=REGION,
    )
    return shown["photos"]


@pytest.fixture
def s3(settings, tmp_path, s3_photos):
    settings.CLINIC_PRIVATE_MEDIA_ROOT = tmp_path / "private"
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        settings.STORAGES = {**settings.STORAGES, "photos": s3_photos}
        yield client


@pytest.fixture
def session(db, practitioner, patient, room):
    plan = make_plan(practitioner, patient=patient)
    return add_session(plan, clinic_time(2026, 11, 24, 10), room)


def add(session, by) -> Photo:
    return photos_service.add_photo(
        session=session,
        upload=upload(image_bytes(size=(900, 600))),
        moment=Photo.Moment.BEFORE,
        area="face",
        note="",
        by=by,
    )


def keys(s3) -> set[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET)
    return {item["Key"] for item in listed.get("Contents", [])}


def stored(s3, name: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=f"clinic/{name}")["Body"].read()


def test_a_photo_is_uploaded_to_the_bucket_under_the_prefix(
    s3, session, practitioner, tmp_path
):
    photo = add(session, practitioner.user)

    assert keys(s3) == {f"clinic/{photo.image.name}", f"clinic/{photo.thumbnail.name}"}
    assert photo.image.name.startswith("photos/")
    assert stored(s3, photo.image.name)[:3] == b"\xff\xd8\xff"
    head = s3.head_object(Bucket=BUCKET, Key=f"clinic/{photo.image.name}")
    assert head["ContentType"] == "image/jpeg"
    assert head["ServerSideEncryption"] == "AES256"
    assert not (tmp_path / "private").exists()


def test_the_photo_objects_are_private(s3, session, practitioner):
    photo = add(session, practitioner.user)

    for name in (photo.image.name, photo.thumbnail.name):
        acl = s3.get_object_acl(Bucket=BUCKET, Key=f"clinic/{name}")
        grantees = [grant["Grantee"] for grant in acl["Grants"]]
        assert [g.get("URI") for g in grantees if g.get("URI") in PUBLIC_GROUPS] == []
        assert [g["ID"] for g in grantees] == [acl["Owner"]["ID"]]


def test_a_practitioner_sees_the_photo_streamed_through_the_checked_view(
    client, s3, session, practitioner
):
    photo = add(session, practitioner.user)
    client.force_login(practitioner.user)

    for size, name in (("full", photo.image.name), ("thumb", photo.thumbnail.name)):
        response = client.get(reverse("plans:photo_file", args=[photo.pk, size]))

        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert response["Cache-Control"] == "private, no-store"
        assert response["Content-Length"] == str(len(stored(s3, name)))
        assert b"".join(response.streaming_content) == stored(s3, name)
    assert ClinicalAccess.objects.filter(object_id=photo.pk).count() == 2


def test_the_view_needs_no_local_path_to_the_file(s3, session, practitioner):
    photo = add(session, practitioner.user)

    with pytest.raises(NotImplementedError):
        private_storage.path(photo.image.name)


def test_the_front_desk_cant_open_a_photo_in_the_bucket(
    client, s3, session, practitioner, front_desk
):
    photo = add(session, practitioner.user)
    client.force_login(front_desk)

    response = client.get(reverse("plans:photo_file", args=[photo.pk, "full"]))

    assert response.status_code == 403
    assert not ClinicalAccess.objects.exists()


def test_a_photo_in_the_bucket_has_no_url(s3, session, practitioner):
    photo = add(session, practitioner.user)

    with pytest.raises(ValueError, match="no URL: use the photo view"):
        photo.image.url  # noqa: B018
    with pytest.raises(ValueError, match="no URL: use the photo view"):
        private_storage.url(photo.thumbnail.name)


def test_aws_settings_cant_make_the_bucket_public(settings, s3, session, practitioner):
    settings.AWS_DEFAULT_ACL = "public-read"
    settings.AWS_QUERYSTRING_AUTH = False
    settings.AWS_S3_FILE_OVERWRITE = True
    settings.AWS_S3_CUSTOM_DOMAIN = "photos.example.com"
    settings.STORAGES = {**settings.STORAGES}  # a fresh storage reads them again

    photo = add(session, practitioner.user)

    acl = s3.get_object_acl(Bucket=BUCKET, Key=f"clinic/{photo.image.name}")
    assert not any(g["Grantee"].get("URI") in PUBLIC_GROUPS for g in acl["Grants"])
    with pytest.raises(ValueError):
        photo.image.url  # noqa: B018
    first = private_storage.save("photos/same.jpg", ContentFile(b"first"))
    second = private_storage.save("photos/same.jpg", ContentFile(b"second"))
    assert first != second
    assert stored(s3, first) == b"first"


def test_a_missing_object_is_404(client, s3, session, practitioner):
    photo = add(session, practitioner.user)
    s3.delete_object(Bucket=BUCKET, Key=f"clinic/{photo.image.name}")
    client.force_login(practitioner.user)

    response = client.get(reverse("plans:photo_file", args=[photo.pk, "full"]))

    assert response.status_code == 404


def test_objects_are_removed_when_the_photo_row_cant_be_saved(
    s3, session, practitioner, monkeypatch
):
    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Photo, "save", broken_save)
    with pytest.raises(RuntimeError):
        add(session, practitioner.user)

    assert keys(s3) == set()


@pytest.mark.parametrize(
    ("endpoint", "warned"),
    [
        ("http://minio.internal:9000", True),
        ("https://s3.example.com", False),
        ("http://127.0.0.1:9000", False),
        (None, False),
    ],
)
def test_check_deploy_warns_of_a_bucket_reached_over_plain_http(
    settings, endpoint, warned
):
    settings.STORAGES = {
        **settings.STORAGES,
        "photos": {
            "BACKEND": "plans.storage.PrivateS3Storage",
            "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": endpoint},
        },
    }

    found = run_checks(include_deployment_checks=True, tags=[Tags.security])

    assert ("plans.W001" in [c.id for c in found]) is warned
