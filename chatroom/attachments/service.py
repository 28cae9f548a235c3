"""Files shared in rooms (protocol 1.2, "Files"): uploads streamed into the
database a chunk at a time, downloads streamed out of it the same way, the
files a `send` may carry, and the removal of those no message took.

No whole file is ever in memory: an upload holds at most one chunk (and
one read of the socket) before it is written, a download one chunk before
it is sent. Every server on the database serves every file.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable

import attrs
import trio

from chatroom import protocol
from chatroom.attachments.content import (
    ATTACHMENT_TYPE,
    FILE_HEADERS,
    HEADER_BYTES,
    SNIFF_BYTES,
    content_disposition,
    image_size,
    image_type,
)
from chatroom.domain import ErrorCode, FileInfo
from chatroom.domain.files import is_valid_file_id, is_valid_file_name, media_type
from chatroom.domain.rules import ARCHIVED, may_join
from chatroom.net.messages import (
    BodyStream,
    HttpError,
    HttpRequest,
    Response,
    error_response,
    json_response,
)
from chatroom.protocol import ProtocolError, Ref
from chatroom.ratelimit import BucketsByKey
from chatroom.store import Store, StoreUnavailable
from chatroom.store import files as files_db
from chatroom.store import rooms as rooms_db

log = logging.getLogger("chatroom.attachments")

CHUNK_BYTES = 256 * 1024  # a file's bytes are stored, and sent, in pieces of about this
CLEANUP_BATCH = 100  # unattached files removed per transaction
MAX_CLEANUP_INTERVAL = 600.0  # seconds between looks for unattached files, at most
DISCARD_TIMEOUT = 5.0  # for removing a failed upload's chunks on the way out


def _refused(code: ErrorCode, message: str, *headers: tuple[str, str], status: int) -> HttpError:
    return HttpError(error_response(code, message, *headers, status=status))


@attrs.define(eq=False, kw_only=True)
class Attachments:
    store: Store
    max_bytes: int  # in one file
    # Bytes each user may upload, by the lower-case name (on this server).
    storage: BucketsByKey
    # How long a file no message took is kept, in seconds.
    unattached_seconds: float = 24 * 3600.0
    wall_clock: Callable[[], float] = time.time

    # -- uploads ------------------------------------------------------------------

    async def upload(self, request: HttpRequest, user: str, room: str) -> Response:
        """POST /api/rooms/{room}/files?name=NAME by `user`, the body streamed
        into the database as it comes: 201 and the FILE."""
        name = request.query("name")
        if name is None or not is_valid_file_name(name):
            raise _refused(
                ErrorCode.BAD_REQUEST,
                "name must be 1 to 255 characters, without control characters or slashes",
                status=400,
            )
        stream = request.stream
        assert stream is not None  # (the API streams this route's body)
        room_name = await self._room_of_member(room, user)
        key = user.lower()
        declared = stream.declared_length
        if declared is not None and declared > self.max_bytes:
            raise self._too_large()
        wait = self.storage.take(key, declared) if declared else self.storage.owed(key)
        if wait:
            raise _refused(
                ErrorCode.RATE_LIMITED,
                "too many bytes of files uploaded for now; wait",
                ("Retry-After", str(math.ceil(wait))),
                status=429,
            )
        file_id = secrets.token_urlsafe(16)
        kind = media_type(request.headers.get("content-type", ""))
        await self.store.write(files_db.create_file, file_id, room_name, user, name, kind)
        stored = None
        try:
            size, head = await self._receive(stream, file_id, key, charged=declared is not None)
            stored = await self.store.write(
                files_db.finish_file, file_id, size, image_type(head), image_size(head)
            )
        finally:
            if stored is None:
                await self._discard(file_id)
        if stored is None:  # (the room was deleted meanwhile)
            raise _refused(ErrorCode.NOT_FOUND, f"no room {room!r}", status=404)
        return json_response(201, {"file": stored.info.as_json()})

    async def _room_of_member(self, room: str, user: str) -> str:
        """The room's spelling if `user` is one of its members and may post
        there; 404 for a room they may not see, 403 for one they have not
        joined or one archived."""
        settings = await self.store.read(rooms_db.room_settings, room)
        if settings is None or (settings.rules.private and not may_join(settings.rules, user)):
            raise _refused(ErrorCode.NOT_FOUND, f"no room {room!r}", status=404)
        member = await self.store.read(files_db.is_member, room, user)
        if member is None or not may_join(settings.rules, user):
            raise _refused(
                ErrorCode.NOT_MEMBER,
                f"only members of {room} upload files to it: join it first",
                status=403,
            )
        if settings.rules.archived:  # (no message could take the file)
            raise _refused(ErrorCode.FORBIDDEN, ARCHIVED, status=403)
        return member

    async def _receive(
        self, stream: BodyStream, file_id: str, key: str, *, charged: bool
    ) -> tuple[int, bytes]:
        """Store the body in chunks as it comes, refusing it (413) as soon as
        it passes the limit, before that is written; its size and first bytes."""
        size, seq, head = 0, 0, b""
        pending = bytearray()
        while True:
            piece = await stream.receive_some()
            if size + len(pending) + len(piece) > self.max_bytes:
                raise self._too_large()
            pending += piece
            if not charged:
                self.storage.spend(key, len(piece))
            if pending and (len(pending) >= CHUNK_BYTES or not piece):
                if seq == 0:  # (its type by SNIFF_BYTES, an image's size by its header)
                    head = bytes(pending[: max(SNIFF_BYTES, HEADER_BYTES)])
                await self.store.write(files_db.add_chunk, file_id, seq, bytes(pending))
                size, seq = size + len(pending), seq + 1
                pending = bytearray()
            if not piece:
                return size, head

    def _too_large(self) -> HttpError:
        mib = self.max_bytes / (1024 * 1024)
        return _refused(
            ErrorCode.TOO_LARGE, f"a file is at most {mib:g} MiB (--max-file-mib)", status=413
        )

    async def _discard(self, file_id: str) -> None:
        """What a failed upload wrote, removed even as its request is
        cancelled; if the database cannot, the cleanup will."""
        with trio.CancelScope(shield=True), trio.move_on_after(DISCARD_TIMEOUT):
            try:
                await self.store.write(files_db.discard_file, file_id)
            except StoreUnavailable:
                log.warning("a failed upload stays until the cleanup: database unavailable")

    # -- downloads ----------------------------------------------------------------

    async def download(self, user: str | None, file_id: str) -> Response:
        """GET /api/files/{F}: the bytes, to someone who may read the room (a
        file no message took yet: its uploader); 404 to anyone else."""
        missing = error_response(ErrorCode.NOT_FOUND, "no such file")
        if user is None or not is_valid_file_id(file_id):
            return missing
        stored = await self.store.read(files_db.stored_file, file_id)
        if stored is None or not (stored.attached or stored.uploader.lower() == user.lower()):
            return missing
        settings = await self.store.read(rooms_db.room_settings, stored.room)
        if settings is None or (settings.rules.private and not may_join(settings.rules, user)):
            return missing
        inline = stored.inline_type
        disposition = content_disposition(stored.info.name, inline=inline is not None)
        return Response(
            200,
            b"",
            inline or ATTACHMENT_TYPE,
            (("Content-Disposition", disposition), *FILE_HEADERS),
            stream=_Chunks(self.store, file_id),
            stream_length=stored.info.size,
        )

    # -- messages -----------------------------------------------------------------

    async def attachable(
        self, ids: tuple[str, ...], room: str, user: str, cid: str | None, ref: Ref
    ) -> tuple[FileInfo, ...]:
        """The files a `send` names, each uploaded to `room` by `user` and not
        yet sent with another message; not_found for any that is not."""
        try:
            found = await self.store.read(files_db.attachable, ids, room, user, cid)
        except StoreUnavailable:
            raise protocol.unavailable_error(ref) from None
        if len(found) != len(ids):
            missing = sorted(set(ids) - {file.id for file in found})
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                f"no file {missing[0]} of yours to send in {room} (uploaded there, not sent yet)",
                ref,
            )
        return tuple(found)

    # -- cleanup ------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Remove the files no message took, once they are older than
        `unattached_seconds`, looking every quarter of that (10 min at most)."""
        interval = min(MAX_CLEANUP_INTERVAL, max(0.05, self.unattached_seconds / 4))
        task_status.started()
        while True:
            await trio.sleep(interval)
            await self.remove_unattached()

    async def remove_unattached(self) -> int:
        """Remove the files no message took that are old enough now; how many."""
        before_ms = int((self.wall_clock() - self.unattached_seconds) * 1000)
        removed = 0
        while True:
            try:
                count = await self.store.write(files_db.remove_unattached, before_ms, CLEANUP_BATCH)
            except StoreUnavailable:
                log.warning("unattached files not removed: database unavailable")
                return removed
            removed += count
            if count < CLEANUP_BATCH:
                if removed:
                    log.info("removed %d files no message took", removed)
                return removed


@attrs.define(eq=False)
class _Chunks:
    """A file's chunks read one at a time, as the response sends them."""

    store: Store
    file_id: str
    seq: int = 0

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            data = await self.store.read(files_db.chunk, self.file_id, self.seq)
        except StoreUnavailable:
            log.warning("file %s cut short: database unavailable", self.file_id)
            raise
        if data is None:
            raise StopAsyncIteration
        self.seq += 1
        return data
