"""Where clinical photos live: outside any public URL.

Files are only ever read by the permission-checked photo view, which streams them;
the storage refuses to build a URL, so no template can link to a file directly.

``settings.STORAGES["photos"]`` chooses the storage: a folder on this machine
(CLINIC_PRIVATE_MEDIA_ROOT, default var/private/) or, for several machines, a
private S3-compatible bucket (CLINIC_PHOTO_BUCKET).
"""

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, cached_property, empty
from storages.backends.s3 import S3Storage

PHOTOS = "photos"


class NoURLMixin:
    def url(self, name: str | None, *args: object, **kwargs: object) -> str:
        raise ValueError("Clinical photos have no URL: use the photo view.")


class PrivateFileSystemStorage(NoURLMixin, FileSystemStorage):
    """A folder: ``location`` if given, else CLINIC_PRIVATE_MEDIA_ROOT. Files and
    folders are the app's own user's only: other accounts on the machine can't
    read clinical photos."""

    @cached_property
    def file_permissions_mode(self) -> int:
        return 0o600

    @cached_property
    def directory_permissions_mode(self) -> int:
        return 0o700

    @cached_property
    def base_location(self) -> str:
        return self._value_or_setting(
            self._location, settings.CLINIC_PRIVATE_MEDIA_ROOT
        )

    def _clear_cached_properties(self, setting: str, **kwargs: object) -> None:
        super()._clear_cached_properties(setting, **kwargs)
        # Tests point the folder elsewhere with override_settings / the settings
        # fixture, as Django's own storage follows MEDIA_ROOT.
        if setting == "CLINIC_PRIVATE_MEDIA_ROOT":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)


class PrivateS3Storage(NoURLMixin, S3Storage):
    """A private bucket. Settings give the bucket, endpoint, region, prefix and
    encryption; what keeps the photos private is fixed here, so that no AWS_*
    setting can loosen it."""

    # No ACL is sent: objects are private to the bucket's owner anyway, and
    # buckets with ACLs disabled (the default on AWS since 2023) refuse them.
    default_acl = None
    querystring_auth = True
    custom_domain = None
    # Names are random; never replace an existing object.
    file_overwrite = False
    gzip = False


class PrivateStorage(LazyObject):
    """The photos storage, looked up again when STORAGES changes (as Django's
    ``default_storage``): a model field keeps the object it was given."""

    def _setup(self) -> None:
        self._wrapped = storages[PHOTOS]


private_storage = PrivateStorage()


@receiver(setting_changed)
def _follow_setting(*, setting: str, **kwargs: object) -> None:
    if setting == "STORAGES":
        private_storage._wrapped = empty


def get_private_storage() -> PrivateStorage:
    """For model fields: a callable keeps the storage out of the migrations."""
    return private_storage
