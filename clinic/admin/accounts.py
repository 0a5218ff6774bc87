"""Staff accounts: roles given by managers, passwords set by their owners."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import ReadOnlyPasswordHashWidget, UserCreationForm
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinic import roles
from clinic.admin.calendar import StillBookedForm
from clinic.admin.stale import ShowsSavedValues
from clinic.forms import clean_person_name
from clinic.models import Practitioner, validate_person_name

admin.site.unregister(User)

PASSWORD_SET_ELSEWHERE = (
    "Only the account's owner, or a superuser, can set this password."
)


LAST_MANAGER = gettext_lazy(
    "This is the clinic's only active account with the Manager role: without "
    "one nobody could open Settings again. Give another account the Manager "
    "role first."
)


OWN_MANAGER_ROLE = gettext_lazy(
    "You can't take away your own Manager role or deactivate your own account: "
    "Settings would close to you as you save. Another manager does it."
)


def is_last_manager(account: User) -> bool:
    """The account is the only active one that can open Settings."""
    if not (account.pk and account.is_active):
        return False
    if not (account.is_superuser or account.groups.filter(name=roles.MANAGER).exists()):
        return False
    if transaction.get_connection().in_atomic_block:
        # Two managers taking each other's role at once take turns: the second
        # then sees the first's change (the admin saves in a transaction).
        list(User.objects.select_for_update().filter(is_active=True).values("pk"))
    others = User.objects.filter(is_active=True).exclude(pk=account.pk)
    return not (
        others.filter(is_superuser=True).exists()
        or others.filter(groups__name=roles.MANAGER).exists()
    )


def may_set_password(user, account: User) -> bool:
    # Whoever knows someone's password signs records or books in their name,
    # and roles can be switched back and forth: managers set only their own.
    # A new account gets its first password on the add form.
    return user.is_superuser or account.pk == user.pk


class PasswordSetElsewhereWidget(ReadOnlyPasswordHashWidget):
    """The password field without its reset button, which would lead to a
    refusal."""

    def render(self, name, value, attrs=None, renderer=None) -> str:
        return format_html("<p>{}</p>", PASSWORD_SET_ELSEWHERE)


class ReadableNames:
    """Form mixin: names staff see on every page, emails and signed records,
    readable, as patients' are; required where the form requires them."""

    def _clean_name(self, field: str) -> str:
        name = clean_person_name(self.cleaned_data.get(field) or "")
        if self.fields[field].required and not name:
            raise forms.ValidationError(
                _("Give the name staff and patients will read.")
            )
        if name:
            validate_person_name(name)
        return name

    def clean_first_name(self) -> str:
        return self._clean_name("first_name")

    def clean_last_name(self) -> str:
        return self._clean_name("last_name")


ROLES_HELP = gettext_lazy(
    "What the account opens. A practitioner also needs a Practitioner entry "
    "(Settings → Practitioners) with their working hours before anything can be "
    "booked with them."
)


class StaffAccountCreationForm(ReadableNames, UserCreationForm):
    """A new account with the name staff and patients will read, and its role:
    without a role it opens nothing, and a name left for later shows as the
    username on calendars and in patients' emails."""

    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.filter(name__in=roles.ROLES).order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Roles"),
        help_text=ROLES_HELP,
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "first_name", "last_name", "email", "groups")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("first_name", "last_name"):
            self.fields[name].required = True


@admin.register(User)
class StaffAccountAdmin(ShowsSavedValues, UserAdmin):
    """Managers run staff accounts through the roles (groups) only: who is a
    superuser, and permissions outside the roles, stay with superusers, and a
    manager can't take over a superuser's account."""

    # What the app records of an account, not what a manager says of it.
    readonly_fields = ("last_login", "date_joined")
    # A new account gets its first password here: without the admin's "no
    # password" choice, which would leave one nobody but a superuser could open.
    add_form = StaffAccountCreationForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "first_name",
                    "last_name",
                    "email",
                    "groups",
                    "password1",
                    "password2",
                ),
            },
        ),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        # Staff status follows the Manager role (save_related): a tick of its
        # own would open the admin's view of every patient to any account.
        hidden = {"is_staff"}
        if not request.user.is_superuser:
            hidden |= {"is_superuser", "user_permissions"}
        return [
            (
                name,
                {
                    **options,
                    "fields": [f for f in options["fields"] if f not in hidden],
                },
            )
            for name, options in fieldsets
        ]

    def get_list_filter(self, request):
        if request.user.is_superuser:
            return super().get_list_filter(request)
        return ("is_staff", "is_active", "groups")

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        account = self.get_object(request, unquote(id))
        if account is not None and not may_set_password(request.user, account):
            raise PermissionDenied(PASSWORD_SET_ELSEWHERE)
        return super().user_change_password(request, id, form_url)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            return form

        class StaffAccountForm(ReadableNames, form):
            def clean_username(self) -> str:
                username = self.cleaned_data["username"]
                others = User.objects.exclude(pk=self.instance.pk)
                if others.filter(username=username).exists():
                    raise forms.ValidationError(_("Another account has this username."))
                if others.filter(username__iexact=username).exists():
                    raise forms.ValidationError(
                        _("Another account has this username in other letters.")
                    )
                return username

            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                password = self.fields.get("password")
                if password and not may_set_password(request.user, obj):
                    password.widget = PasswordSetElsewhereWidget()
                    password.help_text = ""
                # Said as on the add form, not Django's "groups" and its
                # "hold down Control" list.
                groups = self.fields.get("groups")
                if groups is not None:
                    groups.label = gettext_lazy("Roles")
                    groups.help_text = ROLES_HELP
                    groups.widget = forms.CheckboxSelectMultiple(choices=groups.choices)

            def clean_is_active(self) -> bool:
                active = self.cleaned_data["is_active"]
                practitioner = Practitioner.objects.filter(user=self.instance).first()
                if not active and self.instance.is_active and practitioner:
                    StillBookedForm.refuse_if_booked(practitioner, "practitioner")
                return active

            def clean(self):
                data = super().clean()
                groups = data.get("groups")
                stays_manager = data.get("is_active", self.instance.is_active) and (
                    data.get("is_superuser", self.instance.is_superuser)
                    or (
                        groups is not None
                        and any(group.name == roles.MANAGER for group in groups)
                    )
                )
                if not stays_manager and is_last_manager(self.instance):
                    raise forms.ValidationError(LAST_MANAGER)
                if not stays_manager and self.instance.pk == request.user.pk:
                    raise forms.ValidationError(OWN_MANAGER_ROLE)
                return data

            def clean_groups(self):
                # Without the role they lose their day and their records while
                # patients are still booked with them.
                groups = self.cleaned_data.get("groups")
                practitioner = Practitioner.objects.filter(user=self.instance).first()
                keeps_role = groups is not None and any(
                    group.name == roles.PRACTITIONER for group in groups
                )
                had_role = self.instance.groups.filter(name=roles.PRACTITIONER)
                if practitioner and had_role.exists() and not keeps_role:
                    StillBookedForm.refuse_if_booked(practitioner, "practitioner")
                return groups

        return StaffAccountForm

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        if obj is not None and is_last_manager(obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # Accounts are deleted one at a time, where the page can refuse the
        # last manager's.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        account = form.instance
        account_roles = set(account.groups.values_list("name", flat=True))
        # Settings open to managers: giving the role opens them, without a
        # separate tick that is easy to forget; taking it away closes them.
        staff = account.is_superuser or roles.MANAGER in account_roles
        if account.is_staff != staff:
            account.is_staff = staff
            account.save(update_fields=["is_staff"])
        # Without the role (or the account) nobody could record what is booked
        # with them: the practitioner stops taking bookings.
        practitioner = Practitioner.objects.filter(user=account, is_active=True)
        if (
            not account.is_active or roles.PRACTITIONER not in account_roles
        ) and practitioner.update(is_active=False):
            self.message_user(
                request,
                _(
                    "%(name)s no longer takes bookings: their account has no "
                    "Practitioner role or is inactive."
                )
                % {"name": account.get_full_name() or account.get_username()},
                messages.WARNING,
            )
        elif (
            account.is_active
            and roles.PRACTITIONER in account_roles
            and {"is_active", "groups"} & set(form.changed_data)
        ):
            # Given back the account or the role: bookings wait for a manager's
            # tick, which is easy to miss on another page.
            resting = Practitioner.objects.filter(user=account, is_active=False)
            if resting.exists():
                self.message_user(
                    request,
                    format_html(
                        _(
                            "{name} doesn't take bookings yet: tick "
                            '"Takes bookings" on <a href="{url}">their '
                            "practitioner page</a> when they should."
                        ),
                        name=account.get_full_name() or account.get_username(),
                        url=reverse(
                            "admin:clinic_practitioner_change",
                            args=[resting.values_list("pk", flat=True)[0]],
                        ),
                    ),
                    messages.WARNING,
                )
