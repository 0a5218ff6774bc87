from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class AftercareConfig(AppConfig):
    name = "aftercare"
    verbose_name = gettext_lazy("Patient emails")
