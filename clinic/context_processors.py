from django.conf import settings
from django.http import HttpRequest

from clinic import roles


def clinic(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "is_front_desk": bool(user) and roles.has_role(user, roles.FRONT_DESK),
        "is_practitioner": bool(user) and roles.has_role(user, roles.PRACTITIONER),
        "is_manager": bool(user) and roles.has_role(user, roles.MANAGER),
    }
