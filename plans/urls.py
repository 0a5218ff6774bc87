from django.urls import path

from plans.views import photos, plan, records, series, sessions, work

app_name = "plans"

urlpatterns = [
    path("work/", work.work_lists, name="work"),
    path("today/", records.my_day, name="my_day"),
    path("new/<int:consultation_pk>/", plan.plan_create, name="create"),
    path("<int:pk>/", plan.plan_detail, name="detail"),
    path("<int:pk>/book/", series.plan_book, name="book"),
    path("<int:pk>/consent/", plan.plan_consent, name="consent"),
    path("<int:pk>/extend/", plan.plan_extend, name="extend"),
    path("<int:pk>/cancel/", plan.plan_cancel, name="cancel"),
    path("<int:pk>/complete/", plan.plan_complete, name="complete"),
    path("sessions/<int:pk>/move/", sessions.session_move, name="session_move"),
    path("sessions/<int:pk>/change/", sessions.session_change, name="session_change"),
    path("sessions/<int:pk>/cancel/", sessions.session_cancel, name="session_cancel"),
    path(
        "sessions/<int:pk>/no-show/", sessions.session_no_show, name="session_no_show"
    ),
    path("sessions/<int:session_pk>/record/", records.record, name="record"),
    path(
        "sessions/<int:session_pk>/record/amend/",
        records.record_amend,
        name="record_amend",
    ),
    path("sessions/<int:session_pk>/photos/", photos.photo_upload, name="photo_upload"),
    # Before photo_file, whose <str:size> would take "remove".
    path("photos/<int:pk>/remove/", photos.photo_remove, name="photo_remove"),
    path("photos/<int:pk>/<str:size>/", photos.photo_file, name="photo_file"),
    path("<int:pk>/compare/", photos.compare, name="compare"),
]
