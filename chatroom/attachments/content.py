"""How a file is served (sans-IO): images by their content, everything else
as an attachment, whatever name or type it was uploaded with.

A browser given a file inline renders what it thinks the bytes are: an HTML
or SVG file served inline from this origin could run script with the
page's rights. So only PNG, JPEG, GIF and WebP, recognised by their first
bytes, are ever inline (as the image type they are); everything else is
application/octet-stream with Content-Disposition: attachment, and
`nosniff` keeps browsers from second-guessing either.
"""

from __future__ import annotations

from urllib.parse import quote

from chatroom.domain.files import MAX_IMAGE_SIDE

# The first bytes of each image type served inline.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
SNIFF_BYTES = 12  # enough of the start of a file to recognise each of them
HEADER_BYTES = 64 * 1024  # where an image's size is looked for (a JPEG's may follow metadata)

ATTACHMENT_TYPE = "application/octet-stream"
# On every file served: no sniffing, no script or plug-in even if a browser
# were to render it, private to the one who asked.
FILE_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; sandbox"),
    ("Cache-Control", "private, max-age=3600"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Referrer-Policy", "no-referrer"),
)


def image_type(head: bytes) -> str | None:
    """The image type (PNG, JPEG, GIF, WebP) of a file starting with `head`;
    None for anything else."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) of the PNG, GIF, WebP or JPEG image starting with
    `head` (its first chunk), if its header says so within it."""
    kind = image_type(head)
    if kind == "image/png" and head[12:16] == b"IHDR":
        return _sides(int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"))
    if kind == "image/gif" and len(head) >= 10:
        return _sides(int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little"))
    if kind == "image/webp":
        return _webp_size(head)
    if kind == "image/jpeg":
        return _jpeg_size(head)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a" and len(head) >= 30:
        return _sides(
            int.from_bytes(head[26:28], "little") & 0x3FFF,
            int.from_bytes(head[28:30], "little") & 0x3FFF,
        )
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return _sides((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(head) >= 30:
        return _sides(
            int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
        )
    return None


# JPEG markers that start a frame and carry its size (SOF0-15 but DHT, JPG, DAC).
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker == 0xFF:  # (fill bytes)
            at += 1
            continue
        if marker in _JPEG_FRAMES:
            height = int.from_bytes(head[at + 5 : at + 7], "big")
            width = int.from_bytes(head[at + 7 : at + 9], "big")
            return _sides(width, height)
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # (no length)
            at += 2
            continue
        at += 2 + int.from_bytes(head[at + 2 : at + 4], "big")
    return None


def _sides(width: int, height: int) -> tuple[int, int] | None:
    return (width, height) if 0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE else None


def content_disposition(name: str, *, inline: bool) -> str:
    """`inline` or `attachment`, with the file's name as RFC 6266 says: an
    ASCII stand-in as `filename`, the name itself as `filename*` (UTF-8,
    percent-encoded), so no character of it can end the header's value."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    encoded = quote(name, safe="")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
