"""The clinic's settings in Django's admin, one module per area; importing
this package registers them all."""

from django.contrib import admin

from clinic.admin import accounts, calendar, patients, signin
from clinic.admin.calendar import PractitionerForm, check_hours_change

admin.site.site_header = "Clinic settings"
admin.site.site_title = "Clinic settings"
admin.site.index_title = "Configure the clinic"
# The settings are also opened on the front desk's tablet: the lists and the
# practitioner's rows need the width the side menu takes (the breadcrumbs and
# the settings' home page lead everywhere it does).
admin.site.enable_nav_sidebar = False

__all__ = [
    "PractitionerForm",
    "accounts",
    "calendar",
    "check_hours_change",
    "patients",
    "signin",
]
