"""Clinical photos: adding, removing and serving them, and comparing a course's
before and after. Only roles with the photo permissions get in, and every
opening is written to the access log."""

from datetime import timedelta

from django.contrib import messages
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from clinic.models import Appointment, Area, ClinicalAccess
from clinic.roles import staff_name
from clinic.scheduling import when_text
from clinic.services import log_clinical_access
from clinic.views import form_errors_from, id_from, staff_view
from plans import photos as photos_service
from plans import records
from plans.forms import (
    PhotoForm,
    RemovePhotoForm,
)
from plans.models import (
    Photo,
    PhotoRemoval,
    TreatmentPlan,
)
from plans.services import PlanError
from plans.views.common import get_session, refused_photo_key

IMAGES_WITH_THEIR_PAGE = timedelta(minutes=5)


@staff_view("plans.add_photo")
@require_POST
def photo_upload(request: HttpRequest, session_pk: int) -> HttpResponse:
    session = get_session(session_pk)
    form = PhotoForm(
        request.POST, request.FILES, areas=records.treatable_areas(session)
    )
    refused: list[str] = []
    # The browser forgets the file a refused form sent: asked for again.
    choose_again = True
    if form.is_valid():
        try:
            photos_service.add_photo(
                session=session,
                upload=form.cleaned_data["image"],
                moment=form.cleaned_data["moment"],
                area=form.cleaned_data["area"],
                note=form.cleaned_data["note"],
                by=request.user,
            )
        except photos_service.SamePhotoTwice as error:
            refused = list(error.messages)
            choose_again = False
        except PlanError as error:
            refused = list(error.messages)
        else:
            messages.success(request, _("Photo added."))
    else:
        # No file chosen at all: nothing to choose "again".
        choose_again = "image" not in form.errors or bool(request.FILES)
        # Said beside the photo form: which field each is for.
        for name, errors in form.errors.items():
            field = form.fields.get(name)
            refused += [f"{field.label}: {e}" if field else e for e in errors]
    url = reverse("plans:record", kwargs={"session_pk": session.pk})
    if not refused:
        return redirect(url)
    # The record page shows the photo form again with what was typed (the file
    # itself can't be given back to the browser) and why it was refused.
    request.session[refused_photo_key(session.pk)] = {
        "typed": {
            name: request.POST.get(name, "")[:2000]
            for name in ("moment", "area", "note")
        },
        "refused": refused,
        "choose_again": choose_again,
    }
    # No #add-photo: the page's script brings the refusal into view and
    # focuses it, which a jump to the anchor after it would undo.
    return redirect(url)


# Removing is amending: practitioners only.
@staff_view("plans.sign_sessionrecord")
def photo_remove(request: HttpRequest, pk: int) -> HttpResponse:
    photo = (
        Photo.objects.select_related("session__plan__patient", "uploaded_by")
        .filter(pk=pk)
        .first()
    )
    if photo is None:
        return _removed_already(request, pk)
    session = photo.session
    form = RemovePhotoForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            photos_service.remove_photo(
                photo=photo, reason=form.cleaned_data["reason"], by=request.user
            )
        except PlanError as error:
            form_errors_from(error, form)
        else:
            messages.success(request, _("Photo removed."))
            return redirect("plans:record", session_pk=session.pk)
    log_clinical_access(
        user=request.user,
        patient=session.plan.patient,
        what="photo (remove)",
        object_id=photo.pk,
    )
    return render(
        request,
        "plans/photo_remove.html",
        {"photo": photo, "session": session, "plan": session.plan, "form": form},
    )


def _removed_already(request: HttpRequest, pk: int) -> HttpResponse:
    """A photo removed meanwhile (by a colleague, or a second click): say so on
    its session's record, rather than a bare "not found"."""
    removal = PhotoRemoval.objects.select_related("by").filter(photo_id=pk).last()
    if removal is None:
        raise Http404
    messages.info(
        request,
        _("This photo was removed already, by %(who)s on %(when)s.")
        % {
            "who": staff_name(removal.by),
            "when": when_text(removal.at),
        },
    )
    return redirect("plans:record", session_pk=removal.session_id)


@staff_view("plans.view_photo")
@require_safe
def photo_file(request: HttpRequest, pk: int, size: str) -> FileResponse:
    photo = get_object_or_404(
        Photo.objects.select_related("session__plan__patient"), pk=pk
    )
    if size not in ("full", "thumb"):
        raise Http404
    patient = photo.session.plan.patient
    # The images a page shows (marked in=page) come with that page's line in
    # the log, when it was just written for a page that shows this photo; any
    # other opening gets its own.
    shown_by = (
        Q(what__startswith="session record", object_id=photo.session_id)
        | Q(what=_comparison(photo.area), object_id=photo.session.plan_id)
        # The photo itself, just opened.
        | Q(what__startswith="photo (", object_id=photo.pk)
    )
    in_page = request.GET.get("in") == "page"
    if not (
        in_page
        and ClinicalAccess.objects.filter(
            shown_by,
            user=request.user,
            patient=patient,
            at__gte=timezone.now() - IMAGES_WITH_THEIR_PAGE,
        ).exists()
    ):
        log_clinical_access(
            user=request.user,
            patient=patient,
            what=f"photo ({size})",
            object_id=photo.pk,
        )
    field = photo.image if size == "full" else photo.thumbnail
    try:
        handle = field.open("rb")
    except FileNotFoundError as exc:
        raise Http404(_("The photo file is missing.")) from exc
    response = FileResponse(handle, content_type="image/jpeg")
    # Opened on its own, the browser shows the image with a page of its own
    # (inline styles): an image needs nothing else.
    response["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
        "frame-ancestors 'none'"
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@staff_view("plans.view_photo")
@require_safe
def compare(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_object_or_404(TreatmentPlan.objects.select_related("patient"), pk=pk)
    photos = sorted(
        Photo.objects.filter(session__plan=plan).select_related("session__appointment"),
        key=lambda p: (
            p.session.appointment.start,
            p.moment != Photo.Moment.BEFORE,
            p.uploaded_at,
        ),
    )
    areas_with_photos = [a for a in Area if any(p.area == a for p in photos)]
    area = request.GET.get("area")
    if area not in {a.value for a in areas_with_photos}:
        area = areas_with_photos[0].value if areas_with_photos else None
    in_area = [p for p in photos if p.area == area]
    by_id = {p.pk: p for p in in_area}
    left, right = photos_service.comparison_defaults(in_area)
    left = by_id.get(id_from(request.GET.get("left")), left)
    right = by_id.get(id_from(request.GET.get("right")), right)
    log_clinical_access(
        user=request.user,
        patient=plan.patient,
        what=_comparison(area),
        object_id=plan.pk,
    )
    # Session numbers count the sessions that took place, in date order.
    done = plan.sessions.filter(
        appointment__status=Appointment.Status.COMPLETED
    ).order_by("appointment__start")
    numbers = {pk: n for n, pk in enumerate(done.values_list("pk", flat=True), 1)}
    for photo in in_area:
        photo.number = numbers.get(photo.session_id)
    return render(
        request,
        "plans/compare.html",
        {
            "plan": plan,
            "area": area,
            "areas": areas_with_photos,
            "left": left,
            "right": right,
            "strip": in_area,
        },
    )


def _comparison(area: str | None) -> str:
    """The log's line for a comparison page, which shows one area's photos."""
    label = Area(area).label if area in Area.values else "no photos"
    return f"photo comparison ({label})"
