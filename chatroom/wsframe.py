"""Server-to-client WebSocket frames (RFC 6455 section 5.2), built once and
shared: server frames are unmasked, so every recipient gets the same bytes."""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81


def text_frame(text: str) -> bytes:
    """One complete, unfragmented text frame carrying `text`."""
    payload = text.encode("utf-8")
    size = len(payload)
    if size < 126:
        header = bytes((_FIN_TEXT, size))
    elif size < 65536:
        header = struct.pack("!BBH", _FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, size)
    return header + payload
