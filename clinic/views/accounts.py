"""A member of staff's own account: changing their password."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.utils.translation import gettext as _

# Counted per session: the guesses at the current password from this sign-in.
WRONG_CURRENT = "clinic_wrong_current_passwords"


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's, with as many guesses at the current password as sign-in has:
    someone at an unlocked desk can't try password after password (sign-in
    itself is then paused after as many wrong tries)."""

    def form_invalid(self, form):
        if form.has_error("old_password"):
            wrong = self.request.session.get(WRONG_CURRENT, 0) + 1
            self.request.session[WRONG_CURRENT] = wrong
            if wrong >= settings.AXES_FAILURE_LIMIT:
                logout(self.request)
                messages.error(
                    self.request,
                    _(
                        "The current password was wrong %(n)s times: you are "
                        "signed out. Sign in again to change it."
                    )
                    % {"n": wrong},
                )
                return redirect(settings.LOGIN_URL)
        return super().form_invalid(form)

    def form_valid(self, form):
        self.request.session.pop(WRONG_CURRENT, None)
        return super().form_valid(form)
