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

# The first bytes of each image type served inline.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
SNIFF_BYTES = 12  # enough of the start of a file to recognise each of them

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


def content_disposition(name: str, *, inline: bool) -> str:
    """`inline` or `attachment`, with the file's name as RFC 6266 says: an
    ASCII stand-in as `filename`, the name itself as `filename*` (UTF-8,
    percent-encoded), so no character of it can end the header's value."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    encoded = quote(name, safe="")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
