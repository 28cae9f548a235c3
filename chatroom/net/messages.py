"""HTTP requests and responses as values, and the JSON error body every
HTTP error has (no I/O: net/http.py reads and writes them)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs

import attrs

from chatroom.domain import ErrorCode

_HTTP_STATUS_OF = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


@attrs.frozen
class Response:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()
    # A body sent as it is read (a file from the database), instead of
    # `body`: `stream_length` bytes, in the pieces `stream` gives.
    stream: AsyncIterable[bytes] | None = attrs.field(default=None, eq=False, repr=False)
    stream_length: int = 0

    def header_list(self) -> list[tuple[str, str]]:
        if self.status in (204, 304):  # no body, and no length of one
            return list(self.headers)
        length = self.stream_length if self.stream is not None else len(self.body)
        return [
            ("Content-Type", self.content_type),
            ("Content-Length", str(length)),
            *self.headers,
        ]


class BodyStream(Protocol):
    """A request body read as it arrives, for the routes that take large
    ones (net/http.py gives it; `Responder.streams_body` says which)."""

    @property
    def declared_length(self) -> int | None:
        """Its Content-Length, if it has one (not a chunked body)."""

    async def receive_some(self) -> bytes:
        """The next bytes of the body; b"" once it has all come."""


@attrs.frozen
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    client: str = ""  # the peer's address, for login throttling
    # The body, unread, instead of `body`, for a route that streams it.
    stream: BodyStream | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def media_type(self) -> str:
        """The body's Content-Type without its parameters, in lower case."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def query(self, name: str) -> str | None:
        values = parse_qs(self.target.partition("?")[2]).get(name)
        return values[-1] if values else None


class HttpError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def json_response(status: int, obj: dict[str, Any], *headers: tuple[str, str]) -> Response:
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, body, "application/json", (("Cache-Control", "no-store"), *headers))


def error_response(
    code: ErrorCode,
    message: str,
    *headers: tuple[str, str],
    status: int | None = None,
    more: Mapping[str, object] | None = None,
) -> Response:
    return json_response(
        status or _HTTP_STATUS_OF[code],
        {"error": {"code": str(code), "message": message, **(more or {})}},
        *headers,
    )


def bearer_token(headers: dict[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if any."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
