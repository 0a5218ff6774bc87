from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class PlansConfig(AppConfig):
    name = "plans"
    verbose_name = gettext_lazy("Treatment plans, protocols and products")

    def ready(self) -> None:
        from plans import checks  # noqa: F401 - registers the deployment checks
