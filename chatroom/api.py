"""The plain-HTTP routes: pages, health and the JSON API (see docs/protocol.md)."""

from __future__ import annotations

import json
import re
import time
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs

from chatroom.auth import InvalidToken, TokenSigner
from chatroom.protocol import ErrorCode, is_valid_room_name
from chatroom.rooms import RoomRegistry

_MEMBERS_PATH = re.compile(r"/api/rooms/([^/]+)/members")
_MESSAGES_PATH = re.compile(r"/api/rooms/([^/]+)/messages")

_HTTP_STATUS_OF = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
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

    def header_list(self) -> list[tuple[str, str]]:
        return [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            *self.headers,
        ]


def json_response(status: int, obj: dict[str, Any], *headers: tuple[str, str]) -> Response:
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, body, "application/json", (("Cache-Control", "no-store"), *headers))


def error_response(
    code: ErrorCode, message: str, *headers: tuple[str, str], status: int | None = None
) -> Response:
    return json_response(
        status or _HTTP_STATUS_OF[code],
        {"error": {"code": str(code), "message": message}},
        *headers,
    )


def method_not_allowed(allowed: str) -> Response:
    return error_response(ErrorCode.BAD_REQUEST, f"use {allowed}", ("Allow", allowed), status=405)


def _index_page() -> bytes:
    return resources.files("chatroom").joinpath("static/index.html").read_bytes()


@attrs.define
class Api:
    registry: RoomRegistry
    signer: TokenSigner
    index_page: bytes = attrs.field(factory=_index_page)

    def respond(self, method: str, target: str, headers: dict[str, str]) -> Response:
        path = urlsplit(target).path
        if path == "/":
            if method not in ("GET", "HEAD"):
                return method_not_allowed("GET, HEAD")
            return Response(200, self.index_page, "text/html; charset=utf-8")
        if path == "/healthz":
            if method not in ("GET", "HEAD"):
                return method_not_allowed("GET, HEAD")
            return json_response(200, {"status": "ok"})
        if path == "/api/rooms":
            return self._authorized(method, headers) or json_response(
                200, {"rooms": [r.as_json() for r in self.registry.counts()]}
            )
        if match := _MEMBERS_PATH.fullmatch(path):
            return self._authorized(method, headers) or self._members(unquote(match[1]))
        if _MESSAGES_PATH.fullmatch(path):
            return self._authorized(method, headers) or error_response(
                ErrorCode.NOT_FOUND, "message history is not stored by this server"
            )
        return error_response(ErrorCode.NOT_FOUND, f"no such path: {path}")

    def _authorized(self, method: str, headers: dict[str, str]) -> Response | None:
        """None when the request may go on; otherwise the error to answer."""
        if method not in ("GET", "HEAD"):
            return method_not_allowed("GET, HEAD")
        challenge = ("WWW-Authenticate", "Bearer")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error_response(ErrorCode.UNAUTHORIZED, "a bearer token is required", challenge)
        try:
            self.signer.verify(token.strip(), now=time.time())
        except InvalidToken as exc:
            return error_response(ErrorCode.UNAUTHORIZED, f"token {exc.reason}", challenge)
        return None

    def _members(self, name: str) -> Response:
        if not is_valid_room_name(name):
            return error_response(ErrorCode.BAD_REQUEST, "invalid room name")
        room = self.registry.get(name)
        if room is None or not room.member_count:
            return error_response(ErrorCode.NOT_FOUND, f"no one is in room {name!r}")
        return json_response(200, {"room": name, "members": [m.as_json() for m in room.members()]})
