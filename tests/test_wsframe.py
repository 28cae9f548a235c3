"""Server frames decode as RFC 6455 text frames in an independent parser."""

from __future__ import annotations

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from chatroom.net.wsframe import close_frame, is_close_frame, ping_frame, text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_frames_of_every_length_class_decode(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(text_frame(text) + text_frame("next"))
    messages = [e for e in client.events() if isinstance(e, TextMessage)]
    assert [m.data for m in messages] == [text, "next"]
    assert all(m.message_finished for m in messages)


def test_a_close_frame_is_told_from_the_other_frames() -> None:
    assert is_close_frame(close_frame(1000)) and is_close_frame(memoryview(close_frame(4401, "x")))
    assert not any(map(is_close_frame, (text_frame("\x88"), ping_frame(b""), b"HTTP/1.1", b"")))
