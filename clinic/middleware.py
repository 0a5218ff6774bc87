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
# Line breaks of other kinds, which pasted text brings (a vertical tab from a
# word processor, a page break, the Unicode line and paragraph separators): a
# space, right in a one-line box as in a text area (whose own breaks come as
# \r\n, which a bare \n beside them would not match).
OTHER_LINE_BREAKS = dict.fromkeys(
    [0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029], " "
)
# Control characters, but tabs and line breaks: they show as nothing, and
# would reach emails and calendar files as sent (clinic.models.validate_plain_text
# refuses them in the models, behind this).
CONTROLS = dict.fromkeys(
    [c for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n\r"],
    None,
)
UNSEEN = CONTROLS | OTHER_LINE_BREAKS | BIDI_CONTROLS


class TypedTextCleanedMiddleware:
    """Take what no one can see or means to type out of what forms and
    searches send: text-direction controls, so no typed text can turn a page
    around, and control characters, which a page can't show for staff to
    remove (another kind of line break becomes a space). The rest of what was
    typed is kept."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.GET = _cleaned(request.GET)
        if request.method == "POST":
            try:
                request.POST = _cleaned(request.POST)
            except (OSError, MultiPartParserError):
                # A body cut off on its way (a tablet losing the network during
                # an upload) or malformed: answered further on as before this
                # middleware (the CSRF check refuses it), not as a crash here.
                pass
        return self.get_response(request)


def _cleaned(data: QueryDict) -> QueryDict:
    # A password is kept as typed: it must match what was set, whatever it holds.
    def clean(key: str, value: str) -> str:
        return value if "password" in key else value.translate(UNSEEN)

    if all(clean(key, v) == v for key, values in data.lists() for v in values):
        return data
    cleaned = QueryDict(mutable=True)
    for key, values in data.lists():
        cleaned.setlist(key, [clean(key, value) for value in values])
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
