"""The embedded broker of a machine without Redis: kombu's filesystem transport,
made safe for several processes.

kombu writes each message file in place: a worker polling the folder can take a
file that another process has created but not yet written, read nothing, and
stop with "Unrecoverable error: JSONDecodeError" (kombu issue #1551). Here a
message is written under a name the readers skip, then renamed, which is atomic
on one file system; and a message that can't be read all the same (a file cut
short by a full disk, say) is logged and passed over instead of stopping the
worker. The database holds every email's schedule, so a nudge passed over is
made good by the next beat tick.

settings.CELERY_BROKER_TRANSPORT names this transport when CELERY_BROKER_URL is
filesystem://.
"""

import logging
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)

# A name ending otherwise than ".<queue>.msg" is no queue's message to readers.
WRITING = ".writing"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` on ``queue`` as a whole file (kombu's own name)."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        try:
            with open(path + WRITING, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(path + WRITING, path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc

    def _get(self, queue):
        """The next readable message of ``queue``; an unreadable one (already
        taken out of the folder by kombu) is logged and passed over."""
        while True:
            try:
                return super()._get(queue)
            except ValueError as exc:
                logger.error(
                    "Passed over an unreadable message of queue %r in the broker "
                    "folder: %s",
                    queue,
                    exc,
                )


class Transport(filesystem.Transport):
    Channel = Channel
