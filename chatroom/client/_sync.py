"""`connect()`: a Client for scripts that do not use Trio.

The Client and its Trio loop run in a thread of their own (a blocking
script has no event loop to lend it); each call crosses over with
trio.from_thread and blocks until it is done.
"""

from __future__ import annotations

import threading
from typing import Any

import trio

from chatroom.client._client import Client
from chatroom.client._events import Event, Message

START_TIMEOUT = 30.0


class SyncClient:
    def __init__(self, url: str, token: str, **options: Any) -> None:
        self._client = Client(url, token, **options)
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._closing: trio.Event | None = None
        self._loop: trio.lowlevel.TrioToken | None = None
        self._thread = threading.Thread(target=self._run, name="chatroom client", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise TimeoutError(f"no connection to {url} within {START_TIMEOUT:g} s")
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # (handed to the caller)
            self._failure = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._closing = trio.Event()
        self._loop = trio.lowlevel.current_trio_token()
        async with self._client:
            self._ready.set()
            await self._closing.wait()

    @property
    def user(self) -> str | None:
        return self._client.user

    def join(self, room: str, since: int | None = None) -> None:
        self._call(self._client.join, room, since)

    def send(self, room: str, text: str) -> Message:
        message: Message = self._call(self._client.send, room, text)
        return message

    def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._call(self._client.request, frame)
        return answer

    def receive(self, timeout: float | None = None) -> Event | None:
        """The next event, waiting at most `timeout` seconds (None: as long
        as it takes); None if none came."""
        event: Event | None = self._call(self._receive, timeout)
        return event

    async def _receive(self, seconds: float | None) -> Event | None:
        with trio.move_on_after(float("inf") if seconds is None else seconds):
            return await self._client.next_event()
        return None

    def close(self) -> None:
        if self._closing is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._closing.set, trio_token=self._loop)
        self._thread.join()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, function: Any, *args: Any) -> Any:
        if self._failure is not None:
            raise self._failure
        return trio.from_thread.run(function, *args, trio_token=self._loop)


def connect(url: str, token: str, **options: Any) -> SyncClient:
    """A connected client, for scripts without Trio (close() it when done)."""
    return SyncClient(url, token, **options)
