"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

Tests point Django's SMTP backend, or a worker process, at it and read the
messages back with the ``email`` package. It can also be told to answer like a
troubled server: a reply for every DATA command (``data_reply = "451 ..."``) or
for chosen recipients (``refuse["a@b.example"] = "550 ..."``).
"""

import asyncio
import logging
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"

# aiosmtpd logs every SMTP command at INFO.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port() -> int:
    """A port nothing listens on (yet): for the sink, or to be refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Sink:
    def __init__(self) -> None:
        self.port = 0
        self.data_reply = ""
        self.pace = 0.0
        self.refuse: dict[str, str] = {}
        self._messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self._lock = threading.Lock()

    # aiosmtpd handler hooks (run in the server's thread).

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.pace:
            await asyncio.sleep(self.pace)
        if self.data_reply:
            return self.data_reply
        raw = envelope.original_content
        message = message_from_bytes(raw, policy=policy.default)
        with self._lock:
            self.raw.append(raw)
            self._messages.append(message)
        return "250 Message accepted for delivery"

    # For the tests.

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def count(self) -> int:
        with self._lock:
            return len(self._messages)

    def message_ids(self) -> Counter:
        """How many times each Message-ID arrived (a resend gets a new one)."""
        return Counter(str(m["Message-ID"]) for m in self.messages)

    def recipients(self) -> Counter:
        return Counter(str(m["To"]) for m in self.messages)


@contextmanager
def running_sink(*, pace: float = 0) -> Iterator[Sink]:
    """``pace``: seconds the server takes to accept each message (0: at once)."""
    sink = Sink()
    sink.pace = pace
    sink.port = free_port()
    controller = Controller(sink, hostname=HOST, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
