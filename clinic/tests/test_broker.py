"""The embedded broker (clinic.broker): kombu's filesystem transport, which
never hands a worker a message file that is still being written, and passes
over one it can't read instead of stopping the worker."""

import json
import logging
import os
from pathlib import Path

import pytest
from kombu import Connection
from kombu.transport import filesystem
from kombu.transport.virtual.base import BrokerState

from clinic import broker


def connect(folder: Path, transport=broker.Transport) -> Connection:
    for name in ("queue", "control"):
        (folder / name).mkdir(exist_ok=True)
    # Bindings kombu remembers per transport class (one folder a process, in
    # use) would skip writing those of this folder.
    fresh = type(transport.__name__, (transport,), {"global_state": BrokerState()})
    return Connection(
        "filesystem://",
        transport=fresh,
        transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
        },
    )


def message_files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder / "queue"))


def test_a_message_goes_through(tmp_path):
    with connect(tmp_path) as connection:
        queue = connection.SimpleQueue("emails")
        queue.put({"task": "dispatch"})

        message = queue.get(timeout=1)
        message.ack()

        assert message.payload == {"task": "dispatch"}
        assert message_files(tmp_path) == []


def test_a_message_is_only_seen_once_it_is_written_whole(tmp_path, monkeypatch):
    seen_while_writing = []
    replace = os.replace

    def watching_replace(source, target):
        # The moment before the rename: the whole message, under a name no
        # reader takes.
        seen_while_writing.append((message_files(tmp_path), Path(source).read_bytes()))
        replace(source, target)

    monkeypatch.setattr(broker.os, "replace", watching_replace)
    with connect(tmp_path) as connection:
        connection.SimpleQueue("emails").put({"task": "dispatch"})

    [(files, content)] = seen_while_writing
    assert len(files) == 1 and files[0].endswith(".emails.msg" + broker.WRITING)
    assert json.loads(content)["properties"]["delivery_info"]["routing_key"] == (
        "emails"
    )
    [written] = message_files(tmp_path)
    assert written.endswith(".emails.msg")


def test_a_file_still_being_written_is_left_for_later(tmp_path):
    with connect(tmp_path) as connection:
        queue = connection.SimpleQueue("emails")
        partial = tmp_path / "queue" / f"1_abc.emails.msg{broker.WRITING}"
        partial.write_bytes(b'{"body": ')

        with pytest.raises(queue.Empty):
            queue.get(timeout=0.1)
        assert partial.exists()


def test_an_unreadable_message_is_passed_over_and_the_next_one_read(tmp_path, caplog):
    # As kombu's own writer leaves a message between creating and writing it.
    (tmp_path / "queue").mkdir()
    (tmp_path / "queue" / "0_empty.emails.msg").write_bytes(b"")
    with connect(tmp_path) as connection:
        queue = connection.SimpleQueue("emails")
        queue.put({"task": "dispatch"})

        with caplog.at_level(logging.ERROR, logger="clinic.broker"):
            message = queue.get(timeout=1)
        message.ack()

    assert message.payload == {"task": "dispatch"}
    assert "Passed over an unreadable message of queue 'emails'" in caplog.text
    assert message_files(tmp_path) == []


def test_kombus_own_transport_stops_on_such_a_message(tmp_path):
    """What the worker met: the reason for clinic.broker."""
    (tmp_path / "queue").mkdir()
    (tmp_path / "queue" / "0_empty.emails.msg").write_bytes(b"")
    with connect(tmp_path, transport=filesystem.Transport) as connection:
        queue = connection.SimpleQueue("emails")

        with pytest.raises(ValueError):
            queue.get(timeout=1)
