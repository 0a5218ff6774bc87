"""What tests read off a rendered page, as a browser would send it back."""

import html
import re


def hidden_value(response, name: str) -> str:
    """The value of the page's hidden input ``name``."""
    found = re.search(
        rf'<input type="hidden" name="{name}" value="([^"]*)"',
        response.content.decode(),
    )
    assert found, f"the page has no hidden {name} field"
    return found.group(1)


# The hidden fields that tell which version of a row the page showed
# (clinic.forms.PageVersionField): a post without them is refused.
PAGE_VERSIONS = ("seen", "ahead")


def post_as_page(client, url: str, data: dict, *, page: str | None = None, **kwargs):
    """POST ``data`` to ``url`` as the form on ``page`` (``url`` by default) sends
    it: with the page versions it holds, unless ``data`` gives them."""
    shown = client.get(page or url).content.decode()
    sent = dict(data)
    for name in PAGE_VERSIONS:
        found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', shown)
        if found and name not in sent:
            sent[name] = html.unescape(found.group(1))
    return client.post(url, sent, **kwargs)
