"""A TCP proxy on 127.0.0.1 for the client's tests, run in the test's
nursery: it can cut every link it carries, or silently swallow their
traffic (the sockets stay open, nothing gets through), as a network does."""

from __future__ import annotations

import trio


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.swallowing = False
        self.links = 0  # carried so far
        self._cuts: list[trio.CancelScope] = []

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._carry, listeners)

    def cut(self) -> None:
        """Close every link now (new ones are carried)."""
        for scope in self._cuts:
            scope.cancel()
        self._cuts = []

    async def _carry(self, client: trio.SocketStream) -> None:
        self.links += 1
        with trio.CancelScope() as scope:
            self._cuts.append(scope)
            server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
            async with client, server, trio.open_nursery() as nursery:
                nursery.start_soon(self._pipe, client, server, nursery.cancel_scope)
                nursery.start_soon(self._pipe, server, client, nursery.cancel_scope)

    async def _pipe(
        self, source: trio.SocketStream, sink: trio.SocketStream, both: trio.CancelScope
    ) -> None:
        try:
            async for data in source:
                if not self.swallowing:
                    await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        both.cancel()
