from axes.apps import AppConfig as AxesConfig
from django.apps import AppConfig
from django.contrib.auth.apps import AuthConfig
from django.utils.translation import gettext_lazy


class ClinicConfig(AppConfig):
    # The app's own, among the configurations this module holds.
    default = True
    name = "clinic"
    verbose_name = gettext_lazy("Patients, staff, rooms and hours")

    def ready(self) -> None:
        from clinic import checks  # noqa: F401 - registers the system checks

        _choice_errors_without_the_value()


class SignInPausesConfig(AxesConfig):
    """django-axes (sign-in throttling), headed as the clinic's settings and
    pages call it rather than by the package's name."""

    verbose_name = gettext_lazy("Sign-in pauses")


class StaffAccountsConfig(AuthConfig):
    """Django's accounts and groups, headed as the manager's Today page calls
    them rather than "Authentication and authorization"."""

    verbose_name = gettext_lazy("Staff accounts and roles")


def _choice_errors_without_the_value() -> None:
    """A choice no list offers comes from a changed form, not a slip: Django's
    messages repeat the value sent, which can be thousands of characters on
    the page. Ours say what is wrong without it, on every form and the admin."""
    from django import forms
    from django.utils.translation import gettext_lazy as _

    invalid = _("Pick one of the choices offered: that one is not among them.")
    for field in (
        forms.ChoiceField,
        forms.MultipleChoiceField,
        forms.ModelChoiceField,
        forms.ModelMultipleChoiceField,
    ):
        field.default_error_messages = {
            **field.default_error_messages,
            "invalid_choice": invalid,
        }
    forms.ModelMultipleChoiceField.default_error_messages["invalid_pk_value"] = invalid
