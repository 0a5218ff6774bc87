from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import (
    require_http_methods,
    require_POST,
    require_safe,
)

from aftercare import emails, services
from aftercare.models import Kind, Reminder
from clinic.forms import DateInput
from clinic.models import ClinicalAccess, Patient, local_midnight
from clinic.scheduling import when_text
from clinic.services.consultations import log_clinical_access
from clinic.views import safe_next, staff_view


def patient_messages_panel(request: HttpRequest, patient: Patient) -> str:
    """The emails section of the patient page (see CLINIC_PATIENT_PANELS)."""
    if not request.user.has_perm("aftercare.view_reminder"):
        return ""
    # What the patient was sent and will be, first; the emails a change
    # replaced or made needless, folded beneath.
    reminders = services.timeline(patient)
    not_sent = (Reminder.Status.CANCELLED, Reminder.Status.SKIPPED)
    return render_to_string(
        "aftercare/_patient_panel.html",
        {
            "patient": patient,
            "reminders": [r for r in reminders if r.status not in not_sent],
            "not_sent": [r for r in reminders if r.status in not_sent],
            "can_resend": request.user.has_perm("aftercare.resend_reminder"),
        },
        request=request,
    )


def late_emails_notice(request: HttpRequest) -> str:
    """For the Today page (settings.CLINIC_TODAY_NOTICES): emails that should
    have gone out by now, to those who look after them (front desk, managers)."""
    if not request.user.has_perm("aftercare.resend_reminder"):
        return ""
    return render_to_string(
        "aftercare/_late.html",
        {
            "late": services.late_emails(timezone.now()),
            "to_check": services.emails_to_check(),
            "show_link": True,
        },
        request=request,
    )


AHEAD, ANY_TIME = "ahead", "any"


class OutboxFilter(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", gettext_lazy("Any status")), *Reminder.Status.choices],
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    kind = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Email"),
        choices=[("", gettext_lazy("Any email")), *Kind.choices],
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    day = forms.DateField(
        required=False,
        widget=DateInput(attrs={"class": "form-control form-control-sm"}),
        label=gettext_lazy("Due on"),
    )
    # The page opens on what went out (or should have) most recently; what is
    # still to come is listed soonest first.
    when = forms.ChoiceField(
        required=False,
        label=gettext_lazy("When"),
        choices=[
            ("", gettext_lazy("Due by now")),
            (AHEAD, gettext_lazy("To come")),
            (ANY_TIME, gettext_lazy("Any time")),
        ],
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )

    def clean_day(self) -> date | None:
        day = self.cleaned_data["day"]
        # The filter runs from the day's midnight to the next in the clinic's
        # zone, which the first and last days of the calendar don't have in UTC.
        if day is not None and day >= date.max - timedelta(days=1):
            raise forms.ValidationError(_("Pick an earlier day."))
        if day is not None and day <= date.min + timedelta(days=1):
            raise forms.ValidationError(_("Pick a later day."))
        return day


@staff_view("aftercare.view_reminder")
@require_safe
def outbox(request: HttpRequest) -> HttpResponse:
    asked = request.GET.copy()
    if (
        asked.get("day")
        and not asked.get("when")
        and OutboxFilter({"day": asked["day"]}).is_valid()
    ):
        # A day is shown whole, whichever side of now it lies, and the form
        # says so rather than "due by now". One that is no date is said to be
        # wrong, over the list as it opens.
        asked["when"] = ANY_TIME
    form = OutboxFilter(asked)
    reminders = services.with_held(
        Reminder.objects.select_related("patient", "appointment")
    )
    # A bad value is shown as an error next to its field; the good ones filter.
    form.is_valid()
    data = form.cleaned_data
    now = timezone.now()
    when = data.get("when")
    if when == AHEAD:
        reminders = reminders.filter(due_at__gt=now).order_by("due_at", "id")
        if not data.get("status"):
            # What will go out (or is held): not what was cancelled or
            # replaced, unless that is what is asked for.
            reminders = reminders.filter(status=Reminder.Status.SCHEDULED)
    elif when == ANY_TIME:
        reminders = reminders.order_by("-due_at", "-id")
    else:
        reminders = reminders.filter(due_at__lte=now).order_by("-due_at", "-id")
    if data.get("status"):
        reminders = reminders.filter(status=data["status"])
    if data.get("kind"):
        reminders = reminders.filter(kind=data["kind"])
    if data.get("day"):
        reminders = reminders.filter(
            due_at__gte=local_midnight(data["day"]),
            due_at__lt=local_midnight(data["day"] + timedelta(days=1)),
        )
    page = NewestFirstPage(reminders, request.GET.get("page"))
    if not page.object_list and page.has_previous and not reminders.exists():
        # Past the end of a list that is empty anyway: said as for page 1.
        page = NewestFirstPage(reminders.none(), "1")
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "aftercare/outbox.html",
        {
            "form": form,
            "page": page,
            "filtered": any(data.values()),
            "when": when or "",
            "query": query.urlencode(),
            "can_resend": request.user.has_perm("aftercare.resend_reminder"),
            "late": services.late_emails(now),
            "to_check": services.emails_to_check(),
        },
    )


class NewestFirstPage:
    """One page of the outbox, with a link to the next only if there is one.

    The outbox grows by a dozen rows per session; counting all of them for a
    "page 3 of 8,000" would cost more than reading the page itself.
    """

    size = 50
    # Past this, search by day or status instead of paging.
    last = 1000

    def __init__(self, reminders: QuerySet, number: str | None) -> None:
        try:
            self.number = min(max(int(number or 1), 1), self.last)
        except ValueError:
            self.number = 1
        offset = (self.number - 1) * self.size
        rows = list(reminders[offset : offset + self.size + 1])
        self.object_list = rows[: self.size]
        self.has_previous = self.number > 1
        self.has_next = len(rows) > self.size and self.number < self.last
        # Older emails than this page are there, but only a filter reaches them.
        self.capped = len(rows) > self.size and self.number == self.last
        self.has_other_pages = self.has_previous or self.has_next
        self.previous_page_number = self.number - 1
        self.next_page_number = self.number + 1


# The preview page's frame loads the HTML part right after the page.
PREVIEW_READ_AGAIN = timedelta(minutes=5)


def _just_previewed(request: HttpRequest, reminder: Reminder) -> bool:
    """The user's opening of the email's preview page is logged already."""
    return ClinicalAccess.objects.filter(
        user=request.user,
        patient=reminder.patient,
        what="email preview",
        object_id=reminder.pk,
        at__gte=timezone.now() - PREVIEW_READ_AGAIN,
    ).exists()


@staff_view("aftercare.view_reminder")
@require_safe
def preview(request: HttpRequest, pk: int) -> HttpResponse:
    reminder = get_object_or_404(
        services.with_held(Reminder.objects).select_related(
            "patient", "appointment__practitioner__user", "appointment__room"
        ),
        pk=pk,
    )
    services.mark_starts_when_sent([reminder])
    # The front desk sees the decision of a consultation, not its clinical notes.
    hide_clinical = not request.user.has_perm("clinic.change_consultation")
    message = _render(
        reminder,
        hide_clinical=hide_clinical,
        # The patient's own link would stop their emails from a colleague's click.
        unsubscribe_url=request.build_absolute_uri(
            reverse("aftercare:unsubscribe_preview")
        ),
    )
    html = message.alternatives[0][0] if message.alternatives else ""
    part = request.GET.get("part")
    shown = emails.clinical_detail(reminder)
    if (
        not hide_clinical
        and shown
        and (shown in message.body or shown in html)
        and not (part == "html" and _just_previewed(request, reminder))
    ):
        # A practitioner reads the consultation's medication in the email, as
        # on the consultation's page: logged the same way. The HTML part the
        # preview page shows in its frame is the same reading, logged once.
        log_clinical_access(
            user=request.user,
            patient=reminder.patient,
            what="email preview (HTML part)" if part == "html" else "email preview",
            object_id=reminder.pk,
        )
    if part == "html":
        # Links open outside the preview's frame, which no page of the app allows.
        response = HttpResponse(
            html.replace("<head>", '<head><base target="_blank">', 1)
        )
        # Shown inside the preview page only.
        response["X-Frame-Options"] = "SAMEORIGIN"
        response["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"
        )
        return response
    return render(
        request,
        "aftercare/preview.html",
        {
            "reminder": reminder,
            "message": message,
            "attachments": [part.get_filename() for part in message.attachments],
            "can_resend": request.user.has_perm("aftercare.resend_reminder"),
            "resend_refusal": services.why_not_resend(reminder),
            # Resent, one still ahead goes out at its time: "Schedule again".
            "ahead": reminder.due_at > timezone.now(),
            "copy_refusal": services.why_not_copy(reminder)
            if reminder.status == Reminder.Status.SENT
            else "",
        },
    )


def _render(reminder: Reminder, *, hide_clinical: bool, unsubscribe_url: str):
    from clinic.models import Appointment

    series = list(
        Appointment.objects.filter(pk__in=reminder.series).select_related(
            "practitioner__user", "room"
        )
    )
    return emails.reminder_message(
        reminder,
        rule=services.rules().get(reminder.kind),
        series=sorted(series, key=lambda a: a.start),
        sequences=services.versions_of(series),
        unsubscribe_url=unsubscribe_url,
        message_id=reminder.message_id or "<preview>",
        hide_clinical=hide_clinical,
        moved_from=services.moved_from([reminder]),
        in_place=services.booked_in_place([reminder]),
    )


NOT_FROM_A_PAGE = gettext_lazy(
    "This came without the email as your page showed it: open the email's page "
    "and choose again there."
)


def _shown(request: HttpRequest) -> str | None:
    """The status the asking page showed (its "seen" field), or None when the
    request didn't come from one of the outbox's pages."""
    shown = request.POST.get("seen", "")
    status = shown.partition("|")[0]
    return shown if status in Reminder.Status.values else None


@staff_view("aftercare.resend_reminder")
@require_POST
def resend(request: HttpRequest, pk: int) -> HttpResponse:
    reminder = get_object_or_404(Reminder, pk=pk)
    if _shown(request) is None:
        messages.error(request, NOT_FROM_A_PAGE)
        return redirect(reminder)
    try:
        reminder = services.resend(reminder, shown=_shown(request))
    except services.OutboxError as error:
        messages.error(request, str(error))
    else:
        if reminder.due_at > timezone.now() + timedelta(minutes=5):
            messages.success(
                request,
                _("The email will go out at its time, %(when)s.")
                % {"when": when_text(reminder.due_at)},
            )
        else:
            messages.success(request, _("The email will go out again in a moment."))
    return redirect(safe_next(request, reminder.get_absolute_url()))


@staff_view("aftercare.resend_reminder")
@require_POST
def send_copy(request: HttpRequest, pk: int) -> HttpResponse:
    reminder = get_object_or_404(Reminder, pk=pk)
    if _shown(request) is None:
        messages.error(request, NOT_FROM_A_PAGE)
        return redirect(reminder)
    try:
        copy = services.send_copy(reminder, shown=_shown(request))
    except services.OutboxError as error:
        messages.error(request, str(error))
        return redirect(reminder)
    messages.success(
        request,
        _("A copy goes out to %(email)s in a moment.") % {"email": copy.patient.email},
    )
    return redirect(copy)


@staff_view("aftercare.resend_reminder")
@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    reminder = get_object_or_404(Reminder, pk=pk)
    if _shown(request) is None:
        messages.error(request, NOT_FROM_A_PAGE)
        return redirect(reminder)
    was_scheduled = reminder.status == Reminder.Status.SCHEDULED
    try:
        services.cancel(reminder, by=request.user, shown=_shown(request))
    except services.OutboxError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("The email is cancelled.")
            if was_scheduled
            else _("The email is closed."),
        )
    return redirect(safe_next(request, reminder.get_absolute_url()))


@staff_view("aftercare.view_reminder")
@require_safe
def unsubscribe_preview(request: HttpRequest) -> HttpResponse:
    return render(request, "aftercare/unsubscribe_preview.html")


# The one-click unsubscribe POST comes from mail programs, without a CSRF token;
# the signed token in the address is what authorises it.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
# It greets the patient by name: not kept by the browser or a proxy.
@never_cache
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    patient = services.patient_for_token(token)
    if patient is None:
        return render(request, "aftercare/unsubscribe_invalid.html", status=400)
    if request.method == "POST":
        services.unsubscribe(patient)
        if request.POST.get("from") == "page":
            # The page's own button: a reload of the answer asks nothing again.
            return redirect(f"{request.path}?done=1", permanent=False)
        return render(request, "aftercare/unsubscribed.html", {"patient": patient})
    if request.GET.get("done") and not patient.email_consent:
        return render(request, "aftercare/unsubscribed.html", {"patient": patient})
    return render(
        request,
        "aftercare/unsubscribe.html",
        {"patient": patient, "already": not patient.email_consent},
    )
