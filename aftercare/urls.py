from django.urls import path

from aftercare import views

app_name = "aftercare"

urlpatterns = [
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:pk>/", views.preview, name="preview"),
    path("outbox/<int:pk>/resend/", views.resend, name="resend"),
    path("outbox/<int:pk>/copy/", views.send_copy, name="copy"),
    path("outbox/<int:pk>/cancel/", views.cancel, name="cancel"),
    # Where a preview's unsubscribe link leads (before the patients' own links).
    path(
        "unsubscribe/preview/",
        views.unsubscribe_preview,
        name="unsubscribe_preview",
    ),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
