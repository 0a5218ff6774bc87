"""Where clinical photos live: outside any public URL.

Files are only ever read by the permission-checked photo view, which streams them;
``base_url`` is unset so nothing can build a direct link. Configure the folder with
CLINIC_PRIVATE_MEDIA_ROOT (default: var/private/).
"""

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty


class PrivateStorage(LazyObject):
    def _setup(self) -> None:
        self._wrapped = FileSystemStorage(
            location=settings.CLINIC_PRIVATE_MEDIA_ROOT, base_url=None
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
