"""Refusals as the protocol carries them: `error` frames with the request's ref."""

from __future__ import annotations

import math

from chatroom.domain.errors import ErrorCode

Ref = str | int | float | None


class ProtocolError(Exception):
    """A request the server refuses; becomes an `error` frame carrying `ref`."""

    def __init__(self, code: ErrorCode, message: str, ref: Ref = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.retry_after_ms: int | None = None  # extension, with rate_limited


def not_member_error(room: str, ref: Ref) -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_MEMBER, f"not a member of room {room!r}", ref)


def rate_limited_error(message: str, wait: float, ref: Ref) -> ProtocolError:
    """`rate_limited`, saying (extension `retry_after_ms`) when to try again."""
    error = ProtocolError(ErrorCode.RATE_LIMITED, message, ref)
    error.retry_after_ms = math.ceil(wait * 1000)
    return error


def unavailable_error(ref: Ref) -> ProtocolError:
    return ProtocolError(ErrorCode.UNAVAILABLE, "the message store is unavailable; retry", ref)


def not_found_error(message_id: int, ref: Ref) -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_FOUND, f"no message {message_id} here", ref)


def not_yours_error(ref: Ref) -> ProtocolError:
    return ProtocolError(ErrorCode.FORBIDDEN, "that message is someone else's", ref)
