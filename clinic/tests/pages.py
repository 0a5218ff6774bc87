"""What tests read off a rendered page, as a browser would send it back."""

import re


def hidden_value(response, name: str) -> str:
    """The value of the page's hidden input ``name``."""
    found = re.search(
        rf'<input type="hidden" name="{name}" value="([^"]*)"',
        response.content.decode(),
    )
    assert found, f"the page has no hidden {name} field"
    return found.group(1)
