"""Server-to-client WebSocket frames (RFC 6455 section 5.2), built once and
shared: server frames are unmasked, so every recipient gets the same bytes."""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81
_FIN_CLOSE = 0x88
_FIN_PING = 0x89


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


def close_frame(code: int, reason: str = "") -> bytes:
    """A complete close frame (control frames carry at most 125 bytes)."""
    payload = struct.pack("!H", code) + reason.encode("utf-8")[:123]
    return bytes((_FIN_CLOSE, len(payload))) + payload


def is_close_frame(data: bytes | bytearray | memoryview) -> bool:
    """Whether a write of server frames starts with a close frame (each write
    of ours and of trio-websocket starts on a frame's first byte)."""
    return data[:1] == bytes((_FIN_CLOSE,))


def ping_frame(payload: bytes) -> bytes:
    """A complete ping frame (the peer answers with a pong)."""
    return bytes((_FIN_PING, len(payload[:125]))) + payload[:125]
