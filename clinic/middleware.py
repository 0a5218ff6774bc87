from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers, patch_cache_control


class WordsForEmptyErrorsMiddleware:
    """Give bare 405 responses (from require_POST and friends) a page with words."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and not response.content:
            response.content = render_to_string("405.html", request=request)
            response["Content-Type"] = "text/html; charset=utf-8"
        return response


class ContentSecurityPolicyMiddleware:
    """Only the app's own scripts, styles, images and frames; no inline script.

    A response that sets its own policy (the email preview) keeps it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = (
                settings.CLINIC_CONTENT_SECURITY_POLICY
            )
        return response


# Characters that turn the direction of the text after them around (embeddings,
# overrides, isolates): typed into a note, they make the page around it read
# backwards ("evomeR" for a Remove link). Nobody needs them to type a name or
# a note, in any language: the right-to-left marks (U+200E, U+200F) stay.
BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)], None)


class BidiControlsRemovedMiddleware:
    """Take text-direction controls out of what forms and searches send, so no
    typed text can turn a page around. The rest of what was typed is kept."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.GET = _without_bidi_controls(request.GET)
        if request.method == "POST":
            try:
                request.POST = _without_bidi_controls(request.POST)
            except (OSError, MultiPartParserError):
                # A body cut off on its way (a tablet losing the network during
                # an upload) or malformed: answered further on as before this
                # middleware (the CSRF check refuses it), not as a crash here.
                pass
        return self.get_response(request)


def _without_bidi_controls(data: QueryDict) -> QueryDict:
    if not any(
        value.translate(BIDI_CONTROLS) != value
        for values in data.lists()
        for value in values[1]
    ):
        return data
    cleaned = QueryDict(mutable=True)
    for key, values in data.lists():
        cleaned.setlist(key, [value.translate(BIDI_CONTROLS) for value in values])
    cleaned._mutable = False
    return cleaned


class StaffPagesNotStoredMiddleware:
    """Pages shown to a signed-in member of staff hold patients' details
    (consultations, records, medication): no browser or proxy keeps them on
    disk, for a shared front-desk computer. A page that says otherwise keeps
    its own header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and (not response.has_header("Cache-Control"))
        ):
            add_never_cache_headers(response)
            patch_cache_control(response, private=True)
        return response
