"""Protocol 1.2, webhooks: a room's hooks made, listed and removed (requests
parsed, replies encoded), and what an incoming hook is POSTed (parsed)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

from chatroom.domain.errors import ErrorCode
from chatroom.domain.hooks import MAX_TARGET_CHARS, Hook, is_valid_hook_id
from chatroom.domain.names import is_valid_user_name
from chatroom.protocol._errors import ProtocolError, Ref
from chatroom.protocol._events import _with_ref
from chatroom.protocol._fields import MAX_TEXT_CHARS, Fields, is_encodable

_HOST = re.compile(r"[A-Za-z0-9.\-:\[\]]+")  # a name or an address, nothing to escape


@attrs.frozen
class AddHook:
    """A hook of `room` whose messages come from `name`; with `target`, an
    outgoing one, which POSTs every new message of the room there."""

    room: str
    name: str
    target: str | None = None
    ref: Ref = None


@attrs.frozen
class ListHooks:
    room: str
    ref: Ref = None


@attrs.frozen
class RemoveHook:
    room: str
    id: str
    ref: Ref = None


HookRequest = AddHook | ListHooks | RemoveHook


def parse_hook_request(kind: str, fields: Fields) -> HookRequest | None:
    """The request of frame type `kind`, if it is one of these."""
    ref = fields.ref
    match kind:
        case "hook":
            room = fields.room()
            name = fields.obj.get("name")
            if not isinstance(name, str) or not is_valid_user_name(name):
                raise fields.error(
                    "a hook's name is a user name: 1 to 32 characters from A-Z a-z 0-9 _ - ."
                )
            target = None if fields.obj.get("target") is None else _target(fields)
            return AddHook(room, name, target, ref)
        case "hooks":
            return ListHooks(fields.room(), ref)
        case "unhook":
            room = fields.room()
            hook_id = fields.string("id")
            if not is_valid_hook_id(hook_id):
                raise fields.error("no such hook", ErrorCode.NOT_FOUND)
            return RemoveHook(room, hook_id, ref)
    return None


def _target(fields: Fields) -> str:
    """An http or https URL with a host and no credentials in it."""
    target = fields.string("target")
    if len(target) > MAX_TARGET_CHARS or not target.isascii() or not target.isprintable():
        raise fields.error(f"a target is a URL of at most {MAX_TARGET_CHARS} characters")
    try:
        parts = urlsplit(target)
        parts.port  # noqa: B018 (raises ValueError when out of range)
    except ValueError:
        raise fields.error("the target is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fields.error("a target is an http:// or https:// URL with a host")
    if "@" in parts.netloc or not _HOST.fullmatch(parts.netloc) or " " in target:
        raise fields.error("a target's host is a name or an address, with no credentials")
    return target


def url_parts(target: str) -> tuple[bool, str, int, str, str]:
    """Of a target as _target() accepted it: whether TLS, the host (an IPv6
    address without its brackets), the port, the Host header, and the
    request target (path and query)."""
    parts = urlsplit(target)
    tls = parts.scheme == "https"
    assert parts.hostname is not None
    port = parts.port or (443 if tls else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return tls, parts.hostname, port, parts.netloc, path


def hook_text(body: bytes, media_type: str) -> str:
    """The text an incoming hook is POSTed: `{"text":X}` as JSON, or a form
    (application/x-www-form-urlencoded) whose field `payload` holds that
    JSON, as Slack's incoming webhooks take it. ProtocolError if not."""
    bad = ProtocolError(ErrorCode.BAD_REQUEST, 'the body is {"text":...} or a form with payload')
    try:
        decoded = body.decode("utf-8")
        if media_type == "application/x-www-form-urlencoded":
            payloads = parse_qs(decoded, max_num_fields=100, errors="strict").get("payload")
            if not payloads:
                raise bad
            decoded = payloads[-1]
        obj = json.loads(decoded)
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        raise bad from None
    if not isinstance(obj, dict):
        raise bad
    text = obj.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT_CHARS:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"text is a string of 1 to {MAX_TEXT_CHARS} characters"
        )
    if not is_encodable(text):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "text must be valid Unicode")
    return text


# -- what the server sends ------------------------------------------------------


def encode_hook(hook: Hook, url: str, secret: str | None, ref: Ref = None) -> str:
    """A hook just made, with what is shown this once: its URL (and an
    outgoing hook's signing secret)."""
    made: dict[str, Any] = {"type": "hook", "room": hook.room, "id": hook.id, "name": hook.name}
    made["url"] = url
    if hook.target is not None:
        made["target"] = hook.target
    if secret is not None:
        made["secret"] = secret
    return _with_ref(made, ref)


def encode_hooks(room: str, hooks: list[Hook], ref: Ref = None) -> str:
    return _with_ref({"type": "hooks", "room": room, "hooks": [h.as_json() for h in hooks]}, ref)
