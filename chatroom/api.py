"""The plain-HTTP routes: pages, health and the JSON API (see docs/protocol.md)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import attrs

from chatroom import metrics
from chatroom.attachments.service import Attachments
from chatroom.auth import TokenClaims, TokenGate, TokenRefused
from chatroom.auth.accounts import AccountError, Accounts
from chatroom.cluster.events import Event, RevokedEvent
from chatroom.domain import (
    HISTORY_PAGE_BYTES,
    MAX_ID,
    ErrorCode,
    is_valid_room_name,
    is_valid_room_prefix,
    read_cost,
)
from chatroom.domain.rules import may_join
from chatroom.domain.search import (
    DEFAULT_SEARCH_LIMIT,
    MAX_SEARCH_LIMIT,
    SEARCH_BURST,
    SEARCHES_PER_SECOND,
    QueryError,
    parse_query,
)
from chatroom.hooks.service import Hooks
from chatroom.net.messages import (
    HttpError,
    HttpRequest,
    Response,
    bearer_token,
    error_response,
    json_response,
)
from chatroom.net.static_files import SECURITY_HEADERS, StaticFile, load_static_files
from chatroom.protocol import (
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_ROOMS_LIMIT,
    MAX_HISTORY_LIMIT,
    MAX_ROOMS_LIMIT,
    results_json,
)
from chatroom.ratelimit import BucketsByKey
from chatroom.rooms.registry import RoomRegistry
from chatroom.store import Store, StoreUnavailable
from chatroom.store import markers as markers_db
from chatroom.store import messages as messages_db
from chatroom.store import rooms as rooms_db
from chatroom.store import search as search_db
from chatroom.store import tokens as tokens_db

_ROOM_PATH = re.compile(r"/api/rooms/([^/]+)/(members|messages)")
_HOOK_PATH = re.compile(r"/hooks/([^/]+)/([^/]+)")
_UPLOAD_PATH = re.compile(r"/api/rooms/([^/]+)/files")
_FILE_PATH = re.compile(r"/api/files/([^/]+)")


def _require_method(request: HttpRequest, *allowed: str) -> None:
    if request.method not in allowed:
        allow = ", ".join(allowed)
        raise HttpError(
            error_response(ErrorCode.BAD_REQUEST, f"use {allow}", ("Allow", allow), status=405)
        )


@attrs.define
class Api:
    registry: RoomRegistry
    # Decides on bearer tokens.
    tokens: TokenGate
    store: Store
    accounts: Accounts
    gauges: Callable[[], dict[str, tuple[str, float]]]
    counters: metrics.Counters
    # Tells the sessions here and on other servers (RevokedEvent: a token
    # was revoked, its sessions end).
    publish: Callable[[Event], None]
    # History read over HTTP, per client address (as --history-rate is per connection).
    history_reads: BucketsByKey = attrs.field(factory=lambda: BucketsByKey(8 << 20, 2 << 20))
    # Searches over HTTP, per user (as a WebSocket connection's).
    searches: BucketsByKey = attrs.field(
        factory=lambda: BucketsByKey(SEARCH_BURST, SEARCHES_PER_SECOND)
    )
    static_files: dict[str, StaticFile] = attrs.field(factory=load_static_files)
    # What /healthz answers (always 200, so a load balancer never drops
    # every server at once when the broker they share is down).
    health: Callable[[], dict[str, Any]] = lambda: {"status": "ok"}
    # Incoming webhooks (POST /hooks/ID/SECRET); None: none here, as in some tests.
    hooks: Hooks | None = None
    # Files (POST /api/rooms/R/files, GET /api/files/F); None: none here, as in some tests.
    attachments: Attachments | None = None

    def streams_body(self, method: str, path: str) -> bool:
        """Uploads read their bodies as they come (net/http.py's BodyStream)."""
        return (
            method == "POST"
            and self.attachments is not None
            and _UPLOAD_PATH.fullmatch(path) is not None
        )

    async def respond(self, request: HttpRequest) -> Response:
        try:
            return await self._route(request)
        except HttpError as error:
            return error.response
        except StoreUnavailable:
            return error_response(ErrorCode.UNAVAILABLE, "the database is unavailable; retry")
        except AccountError as error:
            headers = (
                () if error.retry_after is None else (("Retry-After", str(error.retry_after)),)
            )
            more = {"no_account": True} if error.no_account else {}
            return error_response(
                error.code, error.message, *headers, status=error.status, more=more
            )

    async def _route(self, request: HttpRequest) -> Response:
        path = request.path
        if path == "/" or path.startswith("/static/"):
            _require_method(request, "GET", "HEAD")
            return self._static(request, "index.html" if path == "/" else path[len("/static/") :])
        if path == "/sw.js":  # the page's service worker: at the root, its scope is the site
            _require_method(request, "GET", "HEAD")
            return self._static(request, "sw.js")
        if path == "/healthz":
            _require_method(request, "GET", "HEAD")
            return json_response(200, self.health())
        if path == "/metrics":
            _require_method(request, "GET", "HEAD")
            body = metrics.exposition(self.gauges(), self.counters)
            return Response(200, body, metrics.CONTENT_TYPE, (("Cache-Control", "no-store"),))
        if path == "/api/register":
            _require_method(request, "POST")
            username, password = _credentials(request)
            issued = await self.accounts.register(username, password, request.client)
            return json_response(201, issued.as_json())
        if path == "/api/login":
            _require_method(request, "POST")
            username, password = _credentials(request)
            issued = await self.accounts.login(username, password, request.client)
            return json_response(200, issued.as_json())
        if path == "/api/logout":
            _require_method(request, "POST")
            claims = await self._authorize(request)
            if claims.token_id is not None:
                await self.store.write(tokens_db.revoke, claims.token_id, claims.expires * 1000)
                self.publish(RevokedEvent(claims.token_id))
            return json_response(200, {"revoked": claims.token_id is not None})
        if path == "/api/rooms":
            _require_method(request, "GET", "HEAD")
            claims = await self._authorize(request)
            return await self._rooms(request, claims.user)
        if path == "/api/search":
            _require_method(request, "GET", "HEAD")
            claims = await self._authorize(request)
            return await self._search(request, claims.user)
        if (match := _HOOK_PATH.fullmatch(path)) and self.hooks is not None:
            _require_method(request, "POST")
            return await self.hooks.incoming(request, match[1], match[2])
        if (match := _UPLOAD_PATH.fullmatch(path)) and self.attachments is not None:
            _require_method(request, "POST")
            claims = await self._authorize(request)
            room = unquote(match[1])
            if not is_valid_room_name(room):
                raise HttpError(error_response(ErrorCode.BAD_REQUEST, "invalid room name"))
            return await self.attachments.upload(request, claims.user, room)
        if (match := _FILE_PATH.fullmatch(path)) and self.attachments is not None:
            _require_method(request, "GET", "HEAD")
            # Without a valid token too, a file is not there (404, not 401).
            try:
                user: str | None = (await self._authorize(request)).user
            except HttpError:
                user = None
            return await self.attachments.download(user, unquote(match[1]))
        if match := _ROOM_PATH.fullmatch(path):
            _require_method(request, "GET", "HEAD")
            claims = await self._authorize(request)
            room = unquote(match[1])
            if not is_valid_room_name(room):
                raise HttpError(error_response(ErrorCode.BAD_REQUEST, "invalid room name"))
            await self._refuse_outsiders(room, claims.user)
            if match[2] == "members":
                return self._members(room)
            return await self._messages(request, room)
        return error_response(ErrorCode.NOT_FOUND, f"no such path: {path}")

    def _static(self, request: HttpRequest, name: str) -> Response:
        file = self.static_files.get(name)
        if file is None:
            return error_response(ErrorCode.NOT_FOUND, f"no such file: {name}")
        headers = (("ETag", file.etag), ("Cache-Control", "no-cache"), *SECURITY_HEADERS)
        if request.headers.get("if-none-match") == file.etag:
            return Response(304, b"", file.content_type, headers)
        return Response(200, file.body, file.content_type, headers)

    async def _authorize(self, request: HttpRequest) -> TokenClaims:
        token = bearer_token(request.headers)
        if token is None:
            raise _unauthorized("a bearer token is required")
        try:
            return await self.tokens.authorize(
                token, lambda token_id: self.store.read(tokens_db.is_revoked, token_id)
            )
        except TokenRefused as exc:
            raise _unauthorized(exc.reason) from None

    async def _rooms(self, request: HttpRequest, user: str) -> Response:
        prefix = request.query("prefix") or ""
        after = request.query("after") or None
        if not is_valid_room_prefix(prefix) or not (after is None or is_valid_room_name(after)):
            raise HttpError(error_response(ErrorCode.BAD_REQUEST, "invalid prefix or after"))
        limit = _int_param(request, "limit", 1, MAX_ROOMS_LIMIT) or DEFAULT_ROOMS_LIMIT
        unwritten = self.store.read_markers.unwritten(user)
        view = await self.store.read(markers_db.user_view, user, unwritten)
        return json_response(200, self.registry.page(prefix, after, limit, view).as_json())

    async def _refuse_outsiders(self, room: str, user: str) -> None:
        """A private room's members and history are for its owner,
        moderators and invitees: to anyone else it does not exist (404, as
        a room that does not exist, and it is not listed to them either)."""
        if self.registry.privacy(room) is False:
            return
        settings = await self.store.read(rooms_db.room_settings, room)
        if settings is None or (settings.rules.private and not may_join(settings.rules, user)):
            raise HttpError(error_response(ErrorCode.NOT_FOUND, f"no room {room!r}"))

    def _members(self, room_name: str) -> Response:
        found = self.registry.members(room_name)
        if found is None:
            return error_response(ErrorCode.NOT_FOUND, f"no one is in room {room_name!r}")
        name, members = found
        return json_response(200, {"room": name, "members": [m.as_json() for m in members]})

    async def _messages(self, request: HttpRequest, room: str) -> Response:
        if wait := self.history_reads.owed(request.client):
            return error_response(
                ErrorCode.RATE_LIMITED,
                "too much history too fast; wait",
                ("Retry-After", str(math.ceil(wait))),
            )
        before = _int_param(request, "before", 0, MAX_ID)
        limit = _int_param(request, "limit", 1, MAX_HISTORY_LIMIT)
        name = self.registry.stored_name(room) or room
        # Charged in full before the read (requests sent at once all count),
        # then what the page really cost.
        self.history_reads.spend(request.client, HISTORY_PAGE_BYTES)
        try:
            page = await self.store.read(
                messages_db.history_page,
                name,
                before,
                DEFAULT_HISTORY_LIMIT if limit is None else limit,
            )
        finally:
            self.history_reads.spend(request.client, -HISTORY_PAGE_BYTES)
        messages = [m.as_json() for m in page.messages]
        self.history_reads.spend(request.client, read_cost(page.messages))
        return json_response(200, {"room": name, "messages": messages, "more": page.more})

    async def _search(self, request: HttpRequest, user: str) -> Response:
        """GET /api/search?q=Q&room=R&before=ID&limit=N: as the `search` frame."""
        if wait := self.searches.take(user.lower()):
            return error_response(
                ErrorCode.RATE_LIMITED,
                "too many searches too fast; wait",
                ("Retry-After", str(math.ceil(wait))),
            )
        if wait := self.history_reads.owed(request.client):
            return error_response(
                ErrorCode.RATE_LIMITED,
                "too much history too fast; wait",
                ("Retry-After", str(math.ceil(wait))),
            )
        room = request.query("room") or None
        if room is not None and not is_valid_room_name(room):
            raise HttpError(error_response(ErrorCode.BAD_REQUEST, "invalid room name"))
        try:
            query = parse_query(request.query("q") or "")
        except QueryError as exc:
            raise HttpError(error_response(ErrorCode.BAD_REQUEST, str(exc))) from None
        before = _int_param(request, "before", 0, MAX_ID)
        limit = _int_param(request, "limit", 1, MAX_SEARCH_LIMIT) or DEFAULT_SEARCH_LIMIT
        try:
            found = await self.store.read(
                search_db.search, user, query, room=room, before=before, limit=limit
            )
        except search_db.SearchTooCostly:
            return error_response(ErrorCode.TOO_LARGE, search_db.TOO_COSTLY)
        self.history_reads.spend(request.client, read_cost(found.messages))
        return json_response(200, results_json(found.messages, found.more))


def _unauthorized(message: str) -> HttpError:
    return HttpError(
        error_response(ErrorCode.UNAUTHORIZED, message, ("WWW-Authenticate", "Bearer"))
    )


def _int_param(request: HttpRequest, name: str, low: int, high: int | None) -> int | None:
    text = request.query(name)
    if text is None or text == "":
        return None
    # Digits past 19 cannot be a 64-bit id (and int() refuses thousands of them).
    too_long = len(text.lstrip("0")) > len(str(MAX_ID))
    if not text.isdecimal() or too_long or not (low <= int(text) <= (high or int(text))):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise HttpError(
            error_response(ErrorCode.BAD_REQUEST, f"{name} must be an integer {bounds}")
        )
    return int(text)


def _credentials(request: HttpRequest) -> tuple[object, object]:
    # Only JSON: a cross-site HTML form can post text/plain without asking.
    if request.media_type != "application/json":
        raise HttpError(
            error_response(ErrorCode.BAD_REQUEST, "the body must be application/json", status=415)
        )
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise HttpError(
            error_response(
                ErrorCode.BAD_REQUEST, 'the body must be a JSON object {"username","password"}'
            )
        )
    return body.get("username"), body.get("password")
