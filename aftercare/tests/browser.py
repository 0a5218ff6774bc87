"""Playwright on Debian's Chromium, for the browser tests: a tab that records
every JavaScript error and refuses (and records) every request that would leave
the server under test. The ``browser`` and ``tab`` fixtures are in conftest.py."""

import re
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, expect

# Headless, as root, and never reaching out to the internet.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Tab:
    """One browser tab, with what went wrong on it kept for the assertions."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        self.outside_requests: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda message: (
                self.errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.context.route("**/*", self._only_this_server)
        page.set_default_timeout(15_000)

    def _only_this_server(self, route, request) -> None:
        if urlsplit(request.url).netloc == urlsplit(self.base_url).netloc:
            route.continue_()
        else:
            self.outside_requests.append(request.url)
            route.abort()

    def open(self, path: str) -> None:
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.ok, f"{path}: {response.status}"

    def sign_in(self, username: str, password: str) -> None:
        self.open("/accounts/login/")
        self.field("Username").fill(username)
        self.field("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("button", name="Sign out")).to_be_visible()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        expect(self.field("Username")).to_be_visible()

    def field(self, label: str) -> Locator:
        """The form field of that label (required ones show an asterisk)."""
        return self.page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))

    def answer(self, question: str, answer: str) -> None:
        """Pick an answer of a yes/no question (a group of radio buttons)."""
        group = self.page.get_by_role("radiogroup", name=question)
        group.get_by_label(answer, exact=True).check()

    def click(self, name: str, role: str = "link") -> None:
        self.page.get_by_role(role, name=name).first.click()

    def says(self, text: str) -> None:
        expect(self.page.locator("body")).to_contain_text(text)
