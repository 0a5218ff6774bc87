"""The clinic's own check on new passwords, beside Django's (settings'
AUTH_PASSWORD_VALIDATORS)."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class VariedPasswordValidator:
    """A few characters repeated ("aaaaaaaaaaaa", "abababab") are guessed at
    once however long they run: a password needs several different ones."""

    def __init__(self, fewest: int = 4) -> None:
        self.fewest = fewest

    def validate(self, password: str, user=None) -> None:
        if len(set(password)) < self.fewest:
            raise ValidationError(
                _(
                    "This password uses too few different characters: use at "
                    "least %(fewest)d."
                ),
                code="password_too_repetitive",
                params={"fewest": self.fewest},
            )

    def get_help_text(self) -> str:
        return _("Your password must use at least %(fewest)d different characters.") % {
            "fewest": self.fewest
        }
