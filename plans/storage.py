"""Where clinical photos live: outside any public URL.

Files are only ever read by the permission-checked photo view, which streams them;
the storage refuses to build a URL, so no template can link to a file directly.
Configure the folder with CLINIC_PRIVATE_MEDIA_ROOT (default: var/private/).
"""

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty


class PrivateFileSystemStorage(FileSystemStorage):
    def url(self, name: str | None) -> str:
        raise ValueError("Clinical photos have no URL: use the photo view.")


class PrivateStorage(LazyObject):
    def _setup(self) -> None:
        self._wrapped = PrivateFileSystemStorage(
            location=settings.CLINIC_PRIVATE_MEDIA_ROOT
        )


private_storage = PrivateStorage()


@receiver(setting_changed)
def _follow_setting(*, setting: str, **kwargs) -> None:
    # Tests point the folder elsewhere with override_settings / the settings fixture.
    if setting == "CLINIC_PRIVATE_MEDIA_ROOT":
        private_storage._wrapped = empty


def get_private_storage() -> PrivateStorage:
    """For model fields: a callable keeps the folder out of the migrations."""
    return private_storage
