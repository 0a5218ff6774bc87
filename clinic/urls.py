from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from clinic.views import (
    accounts,
    appointments,
    calendar,
    consultations,
    dashboard,
    patients,
    system,
)

clinic_patterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("patients/", patients.patient_list, name="patient_list"),
    path("patients/new/", patients.patient_create, name="patient_create"),
    path("patients/<int:pk>/", patients.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", patients.patient_edit, name="patient_edit"),
    path(
        "patients/<int:patient_pk>/book/",
        appointments.appointment_book,
        name="appointment_book",
    ),
    path(
        "appointments/<int:pk>/",
        appointments.appointment_detail,
        name="appointment_detail",
    ),
    path(
        "appointments/<int:pk>/reschedule/",
        appointments.appointment_reschedule,
        name="appointment_reschedule",
    ),
    path(
        "appointments/<int:pk>/cancel/",
        appointments.appointment_cancel,
        name="appointment_cancel",
    ),
    path(
        "appointments/<int:pk>/check-in/",
        appointments.appointment_check_in,
        name="appointment_check_in",
    ),
    path(
        "appointments/<int:pk>/no-show/",
        appointments.appointment_no_show,
        name="appointment_no_show",
    ),
    path(
        "appointments/<int:pk>/undo-check-in/",
        appointments.appointment_undo_check_in,
        name="appointment_undo_check_in",
    ),
    path(
        "appointments/<int:pk>/undo-no-show/",
        appointments.appointment_undo_no_show,
        name="appointment_undo_no_show",
    ),
    path(
        "appointments/<int:appointment_pk>/consultation/",
        consultations.consultation_record,
        name="consultation_record",
    ),
    path(
        "consultations/<int:pk>/",
        consultations.consultation_detail,
        name="consultation_detail",
    ),
    path("access-log/", consultations.access_log, name="access_log"),
    path("calendar/", calendar.calendar, name="calendar"),
    path("calendar/day/", calendar.calendar_day, name="calendar_day"),
    path("calendar/week/", calendar.calendar_week, name="calendar_week"),
]

urlpatterns = [
    path("", include((clinic_patterns, "clinic"))),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        accounts.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("plans/", include("plans.urls")),
    path("emails/", include("aftercare.urls")),
    path("healthz", system.healthz, name="healthz"),
    path("favicon.ico", system.favicon),
    # The settings' own "Change password" link: the same page, with the same
    # limit on guesses at the current password.
    path(
        "admin/password_change/",
        accounts.PasswordChangeView.as_view(),
        name="admin_password_change",
    ),
    path("admin/", admin.site.urls),
]
