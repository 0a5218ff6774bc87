from django.apps import AppConfig


class PlansConfig(AppConfig):
    name = "plans"

    def ready(self) -> None:
        from plans import checks  # noqa: F401 - registers the deployment checks
