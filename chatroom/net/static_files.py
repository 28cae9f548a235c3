"""The browser client's files, read once from the package and served with
their types, an ETag (revalidated, so a new version shows at once), and a
Content-Security-Policy that allows scripts and styles only from here."""

from __future__ import annotations

import hashlib
from importlib import resources

import attrs

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)


@attrs.frozen
class StaticFile:
    body: bytes
    content_type: str
    etag: str


def load_static_files() -> dict[str, StaticFile]:
    """Every file of chatroom/static, by name."""
    files = {}
    for entry in resources.files("chatroom").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in CONTENT_TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            files[entry.name] = StaticFile(body, CONTENT_TYPES[suffix], etag)
    return files
