"""The reference to beat: chatroom's protocol built the simplest way.

trio-websocket's `serve_websocket`, one task per connection, and fan-out by
the sender's own task awaiting `send_message` on every member in turn. It
speaks the subset the load generators use (hello, join, send, leave;
welcome, joined, presence, message, left) and checks tokens with chatroom's signer, so both
servers do the same work per connection.

    CHATROOM_SECRET=... python bench/naive_server.py PORT
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

from chatroom.auth import InvalidToken, TokenSigner

rooms: dict[str, dict[WebSocketConnection, str]] = {}
last_ids: dict[str, int] = {}


async def broadcast(room: str, event: dict[str, Any]) -> None:
    text = json.dumps(event, separators=(",", ":"))
    for member in list(rooms.get(room, {})):
        try:
            await member.send_message(text)
        except ConnectionClosed:
            pass


async def handler(request: WebSocketRequest, signer: TokenSigner) -> None:
    ws = await request.accept()
    joined: list[str] = []
    try:
        hello = json.loads(await ws.get_message())
        try:
            user = signer.verify(hello.get("token", ""), now=time.time()).user
        except InvalidToken:
            await ws.aclose(4401)
            return
        await ws.send_message(json.dumps({"type": "welcome", "user": user}))
        while True:
            frame = json.loads(await ws.get_message())
            room = frame.get("room", "")
            if frame.get("type") == "join":
                members = rooms.setdefault(room, {})
                members[ws] = user
                joined.append(room)
                listing = [{"user": u, "since": 0} for u in members.values()]
                await ws.send_message(
                    json.dumps({"type": "joined", "room": room, "members": listing, "history": []})
                )
                await broadcast(
                    room, {"type": "presence", "room": room, "event": "join", "user": user}
                )
            elif frame.get("type") == "send" and ws in rooms.get(room, {}):
                last_ids[room] = last_ids.get(room, 0) + 1
                message = {
                    "type": "message",
                    "room": room,
                    "id": last_ids[room],
                    "user": user,
                    "text": frame["text"],
                    "ts": time.time_ns() // 1_000_000,
                }
                await broadcast(room, message)
            elif frame.get("type") == "leave" and ws in rooms.get(room, {}):
                del rooms[room][ws]
                joined.remove(room)
                await ws.send_message(json.dumps({"type": "left", "room": room}))
                await broadcast(
                    room, {"type": "presence", "room": room, "event": "leave", "user": user}
                )
    except ConnectionClosed:
        pass
    finally:
        for room in joined:
            rooms.get(room, {}).pop(ws, None)


async def main(port: int) -> None:
    signer = TokenSigner(os.environ["CHATROOM_SECRET"].encode())

    async def handle(request: WebSocketRequest) -> None:
        await handler(request, signer)

    async with trio.open_nursery() as nursery:
        await nursery.start(
            functools.partial(
                serve_websocket, handle, "127.0.0.1", port, ssl_context=None, max_message_size=65536
            )
        )
        # Only now: a client told the port before it listens would be refused.
        print(f"listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]))
