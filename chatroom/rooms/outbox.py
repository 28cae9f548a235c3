"""What one batch of a room's work sends, and to whom (no I/O).

Most of a batch is broadcast: every member gets the same bytes, joined once.
A few members see it differently: a sender's own copy carries its `ref`, a
member that joined mid-batch sees only what followed its join, and replies
(`joined`, `members`, errors) go to one member at their place in the order.
Those members get a view rendered for them; everyone else shares one buffer,
so a batch costs one write per member whatever happened in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import attrs

K = TypeVar("K")


@attrs.define
class _View:
    start: int = 0
    replaced: dict[int, bytes] = attrs.field(factory=dict)
    # frames for this member alone, to go just before shared frame i
    inserted: dict[int, list[bytes]] = attrs.field(factory=dict)


class Outbox(Generic[K]):
    def __init__(self) -> None:
        self._frames: list[bytes] = []
        self._size = 0
        self._views: dict[K, _View] = {}

    @property
    def size(self) -> int:
        """Bytes broadcast so far in this batch."""
        return self._size

    def __bool__(self) -> bool:
        return bool(self._frames or self._views)

    def broadcast(self, frame: bytes) -> None:
        self._frames.append(frame)
        self._size += len(frame)

    def replace_last(self, member: K, frame: bytes) -> None:
        """`member` gets `frame` instead of the last broadcast frame."""
        self._view(member).replaced[len(self._frames) - 1] = frame

    def send_to(self, member: K, frame: bytes) -> None:
        """`member` alone gets `frame`, after everything broadcast so far."""
        self._view(member).inserted.setdefault(len(self._frames), []).append(frame)

    def start_here(self, member: K) -> None:
        """`member` gets nothing broadcast before this point."""
        self._views[member] = _View(start=len(self._frames))

    def take(self, member: K) -> bytes:
        """Everything `member` is owed so far; it gets nothing more of this batch."""
        view = self._views.pop(member, None) or _View()
        return self._render(view, len(self._frames))

    def forget(self, member: K) -> None:
        self._views.pop(member, None)

    def deliver(self, members: dict[K, Callable[[bytes], bool]]) -> list[K]:
        """Hand each member its bytes and start a new batch; return who refused."""
        frames, views = self._frames, self._views
        end = len(frames)
        self._frames, self._size, self._views = [], 0, {}
        shared = frames[0] if end == 1 else b"".join(frames)
        if not views:
            if not shared:
                return []
            return [member for member, deliver in members.items() if not deliver(shared)]
        refused = []
        for member, deliver in members.items():
            view = views.get(member)
            data = shared if view is None else self._render(view, end, frames)
            if data and not deliver(data):
                refused.append(member)
        return refused

    def _render(self, view: _View, end: int, frames: list[bytes] | None = None) -> bytes:
        frames = self._frames if frames is None else frames
        parts: list[bytes] = []
        for i in range(view.start, end):
            parts.extend(view.inserted.get(i, ()))
            parts.append(view.replaced.get(i, frames[i]))
        parts.extend(view.inserted.get(end, ()))
        return b"".join(parts)

    def _view(self, member: K) -> _View:
        view = self._views.get(member)
        if view is None:
            view = self._views[member] = _View()
        return view
