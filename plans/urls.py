from django.urls import path

from plans import views

app_name = "plans"

urlpatterns = [
    path("work/", views.work_lists, name="work"),
    path("new/<int:consultation_pk>/", views.plan_create, name="create"),
    path("<int:pk>/", views.plan_detail, name="detail"),
    path("<int:pk>/book/", views.plan_book, name="book"),
    path("<int:pk>/consent/", views.plan_consent, name="consent"),
    path("<int:pk>/extend/", views.plan_extend, name="extend"),
    path("<int:pk>/cancel/", views.plan_cancel, name="cancel"),
    path("<int:pk>/complete/", views.plan_complete, name="complete"),
    path("sessions/<int:pk>/move/", views.session_move, name="session_move"),
    path("sessions/<int:pk>/change/", views.session_change, name="session_change"),
    path("sessions/<int:pk>/cancel/", views.session_cancel, name="session_cancel"),
    path("sessions/<int:pk>/no-show/", views.session_no_show, name="session_no_show"),
]
