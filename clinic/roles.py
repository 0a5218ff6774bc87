"""Staff roles are Django groups; these names and grants are the single source.

Data migrations call ``grant()`` so that each app adds the permissions of its own
models to the roles when its tables are created.
"""

from django.contrib.auth.models import AbstractBaseUser

FRONT_DESK = "Front desk"
PRACTITIONER = "Practitioner"
MANAGER = "Manager"
ROLES = (FRONT_DESK, PRACTITIONER, MANAGER)


def grant(apps, role: str, app_label: str, codenames: list[str]) -> None:
    """Add permissions to a role's group, creating both as needed (migrations)."""
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config(app_label)
    # Permissions are normally created after all migrations ran; make sure they
    # exist now so the grant below can find them.
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=role)
    permissions = Permission.objects.filter(
        content_type__app_label=app_label, codename__in=codenames
    )
    missing = set(codenames) - set(permissions.values_list("codename", flat=True))
    if missing:
        raise LookupError(f"Unknown {app_label} permissions: {sorted(missing)}")
    group.permissions.add(*permissions)


def revoke(apps, role: str, app_label: str, codenames: list[str]) -> None:
    """Take permissions away from a role's group (migrations)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=role).first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label=app_label, codename__in=codenames
            )
        )


def user_roles(user: AbstractBaseUser) -> set[str]:
    if not user.is_authenticated:
        return set()
    if not hasattr(user, "_clinic_roles"):
        user._clinic_roles = set(user.groups.values_list("name", flat=True))
    return user._clinic_roles


def has_role(user: AbstractBaseUser, role: str) -> bool:
    return role in user_roles(user) or (role == MANAGER and user.is_superuser)


def staff_name(user: AbstractBaseUser) -> str:
    """A colleague as pages name them: as a practitioner ("Dr Priya Patel"),
    else by their full name or username."""
    practitioner = getattr(user, "practitioner", None)
    return str(practitioner) if practitioner else user.get_full_name() or str(user)


def is_practitioner(user: AbstractBaseUser) -> bool:
    """Someone who treats patients (an active practitioner of the clinic): who
    decides a consultation and signs, amends and removes photos from a record.
    A role or a superuser's rights alone are not enough."""
    from clinic.models import Practitioner

    if not user.is_authenticated:
        return False
    return Practitioner.objects.filter(user=user, is_active=True).exists()
