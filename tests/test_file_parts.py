"""Files, part by part: how each is served (by its first bytes, its name in
Content-Disposition), names and types, `send` with files, messages carrying
files between nodes, and the store's files on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from chatroom import protocol
from chatroom.attachments.content import content_disposition, image_size, image_type
from chatroom.cluster.events import ChangedEvent, MessagesEvent, decode_event, encode_event
from chatroom.domain import ChatMessage, FileInfo
from chatroom.domain.files import files_of, is_valid_file_name, media_type
from chatroom.protocol import ProtocolError
from chatroom.store import Store
from chatroom.store import files as files_db
from chatroom.store import messages as messages_db
from chatroom.store import rooms as rooms_db
from tests.test_store import database_url, open_store, store  # noqa: F401 (fixtures)

FILE = FileInfo("A" * 22, "cat.png", 12, "image/png")


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\0\0\0\x0d", "image/png"),
        (b"\xff\xd8\xff\xdb", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"RIFF\0\0\0\0WEBP", "image/webp"),
        (b"RIFF\0\0\0\0WAVE", None),
        (b"<svg xmlns=", None),
        (b"<html>", None),
        (b"\x89PNG", None),  # cut short
        (b"", None),
    ],
)
def test_images_are_known_by_their_first_bytes(head: bytes, kind: str | None) -> None:
    assert image_type(head) == kind


PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def _le(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little")


def _riff(chunk: bytes, body: bytes) -> bytes:
    return b"RIFF\x00\x00\x00\x00WEBP" + chunk + len(body).to_bytes(4, "little") + body


JPEG_SOF = (
    b"\xff\xd8"
    + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"  # APP0
    + b"\xff\xdb\x00\x04\x00\x00"  # a table, skipped by its length
    + b"\xff\xc2\x00\x11\x08"  # a progressive frame: precision, then the sides
    + (300).to_bytes(2, "big")
    + (400).to_bytes(2, "big")
    + b"\x03"
    + bytes(9)
)


@pytest.mark.parametrize(
    ("head", "sides"),
    [
        (PNG_HEAD + (7).to_bytes(4, "big") + (5).to_bytes(4, "big"), (7, 5)),
        (b"GIF89a" + (320).to_bytes(2, "little") + (200).to_bytes(2, "little"), (320, 200)),
        (_riff(b"VP8X", bytes(4) + _le(99, 3) + _le(49, 3)), (100, 50)),
        (_riff(b"VP8L", b"\x2f" + _le(((20 - 1) << 14) | (10 - 1), 4)), (10, 20)),
        (_riff(b"VP8 ", bytes(3) + b"\x9d\x01\x2a" + _le(64, 2) + _le(48, 2)), (64, 48)),
        (JPEG_SOF, (400, 300)),
        (JPEG_SOF[:20], None),  # (its frame beyond what came)
        (PNG_HEAD + bytes(8), None),  # a zero side
        (b"<svg width='9' height='9'>", None),
    ],
)  # fmt: skip
def test_an_images_size_is_read_from_its_header(head: bytes, sides: tuple[int, int] | None) -> None:
    assert image_size(head) == sides


def test_names_in_content_disposition_cannot_break_out() -> None:
    assert content_disposition("a.png", inline=True) == (
        "inline; filename=\"a.png\"; filename*=UTF-8''a.png"
    )
    header = content_disposition('x";\\ %é😀.txt', inline=False)
    assert header == (
        'attachment; filename="x_;_ ___.txt"; '
        "filename*=UTF-8''x%22%3B%5C%20%25%C3%A9%F0%9F%98%80.txt"
    )
    assert header.isascii()


def test_names_and_types() -> None:
    assert is_valid_file_name("rapport final (2).pdf") and is_valid_file_name("é" * 255)
    for bad in ("", ".", "..", "a/b", "a\\b", "a\nb", "a\0b", "\u202egnp.exe", "x" * 256):
        assert not is_valid_file_name(bad), bad
    assert media_type("Image/PNG; charset=x") == "image/png"
    assert media_type("") == media_type("nonsense") == "application/octet-stream"
    assert media_type("text/html\r\nX: y") == "application/octet-stream"
    assert files_of([FILE.as_json()]) == (FILE,)
    bad_lists: list[object] = [{}, [{"id": "x"}], [dict(FILE.as_json(), size=-1)]]
    for bad_files in [*bad_lists, [FILE.as_json()] * 11]:
        with pytest.raises(ValueError):
            files_of(bad_files)


def test_send_takes_files_and_then_empty_text() -> None:
    send = protocol.parse_request(f'{{"type":"send","room":"r","text":"","files":["{FILE.id}"]}}')
    assert isinstance(send, protocol.Send) and send.files == (FILE.id,) and send.text == ""
    for files in ("[]", '["x"]', f'["{FILE.id}","{FILE.id}"]', '"x"', str([FILE.id] * 11)):
        frame = f'{{"type":"send","room":"r","text":"","files":{files.replace(chr(39), chr(34))}}}'
        with pytest.raises(ProtocolError) as refused:
            protocol.parse_request(frame)
        assert refused.value.code == "bad_request", files


def test_messages_carry_their_files_between_nodes() -> None:
    message = ChatMessage("r", 7, "alice", "", 1000, files=(FILE,))
    assert message.as_json()["files"] == [FILE.as_json()]
    decoded = decode_event(encode_event(MessagesEvent("r", (message,)), "n1"))
    assert isinstance(decoded, MessagesEvent) and decoded.messages == (message,)
    changed = decode_event(encode_event(ChangedEvent("r", message), "n1"))
    assert isinstance(changed, ChangedEvent) and changed.message == message
    deleted = ChatMessage("r", 7, "alice", "", 1000, deleted_by="bob", files=(FILE,))
    assert "files" not in deleted.as_json()


async def test_files_stored_attached_deleted_and_cleaned_up(store: Store) -> None:  # noqa: F811
    await store.write(rooms_db.create_room, "Pics", "alice")
    await store.write(rooms_db.remember_room, "alice", "pics", 100)
    assert await store.read(files_db.is_member, "PICS", "Alice") == "Pics"
    assert await store.read(files_db.is_member, "pics", "bob") is None

    ids = ["a" * 22, "b" * 22, "c" * 22]
    for file_id in ids:
        await store.write(
            files_db.create_file, file_id, "pics", "alice", f"{file_id[0]}.bin", "x/y"
        )
    # Incomplete files are nobody's yet.
    assert await store.read(files_db.stored_file, ids[0]) is None
    assert await store.read(files_db.attachable, ids, "pics", "alice", None) == []
    for seq, data in enumerate((b"\x89PNG\r\n\x1a\n", b"more")):
        await store.write(files_db.add_chunk, ids[0], seq, data)
    done = await store.write(files_db.finish_file, ids[0], 12, "image/png")
    assert done is not None and done.info == FileInfo(ids[0], "a.bin", 12, "x/y")
    assert (done.room, done.inline_type, done.attached) == ("Pics", "image/png", False)
    await store.write(files_db.finish_file, ids[1], 0, None)
    assert [await store.read(files_db.chunk, ids[0], seq) for seq in range(3)] == [
        b"\x89PNG\r\n\x1a\n",
        b"more",
        None,
    ]
    infos = await store.read(files_db.attachable, ids, "pics", "alice", None)
    assert [i.id for i in infos] == ids[:2]
    assert await store.read(files_db.attachable, ids, "pics", "bob", None) == []
    assert await store.read(files_db.attachable, ids, "other", "alice", None) == []

    draft = ChatMessage("Pics", 0, "alice", "", 1000, cid="c1", files=tuple(infos))
    (saved,) = await store.write(messages_db.insert_messages, [draft])
    assert saved.message.files == tuple(infos)
    # Once taken, a file goes with no other message, but its cid finds it again.
    assert await store.read(files_db.attachable, ids[:1], "pics", "alice", None) == []
    again = await store.read(files_db.attachable, ids[:1], "pics", "alice", "c1")
    assert again == infos[:1]
    (other,) = await store.write(
        messages_db.insert_messages, [ChatMessage("Pics", 0, "alice", "x", 1, files=(infos[0],))]
    )
    assert other.message.files == ()
    (page_message, _) = await store.read(messages_db.history, "Pics", None, 10)
    assert page_message.files == tuple(infos)

    # Unattached and old enough: removed; attached ones stay.
    assert await store.write(files_db.remove_unattached, 0, 10) == 0
    assert await store.write(files_db.remove_unattached, 2**62, 10) == 1
    assert await store.read(files_db.chunk, ids[0], 0) is not None

    # A deleted message's files go with it.
    change = await store.write(
        messages_db.change_message, "Pics", saved.message.id, "alice", None, False
    )
    assert change.message is not None and change.message.files == ()
    assert await store.read(files_db.stored_file, ids[0]) is None
    assert await store.read(files_db.chunk, ids[0], 0) is None
