"""An email backend for worker processes under test: each message takes a
while to "send", and is then written down (recipient and Message-ID, one JSON
line) in settings.CLINIC_TEST_SENT_LOG, a file that survives the worker."""

import json
import time
from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend


class SlowEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            time.sleep(settings.CLINIC_TEST_SEND_SECONDS)
            line = json.dumps(
                {"to": message.to[0], "message_id": message.extra_headers["Message-ID"]}
            )
            # One write per message, appended: a killed worker leaves whole lines.
            with open(settings.CLINIC_TEST_SENT_LOG, "a") as log:
                log.write(line + "\n")
        return len(email_messages)


def read_sent_log(path) -> list[dict]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
