from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from clinic import views

clinic_patterns = [
    path("", views.dashboard, name="dashboard"),
    path("patients/", views.patient_list, name="patient_list"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path("patients/<int:pk>/", views.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="patient_edit"),
    path(
        "patients/<int:patient_pk>/book/",
        views.appointment_book,
        name="appointment_book",
    ),
    path("appointments/<int:pk>/", views.appointment_detail, name="appointment_detail"),
    path(
        "appointments/<int:pk>/reschedule/",
        views.appointment_reschedule,
        name="appointment_reschedule",
    ),
    path(
        "appointments/<int:pk>/cancel/",
        views.appointment_cancel,
        name="appointment_cancel",
    ),
    path(
        "appointments/<int:pk>/check-in/",
        views.appointment_check_in,
        name="appointment_check_in",
    ),
    path(
        "appointments/<int:pk>/no-show/",
        views.appointment_no_show,
        name="appointment_no_show",
    ),
    path(
        "appointments/<int:appointment_pk>/consultation/",
        views.consultation_record,
        name="consultation_record",
    ),
    path(
        "consultations/<int:pk>/",
        views.consultation_detail,
        name="consultation_detail",
    ),
    path("access-log/", views.access_log, name="access_log"),
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/day/", views.calendar_day, name="calendar_day"),
    path("calendar/week/", views.calendar_week, name="calendar_week"),
]

urlpatterns = [
    path("", include((clinic_patterns, "clinic"))),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("plans/", include("plans.urls")),
    path("emails/", include("aftercare.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("admin/", admin.site.urls),
]
