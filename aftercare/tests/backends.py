"""Email backends that fail the way SMTP servers do, for the dispatch tests.

Each raises what Django's SMTP backend lets through from smtplib, so the
dispatcher sees the same exceptions as in production.
"""

import smtplib
from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend


class DisconnectingBackend(BaseEmailBackend):
    """The server hangs up in the middle of the conversation (temporary)."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class GreylistingBackend(BaseEmailBackend):
    """451: the server asks to try again later (temporary)."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        raise smtplib.SMTPResponseException(451, b"4.7.1 Greylisted, try again later")


class RefusingBackend(BaseEmailBackend):
    """The server refuses every recipient (permanent)."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        recipients = {
            address: (550, b"5.1.1 No such user")
            for message in email_messages
            for address in message.recipients()
        }
        raise smtplib.SMTPRecipientsRefused(recipients)


class RejectingBackend(BaseEmailBackend):
    """550 for the message itself (permanent)."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        raise smtplib.SMTPResponseException(550, b"5.7.1 Message rejected")


class UnreachableBackend(BaseEmailBackend):
    """No server listens: the connection itself is refused (temporary)."""

    def open(self) -> bool:
        raise ConnectionRefusedError(111, "Connection refused")

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        self.open()
        return 0


class BouncingBackend(LocmemBackend):
    """Delivers to ``mail.outbox`` like locmem, but refuses @bounce.example."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            refused = {
                address: (550, b"5.1.1 No such user")
                for address in message.recipients()
                if address.endswith("@bounce.example")
            }
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)
        return super().send_messages(email_messages)


class MisconfiguredBackend(BaseEmailBackend):
    """A setting gone wrong: the file backend's mail folder is a file, say."""

    def open(self) -> bool:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("Path for saving email messages is not a folder")

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        self.open()
        return 0


class CrashingBackend(LocmemBackend):
    """Delivers like locmem, but stops part-way with an error no SMTP backend
    raises for the patient at @crash.example: it may or may not have gone."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            if any(a.endswith("@crash.example") for a in message.recipients()):
                raise RuntimeError("stopped part-way")
        return super().send_messages(email_messages)
